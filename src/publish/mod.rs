//! Send it: publish what `report` rendered to a forge's API (DESIGN.md §2). Nothing here renders
//! test results; it only sizes, batches and sends what it is given, and says what it skipped.

pub mod github;
pub mod gitlab;
pub mod gitlab_child;

/// Severity of one annotation, in the Checks API's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Notice,
    Warning,
    Failure,
}

impl Level {
    /// The `annotation_level` value of the Checks API.
    pub fn as_checks_str(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Failure => "failure",
        }
    }

    /// The workflow command for this level (`::error`, `::warning`, `::notice`).
    pub fn as_workflow_command(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Failure => "error",
        }
    }
}

/// One annotation on a file line. Everything but `level` is untrusted text from the test run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// 1-based line.
    pub start_line: u32,
    pub end_line: u32,
    pub level: Level,
    pub title: String,
    pub message: String,
    /// Optional details (a traceback), shown collapsed by GitHub.
    pub raw_details: Option<String>,
}

/// The input of publishing: produced by the report stage.
///
/// A minimal stand-in until `report`'s rendered-output type lands; the report command converts its
/// output into this (see `commands/report.rs`).
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// One line, e.g. `2 failed, 120 passed in 31.2s`.
    pub headline: String,
    /// The Markdown summary (job summary, check-run summary, PR comment).
    pub markdown: String,
    /// Annotations, most useful first.
    pub annotations: Vec<Annotation>,
    /// Whether the test run is green (no failures, errors, missing shards or lost tests).
    pub green: bool,
}
