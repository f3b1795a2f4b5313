//! Annotations: structured data for the publish stage (check runs) and workflow commands for the
//! log (`::error file=…,line=…,title=…::message`).
//!
//! GitHub shows at most 10 error annotations per step from workflow commands (DESIGN.md §5), so
//! the most useful ones go first: problems that make the whole report unreliable (missing or
//! crashed shards, truncated files), then failures that have a file and line, then the rest.
//! What does not fit is summed up in one notice.

use rand::Rng;

use super::escape::{workflow_data, workflow_property};
use super::model::{Summary, first_line};
use crate::text::{plural, truncate_bytes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// One annotation. `file`, `title`, `message` and `details` are untrusted text.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub level: Level,
    /// Relative to pytest's rootdir.
    pub file: Option<String>,
    /// 1-based.
    pub line: Option<u64>,
    pub title: String,
    pub message: String,
    /// The traceback, for check runs (`raw_details`).
    pub details: Option<String>,
}

/// Per-step limit of annotations of one level made by workflow commands.
const PER_STEP: usize = 10;
const MESSAGE_BYTES: usize = 4096;
const TITLE_BYTES: usize = 250;

/// All annotations, most useful first.
pub fn annotations(summary: &Summary) -> Vec<Annotation> {
    let mut out = Vec::new();
    for p in &summary.problems {
        out.push(Annotation {
            level: Level::Error,
            file: None,
            line: None,
            title: "parallel-pytest: incomplete report".into(),
            message: truncate_bytes(&p.message, MESSAGE_BYTES),
            details: None,
        });
    }
    let mut failures: Vec<_> = summary.failures.iter().collect();
    // Stable: keeps the summary's order within each group.
    failures.sort_by_key(|f| (f.crashed_worker.is_none(), f.line.is_none()));
    for f in failures {
        let verb = match f.outcome {
            crate::junit::Outcome::Error => "errored",
            _ => "failed",
        };
        let shard = f
            .shard
            .zip(f.shard_total)
            .map(|(i, n)| format!(" (shard {i}/{n})"))
            .unwrap_or_default();
        let crash_line = f.headline();
        out.push(Annotation {
            level: Level::Error,
            file: f.file.clone(),
            line: f.line,
            title: truncate_bytes(&format!("{} {verb}{shard}", f.id), TITLE_BYTES),
            message: truncate_bytes(
                if f.crashed_worker.is_some() {
                    &crash_line
                } else if f.message.is_empty() {
                    verb
                } else {
                    &f.message
                },
                MESSAGE_BYTES,
            ),
            details: f.text.clone(),
        });
    }
    for f in &summary.flaky {
        out.push(Annotation {
            level: Level::Warning,
            file: None,
            line: None,
            title: truncate_bytes(&format!("{} is flaky", f.id), TITLE_BYTES),
            message: truncate_bytes(
                &match f.first_failure.as_deref().map(first_line) {
                    Some(why) if !why.is_empty() => {
                        format!("passed after {} attempts; first failure: {why}", f.attempts)
                    }
                    // pytest-rerunfailures writes the failed attempts as empty testcases.
                    _ => format!("passed after {} attempts", f.attempts),
                },
                MESSAGE_BYTES,
            ),
            details: None,
        });
    }
    out.extend(quarantine_annotations(summary));
    out
}

/// Expired entries are errors (they make the report red); quarantined failures warnings, at
/// the test's line; quarantined tests that passed one notice (the list may shrink).
fn quarantine_annotations(summary: &Summary) -> Vec<Annotation> {
    let q = &summary.quarantine;
    let mut out: Vec<Annotation> = q
        .expired_lines()
        .into_iter()
        .map(|line| Annotation {
            level: Level::Error,
            file: None,
            line: None,
            title: "parallel-pytest: quarantine entry expired".into(),
            message: truncate_bytes(&line, MESSAGE_BYTES),
            details: None,
        })
        .collect();
    for qf in &q.failed {
        let f = &qf.failure;
        let e = &q.entries[qf.entry];
        out.push(Annotation {
            level: Level::Warning,
            file: f.file.clone(),
            line: f.line,
            title: truncate_bytes(&format!("{} failed (quarantined)", f.id), TITLE_BYTES),
            message: truncate_bytes(
                &format!(
                    "quarantined until {} ({}): {}",
                    e.expires,
                    e.reason,
                    first_line(&f.message)
                ),
                MESSAGE_BYTES,
            ),
            details: f.text.clone(),
        });
    }
    if !q.passed.is_empty() {
        let ids: Vec<&str> = q.passed.iter().map(|(id, _)| id.as_str()).collect();
        out.push(Annotation {
            level: Level::Notice,
            file: None,
            line: None,
            title: "parallel-pytest: quarantined tests passed".into(),
            message: truncate_bytes(
                &format!(
                    "{} passed in this run: {}",
                    crate::text::count(ids.len() as u64, "quarantined test", "quarantined tests"),
                    ids.join(", ")
                ),
                MESSAGE_BYTES,
            ),
            details: None,
        });
    }
    out
}

/// Workflow commands for the log: at most `PER_STEP` per level, then one notice with the count
/// left out (that notice is itself one of the notices).
pub fn workflow_commands(annotations: &[Annotation]) -> String {
    let mut out = String::new();
    let mut shown = [0usize; 3];
    let mut left_out = 0usize;
    for a in annotations {
        let slot = a.level as usize;
        let cap = if a.level == Level::Notice {
            PER_STEP - 1
        } else {
            PER_STEP
        };
        if shown[slot] >= cap {
            left_out += 1;
            continue;
        }
        shown[slot] += 1;
        let command = match a.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        };
        let mut props = Vec::new();
        if let Some(file) = &a.file {
            props.push(format!(
                "file={}",
                workflow_property(&truncate_bytes(file, 1000))
            ));
            if let Some(line) = a.line {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!("title={}", workflow_property(&a.title)));
        out.push_str(&format!(
            "::{command} {}::{}\n",
            props.join(","),
            workflow_data(&a.message)
        ));
    }
    if left_out > 0 {
        out.push_str(&format!(
            "::notice title=parallel-pytest::{left_out} more {} not shown here (GitHub shows {PER_STEP} per step): see the job summary\n",
            plural(left_out as u64, "annotation", "annotations"),
        ));
    }
    out
}

/// A fresh token for `::stop-commands::`: unguessable, so text inside cannot end the block.
pub fn stop_token() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// Untrusted text for a GitHub log, wrapped so the runner ignores any workflow command in it.
pub fn guard_for_github_log(text: &str, token: &str) -> String {
    let mut out = format!("::stop-commands::{token}\n");
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("::{token}::\n"));
    out
}
