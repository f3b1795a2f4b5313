//! GitLab Code Quality report (`artifacts:reports:codequality`): one issue per failure.
//!
//! The fingerprint must stay the same across pipelines for the same failing test, so GitLab can
//! tell new failures from old ones: it hashes the node id and outcome, never the message (which
//! holds addresses and timings that change every run).

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::Summary;
use crate::text::truncate_bytes;

#[derive(Debug, Serialize)]
struct Issue {
    description: String,
    check_name: String,
    fingerprint: String,
    severity: &'static str,
    location: Location,
}

#[derive(Debug, Serialize)]
struct Location {
    path: String,
    lines: Lines,
}

#[derive(Debug, Serialize)]
struct Lines {
    begin: u64,
}

pub fn fingerprint(id: &str, outcome: crate::junit::Outcome) -> String {
    let digest = Sha256::digest(format!("parallel-pytest\0{}\0{id}", outcome.as_str()).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The Code Quality JSON. `repo_prefix` is the project's folder in the repository (`sub` for a
/// project in `sub/`): GitLab opens `location.path` relative to the repository, while the
/// report's paths are relative to the project.
pub fn render(summary: &Summary, repo_prefix: Option<&str>) -> String {
    let issues: Vec<Issue> = summary
        .failures
        .iter()
        .map(|f| Issue {
            description: truncate_bytes(
                &format!(
                    "{} {}: {}",
                    f.id,
                    f.outcome.as_str(),
                    super::model::first_line(&f.message)
                ),
                1000,
            ),
            check_name: format!("pytest-{}", f.outcome.as_str()),
            fingerprint: fingerprint(&f.id, f.outcome),
            severity: if f.outcome == crate::junit::Outcome::Error {
                "critical"
            } else {
                "major"
            },
            location: location(repo_prefix, f),
        })
        .chain(quarantined(summary, repo_prefix))
        .collect();
    serde_json::to_string_pretty(&issues).unwrap_or_else(|_| "[]".into()) + "\n"
}

fn location(repo_prefix: Option<&str>, f: &super::model::Failure) -> Location {
    Location {
        path: match (repo_prefix, &f.file) {
            (Some(prefix), Some(file)) => {
                format!("{prefix}/{}", file.trim_start_matches("./"))
            }
            (None, Some(file)) => file.clone(),
            (Some(prefix), None) => prefix.to_owned(),
            (None, None) => ".".into(),
        },
        lines: Lines {
            begin: f.line.unwrap_or(1),
        },
    }
}

/// Quarantined failures: severity `info`, their own check name and fingerprint (a test that
/// leaves the quarantine and still fails shows up as a new issue).
fn quarantined<'a>(
    summary: &'a Summary,
    repo_prefix: Option<&'a str>,
) -> impl Iterator<Item = Issue> + 'a {
    let q = &summary.quarantine;
    q.failed.iter().map(move |qf| {
        let f = &qf.failure;
        let e = &q.entries[qf.entry];
        Issue {
            description: truncate_bytes(
                &format!(
                    "{} {} (quarantined until {}: {}): {}",
                    f.id,
                    f.outcome.as_str(),
                    e.expires,
                    e.reason,
                    super::model::first_line(&f.message)
                ),
                1000,
            ),
            check_name: "pytest-quarantined".into(),
            fingerprint: fingerprint(&format!("quarantined\0{}", f.id), f.outcome),
            severity: "info",
            location: location(repo_prefix, f),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::Outcome;

    #[test]
    fn fingerprint_depends_on_the_test_not_the_message() {
        let a = fingerprint("tests/test_a.py::test_b", Outcome::Failed);
        assert_eq!(a, fingerprint("tests/test_a.py::test_b", Outcome::Failed));
        assert_ne!(a, fingerprint("tests/test_a.py::test_c", Outcome::Failed));
        assert_ne!(a, fingerprint("tests/test_a.py::test_b", Outcome::Error));
        assert_eq!(a.len(), 32);
    }
}
