//! The JUnit data model shared by the reader, the merger, the writer and the report.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
    Xfailed,
    Xpassed,
}

impl Outcome {
    /// Whether this outcome makes a run red.
    pub fn is_bad(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::Xfailed => "xfailed",
            Outcome::Xpassed => "xpassed",
        }
    }
}

/// One `<testcase>` as read from a file (one per attempt with pytest-rerunfailures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    /// `file` attribute (xunit1) when present.
    pub file: Option<String>,
    /// `line` attribute as written (pytest writes it 0-based).
    pub line: Option<u64>,
    /// `time` attribute in seconds; 0 when missing or unreadable (see `reader::parse_seconds`).
    pub time_seconds: f64,
    pub outcome: Outcome,
    /// `message` attribute of the failure/error/skipped element (bounded by `Limits`).
    pub message: Option<String>,
    /// Text of the failure/error element (the traceback), a bounded prefix (see `Limits`).
    pub text: Option<String>,
    /// Surefire/quick-junit `rerunFailure`/`flakyFailure`/`rerunError`/`flakyError` children:
    /// earlier attempts recorded inside this one testcase.
    #[serde(default)]
    pub inner_reruns: u32,
}

impl TestCase {
    /// `Some("gw1")` when this testcase records a crashed pytest-xdist worker: xdist writes
    /// an `<error>` "worker 'gw1' crashed while running 'path::test'" (DESIGN.md §5).
    pub fn crashed_worker(&self) -> Option<&str> {
        if self.outcome != Outcome::Error && self.outcome != Outcome::Failed {
            return None;
        }
        [self.message.as_deref(), self.text.as_deref()]
            .into_iter()
            .flatten()
            .find_map(parse_crashed_worker)
    }
}

/// Finds `worker 'gwN' crashed while running` in a message and returns `gwN`.
fn parse_crashed_worker(text: &str) -> Option<&str> {
    let start = text.find("worker '")? + "worker '".len();
    let rest = &text[start..];
    let end = rest.find('\'')?;
    let worker = &rest[..end];
    let ok = rest[end..].starts_with("' crashed while running")
        && !worker.is_empty()
        && worker.len() <= 32
        && worker
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(worker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashed_worker_is_found_in_xdist_message() {
        let msg = "failed on setup with \"worker 'gw0' crashed while running 'tests/test_crash.py::test_crash'\"";
        assert_eq!(parse_crashed_worker(msg), Some("gw0"));
        assert_eq!(parse_crashed_worker("worker 'gw0' finished"), None);
        assert_eq!(
            parse_crashed_worker("worker '' crashed while running"),
            None
        );
    }
}
