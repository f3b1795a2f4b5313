//! Coverage across shards: each shard's manifest names the coverage data files its pytest wrote
//! beside it (`coverage-I-of-N.dat`, never a hidden `.coverage`, so artifact uploads keep them);
//! the report job combines them with the project's own coverage.py (`coverage combine`, which
//! reads the project's `[paths]`), reads the total and per-file figures back from `coverage
//! json`, and writes Cobertura XML for GitLab (`coverage xml`).
//!
//! Finding the files and deciding what is missing is pure over the manifests ([`expected`]);
//! [`locate`] and [`combine`] are the I/O edges. Without any coverage data nothing here says
//! anything.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{LoadedManifest, Problem, ProblemKind};

/// Files listed in the summaries (lowest coverage first).
pub const LOWEST_SHOWN: usize = 10;
/// Files kept in the report at most (the JSON lists them all up to this many).
const MAX_FILES: usize = 10_000;
/// A data file larger than this is not combined (a shard's SQLite file is a few MB).
const MAX_DATA_BYTES: u64 = 512 << 20;

/// The combined figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    /// Percent of statements (and branches, with branch coverage) covered, as coverage.py's
    /// `totals.percent_covered`.
    pub percent: f64,
    pub covered_lines: u64,
    pub num_statements: u64,
    pub missing_lines: u64,
    /// Per file, lowest coverage first (then by path).
    pub files: Vec<FileCoverage>,
    /// Shards whose data was combined.
    pub shards: Vec<u32>,
    /// How many data files were combined.
    pub data_files: usize,
    /// Where the Cobertura XML went, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cobertura: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileCoverage {
    pub path: String,
    pub percent: f64,
    pub num_statements: u64,
    pub missing_lines: u64,
}

impl CoverageReport {
    /// The files with the lowest coverage, at most `n`.
    pub fn lowest(&self, n: usize) -> &[FileCoverage] {
        &self.files[..self.files.len().min(n)]
    }

    /// The line GitLab's `coverage:` regex reads (`/^coverage: \d+(?:\.\d+)?%/`).
    pub fn total_line(&self) -> String {
        format!(
            "coverage: {:.2}% of {} statements ({} combined from {})",
            self.percent,
            self.num_statements,
            crate::text::count(self.data_files as u64, "data file", "data files"),
            crate::text::count(self.shards.len() as u64, "shard", "shards"),
        )
    }
}

/// One shard's data file, found beside its manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    pub shard: u32,
    pub path: PathBuf,
    /// The folder the shard's pytest started in, as its manifest recorded it: an alias of this
    /// project folder when the shards ran at other paths.
    pub root: Option<String>,
}

/// The data files the manifests name, and the problems: a shard whose manifest says coverage
/// was on but names no file; a shard without data while others have some; a named file that is
/// not there. `exists` is the file check (the I/O, injected for tests).
pub fn expected(
    manifests: &[LoadedManifest],
    base: &Path,
    exists: &dyn Fn(&Path) -> bool,
) -> (Vec<DataFile>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let any_data = manifests.iter().any(|m| {
        m.manifest
            .coverage
            .as_ref()
            .is_some_and(|c| !c.files.is_empty())
    });
    for m in manifests {
        let shard = format!("{}/{}", m.manifest.shard_index, m.manifest.shard_total);
        let cov = m.manifest.coverage.clone().unwrap_or_default();
        let ran = m.manifest.pytest_started;
        if cov.files.is_empty() {
            if ran && cov.requested {
                problems.push(
                    Problem::new(
                        ProblemKind::MissingCoverage,
                        format!(
                            "shard {shard} ran with coverage on but wrote no coverage data: its \
                             total would be missing from the combined coverage"
                        ),
                    )
                    .at(m.path.clone()),
                );
            } else if ran && any_data {
                problems.push(
                    Problem::new(
                        ProblemKind::MissingCoverage,
                        format!(
                            "shard {shard} has no coverage data while other shards have some: \
                             the combined coverage would be too low (did its job run pytest \
                             with `--cov`?)"
                        ),
                    )
                    .at(m.path.clone()),
                );
            }
            continue;
        }
        let dir = base
            .join(&m.path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for name in &cov.files {
            let plain = Path::new(name)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
                && !name.contains(['/', '\\'])
                && name.starts_with("coverage-");
            let path = dir.join(name);
            if !plain {
                problems.push(
                    Problem::new(
                        ProblemKind::MissingCoverage,
                        format!(
                            "shard {shard}'s manifest names the coverage file `{name}`, which is \
                             not a `coverage-…` file beside it; it was not read"
                        ),
                    )
                    .at(m.path.clone()),
                );
            } else if exists(&path) {
                files.push(DataFile {
                    shard: m.manifest.shard_index,
                    path,
                    root: cov.root.clone(),
                });
            } else {
                problems.push(
                    Problem::new(
                        ProblemKind::MissingCoverage,
                        format!(
                            "shard {shard}'s coverage data `{name}` is not among the inputs (was \
                             it left out of the shard's artifact?)"
                        ),
                    )
                    .at(m.path.clone()),
                );
            }
        }
    }
    (files, problems)
}

/// A regular file (not a symlink out of the artifact), of a plausible size.
pub fn is_data_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_DATA_BYTES)
}

