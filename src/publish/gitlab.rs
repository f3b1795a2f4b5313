//! The merge request note (GitLab REST API v4 through reqwest).
//!
//! One note per merge request, found again by a hidden HTML-comment marker and edited in place on
//! later pipelines, so a busy MR never collects a stack of summaries. Publishing is an extra:
//! without a token, outside a merge request pipeline or with only `CI_JOB_TOKEN` the note is
//! skipped with a one-line reason; HTTP failures are returned as errors the report command turns
//! into a warning (a red test run stays red, a green one stays green unless the user asked for
//! publishing failures to count).

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::env_vars::{ci, ours};

/// Hidden marker that identifies our note among the MR's notes.
pub const MARKER: &str = "<!-- parallel-pytest:mr-note -->";

/// GitLab's limit on a note body, in characters (DESIGN.md §5).
const NOTE_LIMIT_CHARS: usize = 1_000_000;

/// Notes are listed 100 per page; a merge request with more than this many pages of discussion
/// gets a new note rather than an endless scan.
const MAX_NOTE_PAGES: u32 = 50;

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
struct Token(String);

impl Token {
    pub fn new(secret: impl Into<String>) -> Self {
        Token(secret.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Where the note goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MrTarget {
    /// `CI_API_V4_URL`, e.g. `https://gitlab.example.com/api/v4`.
    pub api_url: String,
    /// `CI_PROJECT_ID` (a number, or an URL-encoded `group/project` path).
    pub project_id: String,
    /// `CI_MERGE_REQUEST_IID`.
    pub mr_iid: u64,
}

impl MrTarget {
    fn notes_path(&self) -> String {
        format!(
            "/projects/{}/merge_requests/{}/notes",
            encode_segment(&self.project_id),
            self.mr_iid
        )
    }
}

/// Why no note is posted. Not an error: the report says so and carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NotAMergeRequest,
    /// Only `CI_JOB_TOKEN` is available (or the named variable is `CI_JOB_TOKEN`).
    JobTokenOnly {
        token_variable: String,
    },
    NoToken {
        token_variable: String,
    },
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotAMergeRequest => write!(
                f,
                "MR note skipped: this is not a merge request pipeline (`{}` is not set)",
                ci::CI_MERGE_REQUEST_IID
            ),
            Skip::JobTokenOnly { token_variable } => write!(
                f,
                "MR note skipped: `{}` cannot post merge request notes (GitLab accepts job tokens \
                 on a few API endpoints only, and notes are not one of them); store a project \
                 access token with the `api` scope in a masked CI/CD variable named \
                 `{token_variable}`",
                ci::CI_JOB_TOKEN
            ),
            Skip::NoToken { token_variable } => write!(
                f,
                "MR note skipped: no access token in `{token_variable}`; store a project access \
                 token with the `api` scope in a masked CI/CD variable of that name"
            ),
        }
    }
}

/// What happened to the note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteOutcome {
    Created { id: u64 },
    Updated { id: u64 },
    Skipped(Skip),
}

impl fmt::Display for NoteOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteOutcome::Created { id } => write!(f, "MR note created (note {id})"),
            NoteOutcome::Updated { id } => write!(f, "MR note updated (note {id})"),
            NoteOutcome::Skipped(skip) => write!(f, "{skip}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("`{var}` is `{value}`, which is not a merge request IID")]
    BadIid { var: &'static str, value: String },
    #[error("`{0}` is not a variable name (letters, digits and `_`)")]
    BadTokenVariable(String),
    #[error("`{var}` is not set, so the GitLab API cannot be reached")]
    MissingContext { var: &'static str },
    #[error("GitLab answered {status} to {method} {path}: {message}{hint}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
        hint: &'static str,
    },
    #[error("could not reach GitLab for {method} {path}: {detail}")]
    Network {
        method: Method,
        path: String,
        detail: String,
    },
    #[error("GitLab's answer to {method} {path} is not the expected JSON: {detail}")]
    Decode {
        method: Method,
        path: String,
        detail: String,
    },
    #[error("could not start the HTTP client: {0}")]
    Client(String),
    #[error(
        "`{var}` holds a control, space or non-ASCII character inside the token, so it cannot be sent in an HTTP header (check how the variable was stored)"
    )]
    BadToken { var: String },
    #[error(
        "`{var}` is `{url}`: the token is only sent over https (or plain http to this machine)"
    )]
    InsecureUrl { var: &'static str, url: String },
    #[error("GitLab did not answer within the {0}s publishing time limit (`--publish-timeout`)")]
    TimedOut(u64),
}

