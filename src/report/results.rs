//! The compact results file `report --results-out` writes (default
//! `.parallel-pytest/results.json`) and `report --base` reads back: every test's final outcome
//! and seconds, and what the run was (commit, ref, run id, date, complete or not, totals).
//!
//! ```json
//! {
//!   "format": "parallel-pytest-results",
//!   "version": 1,
//!   "run": {"commit": "3f2c…", "ref": "refs/heads/main", "run_id": "123", "date": "2026-12-03T06:00:00Z",
//!           "complete": true, "incomplete_reasons": [], "tests": 120, "failed": 1, "errors": 0,
//!           "test_seconds": 95.2, "wall_seconds": 31.0},
//!   "tests": {"tests/test_a.py::test_x": ["passed", 0.12], "tests/test_a.py::test_y": ["failed", 1.5]}
//! }
//! ```
//!
//! A base file usually comes from another run's artifact, so reading it treats it as hostile:
//! a size limit before parsing, the format and version checked first, every id, string and
//! number bounded, and an error that names the file. Keys are written sorted (byte-identical
//! output for the same run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Summary;
use crate::junit::Outcome;
use crate::text::truncate_bytes;

pub const FORMAT: &str = "parallel-pytest-results";
pub const VERSION: u32 = 1;
/// Larger than any real run's file (a million tests of 100-byte ids is about 130 MB).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest node id kept (as the timings store).
const MAX_ID_BYTES: usize = 16 * 1024;
/// Longest metadata string (commit, ref, run id, date) kept.
const MAX_META_BYTES: usize = 256;
/// Reasons kept for an incomplete run, each cut to [`MAX_REASON_BYTES`].
const MAX_REASONS: usize = 5;
const MAX_REASON_BYTES: usize = 500;

/// Which run the results are from. Every field but `complete` may be unknown (a local run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// RFC 3339, UTC.
    #[serde(default)]
    pub date: Option<String>,
    /// The report was whole (no missing shard, lost test, crash, truncated file).
    pub complete: bool,
    /// Why not, when not complete: the first problems' messages.
    #[serde(default)]
    pub incomplete_reasons: Vec<String>,
    #[serde(default)]
    pub tests: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub test_seconds: f64,
    #[serde(default)]
    pub wall_seconds: Option<f64>,
    /// Combined line coverage in percent, when the shards wrote coverage data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_percent: Option<f64>,
}

/// One test's final outcome (after reruns) and its seconds over every attempt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult(pub Outcome, pub f64);

