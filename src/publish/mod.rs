//! Send it: publish what `report` rendered ([`crate::report::Rendered`]) to a forge's API
//! (DESIGN.md §2). Nothing here renders test results; it only sizes, batches and sends what it
//! is given, and says what it skipped.
//!
//! The command hands in plain option structs ([`GithubOptions`], [`GitlabOptions`]); the entry
//! points in [`hook`] do the rest and turn a failure into a [`PublishError`] only when the user
//! asked publishing failures to count.

pub mod github;
pub mod gitlab;
pub mod gitlab_child;
mod hook;

pub use hook::{
    publish_github, publish_github_with, publish_gitlab, repo_prefix, repo_relative_annotations,
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
}

/// Publishing failed and `--fail-on-publish-error` asks that to count.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing to GitHub failed (`--fail-on-publish-error` is set): {notes}")]
    Github { notes: String },
    #[error("failed to post the MR note (`--fail-on-publish-error` is set)")]
    MrNote(#[source] gitlab::NoteError),
}