/// What `coverage json` writes, the parts we read.
#[derive(Deserialize)]
struct JsonDoc {
    totals: JsonTotals,
    #[serde(default)]
    files: std::collections::BTreeMap<String, JsonFile>,
}

#[derive(Deserialize)]
struct JsonTotals {
    percent_covered: f64,
    #[serde(default)]
    covered_lines: u64,
    #[serde(default)]
    num_statements: u64,
    #[serde(default)]
    missing_lines: u64,
}

#[derive(Deserialize)]
struct JsonFile {
    summary: JsonTotals,
}

/// Reads `coverage json`'s document into the report (pure).
pub fn parse_json(text: &str, data: &[DataFile]) -> Result<CoverageReport, String> {
    let doc: JsonDoc = serde_json::from_str(text)
        .map_err(|e| format!("unexpected `coverage json` output: {e}"))?;
    let mut files: Vec<FileCoverage> = doc
        .files
        .into_iter()
        .take(MAX_FILES)
        .map(|(path, f)| FileCoverage {
            path,
            percent: f.summary.percent_covered,
            num_statements: f.summary.num_statements,
            missing_lines: f.summary.missing_lines,
        })
        .collect();
    files.sort_by(|a, b| a.percent.total_cmp(&b.percent).then(a.path.cmp(&b.path)));
    let mut shards: Vec<u32> = data.iter().map(|d| d.shard).collect();
    shards.sort_unstable();
    shards.dedup();
    Ok(CoverageReport {
        percent: doc.totals.percent_covered,
        covered_lines: doc.totals.covered_lines,
        num_statements: doc.totals.num_statements,
        missing_lines: doc.totals.missing_lines,
        files,
        shards,
        data_files: data.len(),
        cobertura: None,
    })
}

