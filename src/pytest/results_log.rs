//! The results log the `results_log` plugin writes beside the shard's JUnit file: one JSON
//! object per line, `{"start": id, "file", "line"}` when a test starts and `{"finish": id,
//! "outcome", "seconds", "message", "markers", "keywords"}` when it is over, each flushed at
//! once. `markers`/`keywords` (what `-m`/`-k` match) go into the timings store. pytest writes its
//! JUnit file only at the end, so when pytest dies mid-run this log is what is left: the tests
//! that finished, and the one that was running.

use std::path::Path;

use serde::Deserialize;

use crate::junit::Outcome;
use crate::timings::Selectable;

/// `results-<I>-of-<N>.jsonl` (the parallel phase, or the only one) in the shard's folder;
/// the serial phase writes `results-<I>-of-<N>.serial.jsonl`.
pub fn file_name(stem: &str, serial: bool) -> String {
    if serial {
        format!("results-{stem}.serial.jsonl")
    } else {
        format!("results-{stem}.jsonl")
    }
}

/// One test as the log tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub id: String,
    /// Relative to pytest's rootdir, from the test's location.
    pub file: Option<String>,
    /// 0-based, as pytest's location gives it.
    pub line: Option<u64>,
    /// `None` while it has not finished.
    pub outcome: Option<Outcome>,
    pub seconds: f64,
    pub message: Option<String>,
    /// What `-m`/`-k` match it against, when the plugin recorded both.
    pub selectable: Option<Selectable>,
}

/// What the log says: every test in the order it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultsLog {
    pub tests: Vec<Logged>,
}

impl ResultsLog {
    /// The test that started last and never finished: the one running when pytest died.
    pub fn running(&self) -> Option<&Logged> {
        self.tests.iter().rev().find(|t| t.outcome.is_none())
    }

    pub fn finished(&self) -> usize {
        self.tests.iter().filter(|t| t.outcome.is_some()).count()
    }
}

#[derive(Deserialize)]
struct Record {
    start: Option<String>,
    finish: Option<String>,
    file: Option<String>,
    line: Option<u64>,
    outcome: Option<String>,
    #[serde(default)]
    seconds: f64,
    message: Option<String>,
    markers: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
}

/// Reads the log; a line that is not a record (the last one cut short by the crash) is skipped.
pub fn parse(text: &str) -> ResultsLog {
    let mut log = ResultsLog::default();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Record>(line) else {
            continue;
        };
        if let Some(id) = record.start {
            open.insert(id.clone(), log.tests.len());
            log.tests.push(Logged {
                id,
                file: record.file,
                line: record.line,
                outcome: None,
                seconds: 0.0,
                message: None,
                selectable: None,
            });
        } else if let Some(id) = record.finish {
            let outcome = match record.outcome.as_deref() {
                Some("failed") => Outcome::Failed,
                Some("error") => Outcome::Error,
                Some("skipped") => Outcome::Skipped,
                _ => Outcome::Passed,
            };
            let i = match open.remove(&id) {
                Some(i) => i,
                None => {
                    log.tests.push(Logged {
                        id,
                        file: None,
                        line: None,
                        outcome: None,
                        seconds: 0.0,
                        message: None,
                        selectable: None,
                    });
                    log.tests.len() - 1
                }
            };
            let t = &mut log.tests[i];
            t.outcome = Some(outcome);
            t.seconds = if record.seconds.is_finite() {
                record.seconds.max(0.0)
            } else {
                0.0
            };
            t.message = record.message;
            t.selectable = match (record.markers, record.keywords) {
                (Some(markers), Some(keywords)) => Some(Selectable { markers, keywords }),
                _ => None,
            };
        }
    }
    log
}

/// Largest log read: a log comes from an artifact anyone with a shard job could write.
/// A real one takes a few hundred bytes per test.
const MAX_LOG_BYTES: u64 = 512 * 1024 * 1024;

/// The log at `path`, or `None` when there is none (or it is too large to be one).
pub fn read(path: &Path) -> Option<ResultsLog> {
    if fs_err::metadata(path).ok()?.len() > MAX_LOG_BYTES {
        return None;
    }
    fs_err::read_to_string(path).ok().map(|text| parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_tests_keep_their_outcome_and_the_last_start_is_running() {
        let log = parse(concat!(
            r#"{"start": "t.py::a", "file": "t.py", "line": 3}"#,
            "\n",
            r#"{"finish": "t.py::a", "outcome": "failed", "seconds": 0.5, "message": "assert 0", "markers": ["db"], "keywords": ["a", "db", "t.py"]}"#,
            "\n",
            r#"{"start": "t.py::b", "file": "t.py", "line": 9}"#,
            "\n",
            r#"{"finish": "t.py::b", "outc"#,
        ));
        assert_eq!(log.finished(), 1);
        assert_eq!(log.tests[0].outcome, Some(Outcome::Failed));
        assert_eq!(log.tests[0].message.as_deref(), Some("assert 0"));
        assert_eq!(
            log.tests[0].selectable.as_ref().map(|s| s.markers.clone()),
            Some(vec!["db".to_owned()])
        );
        let running = log.running().unwrap();
        assert_eq!((running.id.as_str(), running.line), ("t.py::b", Some(9)));
        assert_eq!(parse("").running(), None);
    }
}
