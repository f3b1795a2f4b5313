//! Tell people: the summary model and pure renderers (Markdown job summary, terminal,
//! annotations/workflow commands, GitLab Code Quality, JSON). `inputs` is the only I/O here:
//! it finds and reads the shard artifacts.
//!
//! The publish stage gets everything it sends from [`Rendered`]; it never looks at JUnit.

pub mod advice;
pub mod annotations;
pub mod codequality;
pub mod escape;
pub mod inputs;
pub mod json;
pub mod location;
pub mod markdown;
pub mod model;
pub mod terminal;

pub use annotations::{Annotation, Level};
pub use markdown::{MarkdownOptions, SourceLinks};
pub use model::{Summary, Totals};

/// What `report` rendered, for the command's outputs and for the publish stage.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// One line, e.g. `2 failed, 120 passed in 31.2s`.
    pub headline: String,
    /// The job summary (≤ `MarkdownOptions::max_bytes`).
    pub markdown: String,
    /// Most useful first; untrusted text unescaped (each sink escapes its own).
    pub annotations: Vec<Annotation>,
    pub totals: Totals,
    /// No failures, errors, missing shards or problems.
    pub green: bool,
    /// No missing shards or problems (failures allowed).
    pub complete: bool,
}

pub fn render(summary: &Summary, opts: &MarkdownOptions) -> Rendered {
    Rendered {
        headline: summary.headline(),
        markdown: markdown::render(summary, opts),
        annotations: annotations::annotations(summary),
        totals: summary.totals,
        green: summary.green(),
        complete: summary.complete(),
    }
}

impl Rendered {
    /// The publish stage's input type (`publish::Rendered`). Annotations without a file go on
    /// `.github` line 1, as check runs require a path.
    pub fn to_publish(&self) -> crate::publish::Rendered {
        crate::publish::Rendered {
            headline: self.headline.clone(),
            markdown: self.markdown.clone(),
            annotations: self
                .annotations
                .iter()
                .map(|a| {
                    let line = a.line.and_then(|l| u32::try_from(l).ok()).unwrap_or(1);
                    crate::publish::Annotation {
                        path: a.file.clone().unwrap_or_else(|| ".github".into()),
                        start_line: line,
                        end_line: line,
                        level: match a.level {
                            Level::Error => crate::publish::Level::Failure,
                            Level::Warning => crate::publish::Level::Warning,
                            Level::Notice => crate::publish::Level::Notice,
                        },
                        title: a.title.clone(),
                        message: a.message.clone(),
                        raw_details: a.details.clone(),
                    }
                })
                .collect(),
            green: self.green,
        }
    }
}
