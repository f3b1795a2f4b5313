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

/// One `<testcase>` as read from a file (one per attempt with pytest-rerunfailures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    /// `file` attribute (xunit1) when present.
    pub file: Option<String>,
    /// `line` attribute as written (pytest writes it 0-based).
    pub line: Option<u64>,
    pub time_seconds: f64,
    pub outcome: Outcome,
    /// `message` attribute of the failure/error/skipped element.
    pub message: Option<String>,
    /// Text of the failure/error element (the traceback), possibly truncated by limits.
    pub text: Option<String>,
}
