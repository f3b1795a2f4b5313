//! Finding and reading the shard artifacts (the I/O edge of the report stage).
//!
//! Inputs are files, folders or globs. In a folder we take every `*.xml` as JUnit and every
//! `shard-<I>-of-<N>.json` as a manifest. A manifest brings its JUnit file along (`junit_file`,
//! relative to the manifest), and a `junit-<I>-of-<N>.xml` brings its sibling manifest, so
//! pointing at either finds the pair. Nothing here decides what is red: problems are data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::ci::Shard;
use crate::junit::reader::{Limits, read_path};
use crate::pytest::manifest::Manifest;

use super::model::{Inputs, LoadedFile, LoadedManifest, Problem, ProblemKind};

/// How deep folders are searched.
const MAX_DEPTH: usize = 6;

/// A manifest is a few KB; anything this large is not one of ours and is not parsed.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

#[derive(Debug, Default)]
struct Found {
    junit: BTreeSet<PathBuf>,
    manifests: BTreeSet<PathBuf>,
    problems: Vec<Problem>,
    /// The shard of a JUnit file, from the manifest that names it.
    shard_of: BTreeMap<PathBuf, Shard>,
    /// Shards without JUnit, rebuilt from their results logs.
    rebuilt: Vec<LoadedFile>,
}

/// `junit-2-of-3.xml` → 2/3.
fn shard_from_name(name: &str, prefix: &str, ext: &str) -> Option<Shard> {
    let stem = name.strip_prefix(prefix)?.strip_suffix(ext)?;
    let (i, n) = stem.split_once("-of-")?;
    Shard::new(i.parse().ok()?, n.parse().ok()?).ok()
}

fn is_manifest_name(name: &str) -> bool {
    shard_from_name(name, "shard-", ".json").is_some()
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn norm(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn classify(found: &mut Found, path: &Path, explicit: bool) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_manifest_name(name) || (explicit && name.ends_with(".json")) {
        found.manifests.insert(norm(path));
    } else if explicit || name.ends_with(".xml") {
        found.junit.insert(norm(path));
    }
}

fn walk(found: &mut Found, dir: &Path, filter: Option<&globset::GlobMatcher>, base: &Path) {
    for entry in walkdir::WalkDir::new(dir)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
    {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        if let Some(glob) = filter {
            let rel = path.strip_prefix(base).unwrap_or(path);
            if !glob.is_match(rel) && !glob.is_match(path) {
                continue;
            }
            classify(found, path, true);
        } else {
            classify(found, path, false);
        }
    }
}

/// Finds, reads and pairs every input. `exclude` holds our own outputs (the merged JUnit).
pub fn load(
    inputs: &[String],
    base: &Path,
    expect_shards: Option<u32>,
    limits: &Limits,
    exclude: &[PathBuf],
) -> Inputs {
    let mut found = Found::default();
    for input in inputs {
        find(&mut found, input, base);
    }
    let exclude: BTreeSet<PathBuf> = exclude.iter().map(|p| norm(p)).collect();
    found.junit.retain(|p| !exclude.contains(p));
    add_sibling_manifests(&mut found);
    let mut manifests = read_manifests(&mut found, &exclude);
    let junit: Vec<PathBuf> = std::mem::take(&mut found.junit).into_iter().collect();
    let results = read_all(&junit, limits);
    let twins = super::model::twins_of(&manifests);
    let files: Vec<LoadedFile> = junit
        .iter()
        .zip(results)
        .map(|(path, result)| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            LoadedFile::with_twins(
                display(path, base),
                found
                    .shard_of
                    .get(path)
                    .copied()
                    .or_else(|| shard_from_name(name, "junit-", ".xml")),
                result,
                &twins,
            )
        })
        .collect();
    for m in &mut manifests {
        m.path = display(Path::new(&m.path), base);
    }
    found.problems.extend(collisions(&manifests, &files));
    found.problems.extend(oversized_ids(&files, limits));
    let files = files
        .into_iter()
        .chain(found.rebuilt.drain(..).map(|mut f| {
            f.path = display(Path::new(&f.path), base);
            f
        }))
        .collect();
    Inputs {
        files,
        manifests,
        unusable: found.problems,
        expect_shards,
        only_shard: None,
    }
}

