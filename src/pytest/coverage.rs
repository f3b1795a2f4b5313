//! Coverage data of a shard: `run` points coverage.py's `COVERAGE_FILE` at a shard-unique,
//! non-hidden name in the out dir (`coverage-2-of-3.dat`; the serial phase
//! `coverage-2-of-3.serial.dat`), so pytest-cov's end-of-session combine of the xdist workers'
//! files, and coverage's parallel mode (`coverage-2-of-3.dat.<host>.<pid>.<random>`), all land
//! beside the manifest, which lists them for `report`. A hidden `.coverage` would be skipped by
//! artifact uploads; a shared name would be overwritten by the next shard on the same machine.

use std::path::{Path, PathBuf};

use super::manifest::CoverageFiles;
use super::shard_run::RunError;
use crate::env_vars::ci::{COVERAGE_FILE, COVERAGE_PROCESS_START};

/// The prefix of every coverage file of shard `stem` (`2-of-3`).
fn prefix(stem: &str) -> String {
    format!("coverage-{stem}.")
}

/// The data file of one phase.
pub fn data_file_name(stem: &str, serial: bool) -> String {
    if serial {
        format!("coverage-{stem}.serial.dat")
    } else {
        format!("coverage-{stem}.dat")
    }
}

/// `COVERAGE_FILE=<absolute out dir>/coverage-I-of-N.dat` for one phase's pytest (absolute:
/// pytest runs in the rootdir, not here).
pub fn data_file_env(out_dir: &Path, stem: &str, serial: bool) -> (String, String) {
    let path = std::path::absolute(out_dir.join(data_file_name(stem, serial)))
        .unwrap_or_else(|_| out_dir.join(data_file_name(stem, serial)));
    (
        COVERAGE_FILE.to_owned(),
        path.to_string_lossy().into_owned(),
    )
}

/// Coverage files of this shard left by an earlier run must never pass for this run's.
pub fn remove_stale(out_dir: &Path, stem: &str) -> Result<(), RunError> {
    for path in files(out_dir, stem) {
        fs_err::remove_file(&path).map_err(|source| RunError::Output { path, source })?;
    }
    Ok(())
}

/// This shard's coverage files in the out dir, sorted.
fn files(out_dir: &Path, stem: &str) -> Vec<PathBuf> {
    let prefix = prefix(stem);
    let Ok(dir) = std::fs::read_dir(out_dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.contains(".dat"))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// What the manifest records: the files written, and whether coverage was asked for; `None`
/// when neither (the manifest then says nothing about coverage).
pub fn kept(out_dir: &Path, stem: &str, requested: bool, root: &Path) -> Option<CoverageFiles> {
    let names: Vec<String> = files(out_dir, stem)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    (requested || !names.is_empty()).then(|| CoverageFiles {
        requested,
        files: names,
        root: Some(
            std::path::absolute(root)
                .unwrap_or_else(|_| root.to_path_buf())
                .display()
                .to_string(),
        ),
    })
}

/// Whether this shard's pytest was asked to measure coverage: pytest-cov's `--cov` in the
/// arguments or `PYTEST_ADDOPTS` (and no `--no-cov` after it), or `COVERAGE_PROCESS_START`.
/// A `--cov` in the config's `addopts` is not seen here; the report still names a shard without
/// data when the other shards have some.
pub fn requested(user_args: &[String]) -> bool {
    let env_on = std::env::var_os(COVERAGE_PROCESS_START).is_some_and(|v| !v.is_empty());
    let addopts = std::env::var(crate::env_vars::ci::PYTEST_ADDOPTS).unwrap_or_default();
    let mut words: Vec<String> = shlex::split(&addopts).unwrap_or_default();
    words.extend(user_args.iter().cloned());
    env_on || asks_for_cov(&words)
}

fn asks_for_cov(words: &[String]) -> bool {
    let mut on = false;
    for w in words {
        if w == "--cov" || w.starts_with("--cov=") {
            on = true;
        } else if w == "--no-cov" {
            on = false;
        }
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cov_flags_are_read_in_order() {
        let w = |s: &[&str]| asks_for_cov(&s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>());
        assert!(w(&["--cov=pkg", "-q"]));
        assert!(w(&["--cov"]));
        assert!(!w(&["--cov=pkg", "--no-cov"]));
        assert!(!w(&["--cov-report=xml", "-x"]));
    }

    #[test]
    fn only_this_shards_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "coverage-1-of-2.dat",
            "coverage-1-of-2.dat.host.12.x",
            "coverage-1-of-2.serial.dat",
            "coverage-11-of-20.dat",
            "junit-1-of-2.xml",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let kept = kept(dir.path(), "1-of-2", false, dir.path()).unwrap();
        assert_eq!(
            kept.files,
            [
                "coverage-1-of-2.dat",
                "coverage-1-of-2.dat.host.12.x",
                "coverage-1-of-2.serial.dat"
            ]
        );
        assert!(!kept.requested);
        remove_stale(dir.path(), "1-of-2").unwrap();
        assert!(super::kept(dir.path(), "1-of-2", false, dir.path()).is_none());
        assert!(dir.path().join("coverage-11-of-20.dat").exists());
    }
}