/// How hard to try: `attempts` in total, waiting `first_delay`, then twice as long each time.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_secs(1),
        }
    }
}

/// Everything the note needs from the environment, or the reason to skip it.
fn resolve_target(
    token_variable: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Result<(MrTarget, Token), Skip>, NoteError> {
    if !is_variable_name(token_variable) {
        return Err(NoteError::BadTokenVariable(token_variable.to_owned()));
    }
    let set = |var: &str| env(var).filter(|v| !v.trim().is_empty());
    let Some(iid_text) = set(ci::CI_MERGE_REQUEST_IID) else {
        return Ok(Err(Skip::NotAMergeRequest));
    };
    let mr_iid = iid_text
        .trim()
        .parse::<u64>()
        .map_err(|_| NoteError::BadIid {
            var: ci::CI_MERGE_REQUEST_IID,
            value: iid_text.clone(),
        })?;
    let token = match set(token_variable) {
        Some(token) if token_variable != ci::CI_JOB_TOKEN => {
            let token = token.trim();
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(NoteError::BadToken {
                    var: token_variable.to_owned(),
                });
            }
            Token::new(token)
        }
        _ if token_variable == ci::CI_JOB_TOKEN || set(ci::CI_JOB_TOKEN).is_some() => {
            let token_variable = if token_variable == ci::CI_JOB_TOKEN {
                ours::GITLAB_TOKEN.to_owned()
            } else {
                token_variable.to_owned()
            };
            return Ok(Err(Skip::JobTokenOnly { token_variable }));
        }
        _ => {
            return Ok(Err(Skip::NoToken {
                token_variable: token_variable.to_owned(),
            }));
        }
    };
    let api_url = set(ci::CI_API_V4_URL).ok_or(NoteError::MissingContext {
        var: ci::CI_API_V4_URL,
    })?;
    if !super::is_safe_api_url(&api_url) {
        return Err(NoteError::InsecureUrl {
            var: ci::CI_API_V4_URL,
            url: api_url,
        });
    }
    let project_id = set(ci::CI_PROJECT_ID).ok_or(NoteError::MissingContext {
        var: ci::CI_PROJECT_ID,
    })?;
    Ok(Ok((
        MrTarget {
            api_url: api_url.trim().trim_end_matches('/').to_owned(),
            project_id: project_id.trim().to_owned(),
            mr_iid,
        },
        token,
    )))
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The note body: marker first, then the summary, cut at a line boundary to GitLab's limit
/// with a line saying so. Pure.
fn note_body(summary: &str) -> String {
    note_body_within(summary, NOTE_LIMIT_CHARS)
}

fn note_body_within(summary: &str, limit_chars: usize) -> String {
    const CUT: &str = "\n\n_Summary truncated to fit GitLab's note size limit; the full summary \
                       is in the report job's artifacts._\n";
    let head = format!("{MARKER}\n");
    let total = head.chars().count() + summary.chars().count();
    if total <= limit_chars {
        return head + summary;
    }
    let budget = limit_chars.saturating_sub(head.chars().count() + CUT.chars().count());
    let byte_end = summary
        .char_indices()
        .nth(budget)
        .map_or(summary.len(), |(i, _)| i);
    let kept = &summary[..byte_end];
    // Never cut inside a line (a table row or a tag): drop the partial last line.
    let kept = kept.rfind('\n').map_or(kept, |i| &kept[..i]);
    head + kept + CUT
}

#[derive(Debug, Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    system: bool,
    author: Option<Author>,
}

#[derive(Debug, Deserialize)]
struct Author {
    id: u64,
}