/// Adds what one input (a folder, file or glob, relative to `base`) names, or says why nothing.
fn find(found: &mut Found, input: &str, base: &Path) {
    let path = base.join(input);
    let before = found.junit.len() + found.manifests.len();
    let nothing = if path.is_dir() {
        walk(found, &path, None, base);
        format!("folder `{input}` holds no JUnit (`*.xml`) or manifest (`shard-I-of-N.json`) files")
    } else if path.is_file() {
        classify(found, &path, true);
        return;
    } else if has_glob(input) {
        let matcher = match globset::Glob::new(input) {
            Ok(g) => g.compile_matcher(),
            Err(err) => {
                found.problems.push(Problem::new(
                    ProblemKind::Unreadable,
                    format!("`{input}` is not a valid glob: {err}"),
                ));
                return;
            }
        };
        // Walk from the glob's literal prefix.
        let literal: PathBuf = Path::new(input)
            .components()
            .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
            .collect();
        walk(found, &base.join(&literal), Some(&matcher), base);
        format!("no file matches `{input}`")
    } else {
        found.problems.push(
            Problem::new(ProblemKind::Unreadable, format!("`{input}` does not exist")).at(input),
        );
        return;
    };
    if found.junit.len() + found.manifests.len() == before {
        found
            .problems
            .push(Problem::new(ProblemKind::Unreadable, nothing));
    }
}

/// Sibling manifests of `junit-I-of-N.xml`.
fn add_sibling_manifests(found: &mut Found) {
    for junit in &found.junit {
        let name = junit.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(shard) = shard_from_name(name, "junit-", ".xml") {
            let sibling = junit.with_file_name(format!("shard-{}.json", shard.file_stem()));
            if sibling.is_file() {
                found.manifests.insert(norm(&sibling));
            }
        }
    }
}

/// Parses every manifest; the JUnit file each names joins the inputs with the manifest's shard.
fn read_manifests(found: &mut Found, exclude: &BTreeSet<PathBuf>) -> Vec<LoadedManifest> {
    let mut manifests = Vec::new();
    for path in std::mem::take(&mut found.manifests) {
        let shown = path.display().to_string();
        let manifest = match parse_manifest(&path) {
            Ok(manifest) => manifest,
            Err(message) => {
                found
                    .problems
                    .push(Problem::new(ProblemKind::Unreadable, message).at(shown));
                continue;
            }
        };
        let junit = match junit_of(&path, &manifest.junit_file) {
            Ok(junit) => junit,
            Err(message) => {
                found
                    .problems
                    .push(Problem::new(ProblemKind::Unreadable, message).at(shown.clone()));
                None
            }
        };
        let junit_found = junit
            .as_ref()
            .is_some_and(|j| j.is_file() && !exclude.contains(j));
        if let (Some(junit), true) = (junit, junit_found) {
            found.junit.insert(junit.clone());
            if let Ok(shard) = Shard::new(manifest.shard_index.into(), manifest.shard_total.into())
            {
                found.shard_of.insert(junit, shard);
            }
        }
        // No JUnit from the parallel phase, or the serial phase died before writing its own
        // (the parallel phase's file is there, without the serial tests): the results log.
        let serial_lost = manifest
            .serial
            .as_ref()
            .is_some_and(|s| s.started && s.junit_missing);
        let rebuild = if !junit_found && manifest.pytest_started {
            Some(false)
        } else if junit_found && serial_lost {
            Some(true)
        } else {
            None
        };
        let rebuilt = rebuild.and_then(|serial| {
            super::rebuild::from_log(&path, &manifest, serial).map(|(file, rebuilt)| {
                found.rebuilt.push(file);
                rebuilt
            })
        });
        manifests.push(LoadedManifest {
            path: shown,
            manifest,
            junit_found,
            rebuilt,
        });
    }
    manifests
}