impl TestResult {
    pub fn outcome(&self) -> Outcome {
        self.0
    }
    pub fn seconds(&self) -> f64 {
        self.1
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    pub format: String,
    pub version: u32,
    pub run: RunInfo,
    pub tests: BTreeMap<String, TestResult>,
}

/// What the command knows about the run from its CI environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMeta {
    pub commit: Option<String>,
    pub git_ref: Option<String>,
    pub run_id: Option<String>,
    pub date: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("failed to read the results file `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the results file `{}` is {bytes} bytes, over the limit of {MAX_FILE_BYTES}", .path.display())]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("`{}` is not a parallel-pytest results file: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "the results file `{}` has version {found}; this parallel-pytest reads version {VERSION} (write it again with the same release)",
        .path.display()
    )]
    Version { path: PathBuf, found: u64 },
    #[error("failed to write the results file `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ResultsFile {
    /// This run's results. Two items that share a node id keep the worse outcome and the sum of
    /// their seconds.
    pub fn from_summary(summary: &Summary, meta: RunMeta) -> ResultsFile {
        // Sorted, then built in one pass: a million ids inserted one by one into a tree cost
        // more than the rest of the file. The sort is stable, so items sharing an id fold in
        // the order they came, as inserting did.
        let mut sorted: Vec<(&str, TestResult)> = summary
            .observed
            .iter()
            .zip(&summary.outcomes)
            .map(|((id, secs), outcome)| (id.as_str(), TestResult(*outcome, *secs)))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        sorted.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                let outcome = if kept.1.0.is_bad() {
                    kept.1.0
                } else {
                    later.1.0
                };
                kept.1 = TestResult(outcome, kept.1.1 + later.1.1);
            }
            same
        });
        let tests: BTreeMap<String, TestResult> = sorted
            .into_iter()
            .map(|(id, result)| (id.to_owned(), result))
            .collect();
        let reasons = summary
            .problems
            .iter()
            .map(|p| p.message.clone())
            .chain(
                summary
                    .shards
                    .missing
                    .iter()
                    .map(|i| format!("shard {i} did not report")),
            )
            .take(MAX_REASONS)
            .map(|m| truncate_bytes(&m, MAX_REASON_BYTES))
            .collect();
        let t = &summary.totals;
        ResultsFile {
            format: FORMAT.to_owned(),
            version: VERSION,
            run: RunInfo {
                commit: meta.commit,
                git_ref: meta.git_ref,
                run_id: meta.run_id,
                date: meta.date,
                complete: summary.complete(),
                incomplete_reasons: if summary.complete() {
                    Vec::new()
                } else {
                    reasons
                },
                tests: t.tests,
                failed: t.failed,
                errors: t.errors,
                test_seconds: t.seconds,
                wall_seconds: summary.wall_seconds,
                coverage_percent: summary.coverage.as_ref().map(|c| c.percent),
            },
            tests,
        }
    }

    /// Compact JSON (one line): the file may hold a million tests.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }

    pub fn write(&self, path: &Path) -> Result<(), ResultsError> {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            // A reader never sees half a file: write beside it, then rename over it.
            let tmp = path.with_extension("json.tmp");
            // Streamed: a million tests make tens of megabytes.
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
            serde_json::to_writer(&mut out, self)?;
            std::io::Write::write_all(&mut out, b"\n")?;
            std::io::Write::flush(&mut out)?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|source| ResultsError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads and validates a results file, at most [`MAX_FILE_BYTES`].
    pub fn read(path: &Path) -> Result<ResultsFile, ResultsError> {
        use std::io::Read;
        let read_err = |source| ResultsError::Read {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let declared = file.metadata().map_err(read_err)?.len();
        if declared > MAX_FILE_BYTES {
            return Err(ResultsError::TooLarge {
                path: path.to_owned(),
                bytes: declared,
            });
        }
        // A pipe or a file that grows has no reliable length: the read stops past the limit.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ResultsError::TooLarge {
                path: path.to_owned(),
                bytes: bytes.len() as u64,
            });
        }
        Self::from_bytes(&bytes, path)
    }

    /// A results file fetched into memory (a base run's artifact), validated as
    /// [`ResultsFile::read`] does; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &Path) -> Result<ResultsFile, ResultsError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ResultsError::TooLarge {
                path: source.to_owned(),
                bytes: bytes.len() as u64,
            });
        }
        Self::from_json(bytes).map_err(|e| e.at(source))
    }

    /// The pure part of [`ResultsFile::read`]; errors carry an empty path until `at`.
    fn from_json(bytes: &[u8]) -> Result<ResultsFile, ResultsError> {
        let invalid = |message: String| ResultsError::Invalid {
            path: PathBuf::new(),
            message,
        };
        // Format and version first, so a future file says "version", not a field error.
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u64>,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if head.format.as_deref() != Some(FORMAT) {
            return Err(invalid(format!("its `format` is not `{FORMAT}`")));
        }
        match head.version {
            Some(v) if v == u64::from(VERSION) => {}
            Some(found) => {
                return Err(ResultsError::Version {
                    path: PathBuf::new(),
                    found,
                });
            }
            None => return Err(invalid("it has no `version`".to_owned())),
        }
        let file: ResultsFile =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        file.validate().map_err(invalid)?;
        Ok(file)
    }

    /// Bounds every string and number a renderer will show.
    fn validate(&self) -> Result<(), String> {
        let run = &self.run;
        for (name, value) in [
            ("run.commit", &run.commit),
            ("run.ref", &run.git_ref),
            ("run.run_id", &run.run_id),
            ("run.date", &run.date),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > MAX_META_BYTES) {
                return Err(format!("`{name}` is longer than {MAX_META_BYTES} bytes"));
            }
        }
        if run.incomplete_reasons.len() > MAX_REASONS
            || run
                .incomplete_reasons
                .iter()
                .any(|r| r.len() > MAX_REASON_BYTES)
        {
            return Err(format!(
                "`run.incomplete_reasons` holds more than {MAX_REASONS} reasons or one longer than {MAX_REASON_BYTES} bytes"
            ));
        }
        let finite = |s: f64| s.is_finite() && s >= 0.0;
        if !finite(run.test_seconds) || !run.wall_seconds.is_none_or(finite) {
            return Err(
                "`run.test_seconds` or `run.wall_seconds` is not a non-negative number".into(),
            );
        }
        for (id, result) in &self.tests {
            if id.is_empty() || id.len() > MAX_ID_BYTES {
                return Err(format!(
                    "a test id is empty or longer than {MAX_ID_BYTES} bytes"
                ));
            }
            if !finite(result.seconds()) {
                return Err(format!(
                    "the seconds of `{}` are not a non-negative number",
                    truncate_bytes(id, 200)
                ));
            }
        }
        Ok(())
    }
}