/// A small GitLab client: base URL, token, retries. No logging of headers, ever.
struct Client {
    http: reqwest::Client,
    api_url: String,
    token: Token,
    retry: RetryPolicy,
}

impl Client {
    pub fn new(api_url: &str, token: Token, retry: RetryPolicy) -> Result<Self, NoteError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("parallel-pytest/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // reqwest drops only `Authorization` on a redirect, never `PRIVATE-TOKEN`: an API
            // call that is redirected fails instead of carrying the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NoteError::Client(e.to_string()))?;
        Ok(Client {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            token,
            retry,
        })
    }

    /// Sends one request that is safe to repeat, retrying on 5xx, 429 and network errors with
    /// exponential backoff. Returns the successful response's JSON and the `x-next-page` header.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(serde_json::Value, Option<String>), NoteError> {
        self.send_tries(method, path, query, body, self.retry.attempts)
            .await
    }

    /// [`Client::send`] with at most `attempts` tries.
    async fn send_tries(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        attempts: u32,
    ) -> Result<(serde_json::Value, Option<String>), NoteError> {
        let url = format!("{}{path}", self.api_url);
        let mut delay = self.retry.first_delay;
        let attempts = attempts.max(1);
        for attempt in 1..=attempts {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("PRIVATE-TOKEN", self.token.expose())
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = attempt == attempts;
            let response = match request.send().await {
                Ok(response) => response,
                Err(_) if !last => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    continue;
                }
                Err(err) => {
                    return Err(NoteError::Network {
                        method,
                        path: path.to_owned(),
                        // reqwest's message holds the URL, never our headers.
                        detail: without_url(&err),
                    });
                }
            };
            let status = response.status();
            if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) && !last {
                let wait = retry_after(&response).unwrap_or(delay);
                tokio::time::sleep(wait).await;
                delay *= 2;
                continue;
            }
            let next_page = response
                .headers()
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(NoteError::Status {
                    method,
                    path: path.to_owned(),
                    status: status.as_u16(),
                    message: error_message(&text),
                    hint: status_hint(status),
                });
            }
            let json = serde_json::from_str(&text).map_err(|e| NoteError::Decode {
                method: method.clone(),
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
            return Ok((json, next_page));
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// The id of the user the token acts as: only notes by that user are ever edited (anyone
    /// can post the marker).
    async fn our_user_id(&self) -> Result<u64, NoteError> {
        let (json, _) = self.send(Method::GET, "/user", &[], None).await?;
        json["id"].as_u64().ok_or_else(|| NoteError::Decode {
            method: Method::GET,
            path: "/user".into(),
            detail: "no numeric `id` in the user".into(),
        })
    }

    /// Our earlier note on this MR, if any: the oldest one by `me` starting with the marker.
    async fn find_note(&self, target: &MrTarget, me: u64) -> Result<Option<u64>, NoteError> {
        let path = target.notes_path();
        let mut page = 1u32;
        loop {
            let query = [
                ("sort", "asc".to_owned()),
                ("order_by", "created_at".to_owned()),
                ("per_page", "100".to_owned()),
                ("page", page.to_string()),
            ];
            let (json, next) = self.send(Method::GET, &path, &query, None).await?;
            let notes: Vec<Note> = serde_json::from_value(json).map_err(|e| NoteError::Decode {
                method: Method::GET,
                path: path.clone(),
                detail: e.to_string(),
            })?;
            let ours = |n: &&Note| {
                !n.system
                    && n.author.as_ref().is_some_and(|a| a.id == me)
                    && n.body.starts_with(MARKER)
            };
            if let Some(note) = notes.iter().find(ours) {
                return Ok(Some(note.id));
            }
            match next.and_then(|n| n.parse::<u32>().ok()) {
                Some(next) if next > page && next <= MAX_NOTE_PAGES => page = next,
                _ => return Ok(None),
            }
        }
    }

    /// Create the note, or edit ours in place when an earlier pipeline made one.
    pub async fn upsert_note(
        &self,
        target: &MrTarget,
        summary: &str,
    ) -> Result<NoteOutcome, NoteError> {
        let body = serde_json::json!({ "body": note_body(summary) });
        let me = self.our_user_id().await?;
        match self.find_note(target, me).await? {
            Some(id) => {
                let path = format!("{}/{id}", target.notes_path());
                self.send(Method::PUT, &path, &[], Some(&body)).await?;
                Ok(NoteOutcome::Updated { id })
            }
            None => self.create_note(target, me, &body).await,
        }
    }

    /// `POST`s the note. A create that failed with a 5xx or a network error may still have
    /// committed, so before each retry we look for it and never post a second one.
    async fn create_note(
        &self,
        target: &MrTarget,
        me: u64,
        body: &serde_json::Value,
    ) -> Result<NoteOutcome, NoteError> {
        let notes = target.notes_path();
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts.max(1) {
            let err = match self
                .send_tries(Method::POST, &notes, &[], Some(body), 1)
                .await
            {
                Ok((json, _)) => {
                    let id = json["id"].as_u64().ok_or_else(|| NoteError::Decode {
                        method: Method::POST,
                        path: notes.clone(),
                        detail: "no numeric `id` in the created note".into(),
                    })?;
                    return Ok(NoteOutcome::Created { id });
                }
                Err(err) => err,
            };
            let retryable = match &err {
                NoteError::Network { .. } => true,
                NoteError::Status { status, .. } => *status >= 500 || *status == 429,
                _ => false,
            };
            if !retryable || attempt == self.retry.attempts.max(1) {
                return Err(err);
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            if let Some(id) = self.find_note(target, me).await? {
                return Ok(NoteOutcome::Created { id });
            }
        }
        unreachable!("the loop returns on its last attempt")
    }
}

/// Post or update the MR note from the CI environment (`env` is the process environment in the
/// binary). A skip is `Ok(Skipped)`; an HTTP or context problem is `Err`.
pub fn publish_mr_note(
    summary: &str,
    token_variable: &str,
    env: &dyn Fn(&str) -> Option<String>,
    retry: RetryPolicy,
    deadline: Duration,
) -> Result<NoteOutcome, NoteError> {
    let (target, token) = match resolve_target(token_variable, env)? {
        Ok(found) => found,
        Err(skip) => return Ok(NoteOutcome::Skipped(skip)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NoteError::Client(e.to_string()))?;
    let client = Client::new(&target.api_url, token, retry)?;
    runtime.block_on(async {
        tokio::time::timeout(deadline, client.upsert_note(&target, summary))
            .await
            .unwrap_or(Err(NoteError::TimedOut(deadline.as_secs())))
    })
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}

fn status_hint(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => " (hint: the token is invalid or expired)",
        StatusCode::FORBIDDEN => {
            " (hint: the token needs the `api` scope and at least the Reporter role on the project)"
        }
        StatusCode::NOT_FOUND => {
            " (hint: check `CI_PROJECT_ID` and `CI_MERGE_REQUEST_IID`, and that the token can see the project)"
        }
        s if s.is_redirection() => {
            " (hint: API calls do not follow redirects, so the token never goes elsewhere; set `CI_API_V4_URL` to the final address)"
        }
        _ => "",
    }
}

/// GitLab errors look like `{"message": ...}` or `{"error": ...}`; keep the message short.
fn error_message(text: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            let m = v.get("message").or_else(|| v.get("error"))?;
            Some(match m {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
        .unwrap_or_else(|| text.trim().to_owned());
    let message: String = message.chars().take(300).collect();
    if message.is_empty() {
        "(empty body)".into()
    } else {
        message
    }
}

fn without_url(err: &reqwest::Error) -> String {
    let mut msg = err.to_string();
    if let Some(url) = err.url() {
        msg = msg.replace(url.as_str(), "<GitLab API>");
    }
    msg
}

/// Percent-encode one path segment (a project path like `group/project` becomes
/// `group%2Fproject`, as the GitLab API expects).
pub(super) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const CTX: &[(&str, &str)] = &[
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4/"),
        ("CI_PROJECT_ID", "42"),
        ("CI_MERGE_REQUEST_IID", "7"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        CTX.iter().chain(extra).copied().collect()
    }

    #[test]
    fn token_from_the_named_variable() {
        let env = env_of(&with(&[
            ("MY_TOKEN", " glpat-secret\n"),
            ("CI_JOB_TOKEN", "job"),
        ]));
        let (target, token) = resolve_target("MY_TOKEN", &env).unwrap().unwrap();
        assert_eq!(
            target,
            MrTarget {
                api_url: "https://gitlab.example.com/api/v4".into(),
                project_id: "42".into(),
                mr_iid: 7
            }
        );
        assert_eq!(token, Token::new("glpat-secret"));
        assert_eq!(format!("{token:?}"), "Token(***)");
    }

    #[test]
    fn job_token_only_is_explained_not_failed() {
        let env = env_of(&with(&[("CI_JOB_TOKEN", "job")]));
        let skip = resolve_target("MY_TOKEN", &env).unwrap().unwrap_err();
        assert_eq!(
            skip,
            Skip::JobTokenOnly {
                token_variable: "MY_TOKEN".into()
            }
        );
        let text = skip.to_string();
        assert!(
            text.contains("`CI_JOB_TOKEN` cannot post merge request notes"),
            "{text}"
        );
        assert!(text.contains("`MY_TOKEN`"), "{text}");
        // Pointing `token_variable` at the job token itself is the same mistake.
        let skip = resolve_target("CI_JOB_TOKEN", &env).unwrap().unwrap_err();
        assert!(matches!(skip, Skip::JobTokenOnly { .. }), "{skip:?}");
    }

    #[test]
    fn skips_and_errors() {
        let no_mr = env_of(&[("MY_TOKEN", "t")]);
        assert_eq!(
            resolve_target("MY_TOKEN", &no_mr).unwrap().unwrap_err(),
            Skip::NotAMergeRequest
        );
        let no_token = env_of(CTX);
        assert_eq!(
            resolve_target("MY_TOKEN", &no_token).unwrap().unwrap_err(),
            Skip::NoToken {
                token_variable: "MY_TOKEN".into()
            }
        );
        let err = resolve_target("MY-TOKEN", &no_token).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`MY-TOKEN` is not a variable name (letters, digits and `_`)"
        );
        let bad_iid = env_of(&[("CI_MERGE_REQUEST_IID", "x7"), ("T", "t")]);
        assert_eq!(
            resolve_target("T", &bad_iid).unwrap_err().to_string(),
            "`CI_MERGE_REQUEST_IID` is `x7`, which is not a merge request IID"
        );
        let no_api = env_of(&[("CI_MERGE_REQUEST_IID", "7"), ("T", "t")]);
        assert_eq!(
            resolve_target("T", &no_api).unwrap_err().to_string(),
            "`CI_API_V4_URL` is not set, so the GitLab API cannot be reached"
        );
    }

    #[test]
    fn body_starts_with_the_marker_and_fits_the_limit() {
        assert_eq!(note_body("hello"), format!("{MARKER}\nhello"));
        let summary = "| row | ü |\n".repeat(200);
        let body = note_body_within(&summary, 500);
        assert!(body.chars().count() <= 500, "{}", body.chars().count());
        assert!(body.starts_with(MARKER));
        assert!(body.contains("truncated"));
        // Only whole lines survive.
        let kept = body
            .strip_prefix(&format!("{MARKER}\n"))
            .unwrap()
            .split("\n\n_Summary truncated")
            .next()
            .unwrap();
        assert!(kept.lines().all(|l| l == "| row | ü |"), "{kept:?}");
        // At the real limit.
        let huge = "x\n".repeat(NOTE_LIMIT_CHARS);
        assert!(note_body(&huge).chars().count() <= NOTE_LIMIT_CHARS);
    }

    #[test]
    fn project_paths_are_encoded() {
        assert_eq!(encode_segment("42"), "42");
        assert_eq!(encode_segment("group/sub project"), "group%2Fsub%20project");
    }
}