/// Combines `data` with `python -m coverage` run in `root` (so the project's coverage config,
/// `[paths]` included, applies), in a private scratch folder; writes Cobertura XML to
/// `cobertura` when given. `Err` says why in one line (no `coverage` in that Python, a failed
/// command with its output).
pub fn combine(
    python: &Path,
    root: &Path,
    data: &[DataFile],
    cobertura: Option<&Path>,
) -> Result<CoverageReport, String> {
    let scratch = scratch_dir()?;
    let result = combine_in(python, root, data, cobertura, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Combines with coverage.py's API rather than its command line: the project's own config
/// (`[paths]` included) is read as `coverage combine` would read it, and each shard's project
/// folder is added as one more alias of this one, so shards checked out at different paths
/// (GitLab's `/builds/<runner>/<n>/…`) still add up to one file each.
const COMBINE_PY: &str = r#"
import json, sys
import coverage
a = json.loads(sys.argv[1])
cov = coverage.Coverage(data_file=a["data_file"])
others = [r for r in a["roots"] if r != a["root"]]
if others:
    cov.config.paths["parallel-pytest shards"] = [a["root"]] + others
cov.combine(a["inputs"], keep=True)
cov.save()
cov.json_report(outfile=a["json"], ignore_errors=True)
if a["xml"]:
    cov.xml_report(outfile=a["xml"], ignore_errors=True)
"#;

fn combine_in(
    python: &Path,
    root: &Path,
    data: &[DataFile],
    cobertura: Option<&Path>,
    scratch: &Path,
) -> Result<CoverageReport, String> {
    let shown = python.display();
    let has_coverage = std::process::Command::new(python)
        .args(["-c", "import coverage"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("failed to start `{shown}`: {e}"))?;
    if !has_coverage.status.success() {
        return Err(format!(
            "`{shown}` has no `coverage` package, so the shards' coverage data was not combined \
             (install it: `{shown} -m pip install coverage`)"
        ));
    }
    // Copies under unique names: `combine` reads them by name, and a copy is all it may delete.
    let mut copies = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let copy = scratch.join(format!("in-{i}.dat"));
        std::fs::copy(&d.path, &copy)
            .map_err(|e| format!("failed to copy `{}`: {e}", d.path.display()))?;
        copies.push(copy.display().to_string());
    }
    let json = scratch.join("coverage.json");
    if let Some(dir) = cobertura
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        fs_err::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut roots: Vec<String> = data
        .iter()
        .filter_map(|d| d.root.as_deref().map(with_slash))
        .collect();
    roots.sort();
    roots.dedup();
    let args = serde_json::json!({
        "data_file": scratch.join("combined.dat").display().to_string(),
        "inputs": copies,
        "root": with_slash(&absolute(root).display().to_string()),
        "roots": roots,
        "json": json.display().to_string(),
        "xml": cobertura.map(|x| absolute(x).display().to_string()),
    });
    let out = std::process::Command::new(python)
        .args(["-c", COMBINE_PY, &args.to_string()])
        .current_dir(root)
        // The report job's own environment must not redirect the combined file.
        .env_remove(crate::env_vars::ci::COVERAGE_FILE)
        .output()
        .map_err(|e| format!("failed to start `{shown}`: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let last = said.trim().lines().last().unwrap_or("").to_owned();
        return Err(format!(
            "combining the shards' coverage data with `{shown}` failed ({}): {}",
            out.status,
            crate::text::truncate_bytes(&last, 2000)
        ));
    }
    let text = fs_err::read_to_string(&json).map_err(|e| e.to_string())?;
    let mut report = parse_json(&text, data)?;
    report.cobertura = cobertura.map(|x| x.display().to_string());
    Ok(report)
}

/// A folder alias ends in a separator, so `/a/b` does not also rewrite `/a/bc`.
fn with_slash(dir: &str) -> String {
    if dir.ends_with('/') || dir.ends_with('\\') {
        dir.to_owned()
    } else {
        format!("{dir}{}", std::path::MAIN_SEPARATOR)
    }
}

fn scratch_dir() -> Result<PathBuf, String> {
    use rand::Rng;
    let dir = std::env::temp_dir().join(format!(
        "parallel-pytest-coverage-{:016x}",
        rand::rng().random::<u64>()
    ));
    fs_err::create_dir(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pytest::manifest::{CoverageFiles, Manifest};

    fn manifest(index: u32, cov: Option<CoverageFiles>) -> LoadedManifest {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "manifest_version": 2, "tool_version": "0", "fingerprint": "f",
            "shard_index": index, "shard_total": 3,
            "selection": {"files": [], "node_ids": [], "deselect": []},
            "predicted_seconds": 1.0, "wall_seconds": 1.0, "workers": 1, "exit_code": 0,
            "signal": null, "pytest_started": true, "junit_file": "j.xml",
            "python": {"executable": "python"}
        }))
        .unwrap();
        m.coverage = cov;
        LoadedManifest {
            path: format!("s{index}/shard-{index}-of-3.json"),
            manifest: m,
            junit_found: true,
            rebuilt: None,
        }
    }

    fn files(names: &[&str]) -> Option<CoverageFiles> {
        Some(CoverageFiles {
            requested: true,
            files: names.iter().map(|s| (*s).to_owned()).collect(),
            root: None,
        })
    }

    #[test]
    fn nothing_without_coverage() {
        let ms = [manifest(1, None), manifest(2, None)];
        let (found, problems) = expected(&ms, Path::new("/b"), &|_| true);
        assert!(found.is_empty() && problems.is_empty());
    }

    #[test]
    fn a_shard_without_data_among_shards_with_data_is_named() {
        let ms = [
            manifest(1, files(&["coverage-1-of-3.dat"])),
            manifest(2, None),
            manifest(3, files(&["coverage-3-of-3.dat"])),
        ];
        let (found, problems) = expected(&ms, Path::new("/b"), &|p| {
            !p.ends_with("coverage-3-of-3.dat")
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, Path::new("/b/s1/coverage-1-of-3.dat"));
        let text: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 2, "{text:?}");
        assert!(
            text[0].contains("shard 2/3 has no coverage data"),
            "{text:?}"
        );
        assert!(
            text[1].contains("`coverage-3-of-3.dat` is not among the inputs"),
            "{text:?}"
        );
    }

    #[test]
    fn requested_but_unwritten_and_escaping_names_are_problems() {
        let ms = [
            manifest(1, files(&[])),
            manifest(2, files(&["../../etc/passwd"])),
        ];
        let (found, problems) = expected(&ms, Path::new("/b"), &|_| true);
        assert!(found.is_empty());
        assert!(
            problems[0]
                .message
                .contains("shard 1/3 ran with coverage on")
        );
        assert!(problems[1].message.contains("not a `coverage-…` file"));
    }

    #[test]
    fn json_is_read_lowest_first() {
        let text = r#"{"totals": {"percent_covered": 75.5, "covered_lines": 3, "num_statements": 4, "missing_lines": 1},
            "files": {"b.py": {"summary": {"percent_covered": 100.0, "num_statements": 2, "missing_lines": 0}},
                      "a.py": {"summary": {"percent_covered": 50.0, "num_statements": 2, "missing_lines": 1}}}}"#;
        let data = [
            DataFile {
                shard: 2,
                path: "x".into(),
                root: None,
            },
            DataFile {
                shard: 1,
                path: "y".into(),
                root: None,
            },
        ];
        let r = parse_json(text, &data).unwrap();
        assert_eq!(r.files[0].path, "a.py");
        assert_eq!(r.shards, [1, 2]);
        assert_eq!(
            r.total_line(),
            "coverage: 75.50% of 4 statements (2 data files combined from 2 shards)"
        );
    }
}