/// Reads one manifest, refusing files too large to be one.
fn parse_manifest(path: &Path) -> Result<Manifest, String> {
    let shown = path.display();
    let size = fs_err::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_MANIFEST_BYTES {
        return Err(format!(
            "`{shown}` is {size} bytes, more than a shard manifest can be ({MAX_MANIFEST_BYTES}); it was not read"
        ));
    }
    let text = fs_err::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str::<Manifest>(&text)
        .map_err(|e| format!("`{shown}` is not a shard manifest: {e}"))
}

/// The JUnit file a manifest names, confined to the manifest's folder: a manifest comes from an
/// artifact anyone with a shard job could write, so `..`, absolute paths and symlinks out of
/// the folder are refused. `Ok(None)`: no file name at all.
fn junit_of(manifest: &Path, junit_file: &str) -> Result<Option<PathBuf>, String> {
    use std::path::Component;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let named = Path::new(junit_file);
    let plain = named
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if junit_file.trim().is_empty() {
        return Ok(None);
    }
    let refused = || {
        format!(
            "`{}` names the JUnit file `{junit_file}` outside its own folder; only files beside \
             the manifest are read",
            manifest.display()
        )
    };
    if !plain || junit_file.contains('\\') {
        return Err(refused());
    }
    let junit = norm(&dir.join(named));
    if junit.exists() && !junit.starts_with(norm(dir)) {
        return Err(refused());
    }
    Ok(Some(junit))
}

/// Testcases whose identifying attributes were too long to keep (a name of megabytes): they
/// count under a stand-in name, which the timings never store.
fn oversized_ids(files: &[LoadedFile], limits: &Limits) -> Vec<Problem> {
    files
        .iter()
        .filter_map(|f| {
            let n = f.result.as_ref().ok()?.oversized_ids;
            (n > 0).then(|| {
                Problem::new(
                    ProblemKind::Truncated,
                    format!(
                        "`{}`: {} a `name`, `classname` or `file` over {} bytes; counted under \
                         a shortened name, which is not stored in the timings",
                        f.path,
                        crate::text::count(n.into(), "testcase has", "testcases have"),
                        limits.max_id_bytes
                    ),
                )
                .at(f.path.clone())
            })
        })
        .collect()
}

/// Two manifests or two JUnit files for the same shard: one artifact shadowed or overwrote
/// another (two matrix jobs sharing an artifact name, a reused out-dir). Both are named.
fn collisions(manifests: &[LoadedManifest], junit: &[LoadedFile]) -> Vec<Problem> {
    let mut claims: BTreeMap<(&str, Shard), Vec<&str>> = BTreeMap::new();
    for m in manifests {
        if let Ok(shard) = Shard::new(m.manifest.shard_index.into(), m.manifest.shard_total.into())
        {
            claims
                .entry(("manifests", shard))
                .or_default()
                .push(&m.path);
        }
    }
    for file in junit {
        if let Some(shard) = file.shard {
            claims
                .entry(("JUnit files", shard))
                .or_default()
                .push(&file.path);
        }
    }
    claims
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|((what, shard), paths)| {
            let names: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
            Problem::new(
                ProblemKind::Collision,
                format!(
                    "{} {what} claim shard {shard}: {}; one artifact shadows another (do two \
                     jobs share an artifact name or an output folder?)",
                    paths.len(),
                    names.join(", ")
                ),
            )
        })
        .collect()
}

