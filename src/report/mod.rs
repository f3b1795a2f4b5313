//! Tell people: the summary model and pure renderers (Markdown job summary, terminal,
//! annotations/workflow commands, GitLab Code Quality, JSON). `inputs` is the only reading I/O
//! here: it finds and reads the shard artifacts.
//!
//! The publish stage gets everything it sends from [`Rendered`]; it never looks at JUnit.

pub mod advice;
pub mod annotations;
pub mod codequality;
pub mod coverage;
pub mod escape;
pub mod inputs;
pub mod json;
pub mod location;
pub mod markdown;
pub mod model;
pub mod quarantine;
pub mod rebuild;
pub mod store;
pub mod terminal;

pub use annotations::{Annotation, Level};
pub use markdown::{MarkdownOptions, SourceLinks};
pub use model::Summary;

/// What `report` rendered, for the command's outputs and for the publish stage.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// One line, e.g. `2 failed, 120 passed in 31.2s`.
    pub headline: String,
    /// The job summary (≤ `MarkdownOptions::max_bytes`).
    pub markdown: String,
    /// Most useful first; untrusted text unescaped (each sink escapes its own).
    pub annotations: Vec<Annotation>,
    /// No failures, errors, missing shards or problems.
    pub green: bool,
}

pub fn render(summary: &Summary, opts: &MarkdownOptions) -> Rendered {
    Rendered {
        headline: summary.headline(),
        markdown: markdown::render(summary, opts),
        annotations: annotations::annotations(summary),
        green: summary.green(),
    }
}

/// Why the report's own outputs could not be written. Test results never end up here: a red
/// run is exit code 1, not an error.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    JunitOut(#[from] crate::junit::writer::WriteError),
    #[error("failed to write the report to stdout")]
    Stdout(#[source] std::io::Error),
}