impl ResultsError {
    /// Names `path` in an error from [`ResultsFile::from_json`].
    fn at(self, path: &Path) -> ResultsError {
        match self {
            ResultsError::Invalid { message, .. } => ResultsError::Invalid {
                path: path.to_owned(),
                message,
            },
            ResultsError::Version { found, .. } => ResultsError::Version {
                path: path.to_owned(),
                found,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Problem, ProblemKind};

    fn summary() -> Summary {
        let mut s = Summary {
            observed: vec![
                ("t.py::a".into(), 0.5),
                ("t.py::b".into(), 1.0),
                ("t.py::b".into(), 2.0),
            ],
            outcomes: vec![Outcome::Passed, Outcome::Failed, Outcome::Passed],
            ..Summary::default()
        };
        s.totals.tests = 3;
        s
    }

    #[test]
    fn round_trips_and_twins_keep_the_worse_outcome() {
        let meta = RunMeta {
            commit: Some("abc".into()),
            ..RunMeta::default()
        };
        let file = ResultsFile::from_summary(&summary(), meta);
        assert_eq!(file.tests["t.py::b"], TestResult(Outcome::Failed, 3.0));
        assert!(file.run.complete);
        let back = ResultsFile::from_json(file.to_json().as_bytes()).unwrap();
        assert_eq!(back, file);
        assert!(
            file.to_json()
                .contains(r#""tests":{"t.py::a":["passed",0.5],"t.py::b":["failed",3.0]}"#),
            "{}",
            file.to_json()
        );
    }

    #[test]
    fn an_incomplete_run_says_why() {
        let mut s = summary();
        s.problems
            .push(Problem::new(ProblemKind::MissingShard, "x".repeat(2000)));
        let file = ResultsFile::from_summary(&s, RunMeta::default());
        assert!(!file.run.complete);
        assert_eq!(file.run.incomplete_reasons.len(), 1);
        assert!(file.run.incomplete_reasons[0].len() <= MAX_REASON_BYTES);
    }

    #[test]
    fn hostile_files_are_refused_with_a_reason() {
        let ok = ResultsFile::from_summary(&summary(), RunMeta::default()).to_json();
        let cases = [
            ("{}", "format"),
            ("[1]", "invalid type"),
            (
                r#"{"format":"parallel-pytest-timings","version":1}"#,
                "format",
            ),
            (r#"{"format":"parallel-pytest-results"}"#, "no `version`"),
            (&ok.replace("\"version\":1", "\"version\":9"), "version 9"),
            (&ok.replace("0.5]", "-1.0]"), "non-negative"),
            (&ok.replace("\"passed\"", "\"won\""), "unknown variant"),
            (
                &ok.replace(
                    "\"commit\":null",
                    &format!("\"commit\":\"{}\"", "c".repeat(300)),
                ),
                "run.commit",
            ),
            (
                &ok.replace("\"t.py::a\"", &format!("\"{}\"", "a".repeat(20_000))),
                "test id",
            ),
        ];
        for (text, want) in cases {
            let err = ResultsFile::from_json(text.as_bytes())
                .unwrap_err()
                .at(Path::new("base.json"))
                .to_string();
            assert!(
                err.contains(want) && err.contains("`base.json`"),
                "{want}: {err}"
            );
        }
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_FILE_BYTES + 10).unwrap();
        let err = ResultsFile::read(&path).unwrap_err();
        assert!(matches!(err, ResultsError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("big.json"));
    }
}