/// A path as the user would write it: relative to `base` when inside it.
fn display(path: &Path, base: &Path) -> String {
    let base = norm(base);
    path.strip_prefix(&base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// Parses every file, spread over the available CPUs (the files are independent).
fn read_all(paths: &[PathBuf], limits: &Limits) -> Vec<Result<crate::junit::FileReport, String>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                let handle = scope.spawn(move || {
                    part.iter()
                        .map(|p| read_path(p, limits).map_err(|e| e.to_string()))
                        .collect::<Vec<_>>()
                });
                (part.len(), handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..len)
                        .map(|_| Err("the JUnit reader panicked".to_owned()))
                        .collect()
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert_eq!(
            shard_from_name("junit-2-of-3.xml", "junit-", ".xml"),
            Shard::new(2, 3).ok()
        );
        assert_eq!(shard_from_name("junit-4-of-3.xml", "junit-", ".xml"), None);
        assert!(is_manifest_name("shard-1-of-1.json"));
        assert!(!is_manifest_name("timings.json"));
    }

    const JUNIT: &str = r#"<testsuites><testsuite name="pytest" tests="1"><testcase classname="tests.test_a" name="test_ok" time="0.1"/></testsuite></testsuites>"#;

    fn write_manifest(dir: &Path, index: u32, total: u32, junit_file: &str) {
        let json = serde_json::json!({
            "manifest_version": 2, "tool_version": "0", "fingerprint": "fp",
            "shard_index": index, "shard_total": total,
            "selection": {"files": [], "node_ids": [], "deselect": []},
            "predicted_seconds": 1.0, "wall_seconds": 3.0, "workers": 2,
            "exit_code": 0, "signal": null, "pytest_started": true,
            "junit_file": junit_file,
            "python": {"executable": "python3", "version": "3.12", "pytest": "8"},
        });
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join(format!("shard-{index}-of-{total}.json")),
            json.to_string(),
        )
        .unwrap();
    }

    fn load_dir(dir: &Path, input: &str) -> Inputs {
        load(&[input.to_owned()], dir, None, &Limits::default(), &[])
    }

    #[test]
    fn a_manifest_reads_only_junit_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let secret = root.path().join("secret.xml");
        std::fs::write(&secret, JUNIT).unwrap();
        let artifacts = root.path().join("artifacts");
        write_manifest(&artifacts, 1, 3, "../secret.xml");
        write_manifest(&artifacts, 2, 3, &secret.display().to_string());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, artifacts.join("link.xml")).unwrap();
            write_manifest(&artifacts, 3, 3, "link.xml");
        }
        // Only the manifests as inputs: nothing else may pull the secret in.
        let loaded = load_dir(root.path(), "artifacts/shard-*.json");
        assert!(loaded.files.is_empty(), "{:?}", loaded.files);
        let refused: Vec<&Problem> = loaded
            .unusable
            .iter()
            .filter(|p| p.message.contains("outside its own folder"))
            .collect();
        let expected = if cfg!(unix) { 3 } else { 2 };
        assert_eq!(refused.len(), expected, "{:?}", loaded.unusable);
        assert!(loaded.manifests.iter().all(|m| !m.junit_found));
    }

    #[test]
    fn oversized_manifests_are_not_parsed() {
        let root = tempfile::tempdir().unwrap();
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 << 20));
        std::fs::write(root.path().join("shard-1-of-1.json"), big).unwrap();
        let loaded = load_dir(root.path(), ".");
        assert!(loaded.manifests.is_empty());
        assert!(
            loaded.unusable[0]
                .message
                .contains("more than a shard manifest can be"),
            "{:?}",
            loaded.unusable
        );
    }

    #[test]
    fn two_artifacts_claiming_one_shard_are_a_collision() {
        let root = tempfile::tempdir().unwrap();
        for job in ["tests-a", "tests-b"] {
            let dir = root.path().join(job);
            write_manifest(&dir, 1, 2, "junit-1-of-2.xml");
            std::fs::write(dir.join("junit-1-of-2.xml"), JUNIT).unwrap();
        }
        let loaded = load_dir(root.path(), ".");
        let kinds: Vec<(ProblemKind, &str)> = loaded
            .unusable
            .iter()
            .map(|p| (p.kind, p.message.as_str()))
            .collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(kinds.iter().all(|(k, _)| *k == ProblemKind::Collision));
        assert!(
            kinds[0].1.contains("2 JUnit files claim shard 1/2"),
            "{kinds:?}"
        );
        assert!(kinds[0].1.contains("tests-a/junit-1-of-2.xml"), "{kinds:?}");
        assert!(
            kinds[1].1.contains("2 manifests claim shard 1/2"),
            "{kinds:?}"
        );

        // One artifact per shard: no problem.
        std::fs::remove_dir_all(root.path().join("tests-b")).unwrap();
        assert!(load_dir(root.path(), ".").unusable.is_empty());
    }
}
