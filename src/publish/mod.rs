//! Send it: publish what `report` rendered ([`crate::report::Rendered`]) to a forge's API
//! (DESIGN.md §2). Nothing here renders test results; it only sizes, batches and sends what it
//! is given, and says what it skipped.
//!
//! The command hands in plain option structs ([`GithubOptions`], [`GitlabOptions`]); the entry
//! points in [`hook`] do the rest and turn a failure into a [`PublishError`] only when the user
//! asked publishing failures to count.

use std::time::Duration;

pub mod github;
pub mod gitlab;
pub mod gitlab_child;
pub mod history;
mod hook;

pub use hook::{
    checkout_prefix, publish_github, publish_github_with, publish_gitlab, repo_prefix,
    repo_relative_annotations,
};

/// What to publish to GitHub, as the command resolved it from flags and variables.
#[derive(Debug, Clone, Default)]
pub struct GithubOptions {
    /// Create a check run carrying every annotation.
    pub check_run: bool,
    /// Create or update one sticky pull-request comment.
    pub comment: bool,
    /// Check-run name; `None` or blank → `parallel-pytest`.
    pub check_name: Option<String>,
    /// An explicit token; `None` or blank → `GITHUB_TOKEN`.
    pub token: Option<String>,
    /// A requested output that could not be published is an error, not a warning.
    pub fail_on_error: bool,
    /// Time all requests may take together; `None` → [`DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// What to publish to GitLab, as the command resolved it.
#[derive(Debug, Clone, Default)]
pub struct GitlabOptions {
    /// Post (or edit) the merge request note.
    pub mr_note: bool,
    /// Name of the variable holding an access token with `api` scope.
    pub token_variable: String,
    /// A note that could not be posted is an error, not a warning.
    pub fail_on_error: bool,
    /// Time all requests may take together; `None` → [`DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// How long publishing may take in total unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Publishing failed and `--fail-on-publish-error` asks that to count.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing to GitHub failed (`--fail-on-publish-error` is set): {notes}")]
    Github { notes: String },
    #[error("failed to post the MR note (`--fail-on-publish-error` is set)")]
    MrNote(#[source] gitlab::NoteError),
}

/// `https://…`, or `http://` to this machine (a local proxy or a test server): a token is never
/// sent in clear over a network.
fn is_safe_api_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return true;
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_carries_a_token() {
        for ok in [
            "https://api.github.com",
            "HTTPS://ghe.example/api/v3",
            "http://127.0.0.1:8080",
            "http://localhost/api",
            "http://[::1]:9/x",
        ] {
            assert!(is_safe_api_url(ok), "{ok}");
        }
        for bad in [
            "http://api.github.com",
            "http://127.0.0.1.evil.example/",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "http://user@10.0.0.1/",
        ] {
            assert!(!is_safe_api_url(bad), "{bad}");
        }
    }
}
