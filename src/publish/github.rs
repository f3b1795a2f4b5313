//! GitHub: a check run carrying every annotation (beyond the 10-per-step limit of workflow
//! commands) and one sticky pull-request comment, through octocrab.
//!
//! The split is the usual one: pure functions build the request bodies and size them to GitHub's
//! limits (tested without a network); `Api` sends them with retries; `publish` ties both together
//! and never fails the caller — it returns what it did, skipped or could not do, and why, so the
//! report command can say so in the job summary and decide the exit code.

use std::time::Duration;

use octocrab::secrecy::SecretString;
use serde_json::{Value, json};

use crate::env_vars::ci;
use crate::report::{Annotation, Level, Rendered};
use crate::text::{count, truncate_bytes, truncate_chars};

/// Checks API: annotations per create/update request.
const ANNOTATIONS_PER_REQUEST: usize = 50;
/// Checks API: `output.title` and annotation `title` length.
const MAX_TITLE_CHARS: usize = 255;
/// Checks API: `output.summary` / `output.text` length.
const MAX_SUMMARY_CHARS: usize = 65_535;
/// Checks API: an annotation's `message` / `raw_details` (64 KB).
const MAX_ANNOTATION_TEXT_BYTES: usize = 64 * 1024;
/// Issue comment body length.
const MAX_COMMENT_CHARS: usize = 65_536;
/// Annotations we send at most (20 requests); the rest are counted in the summary instead.
const MAX_ANNOTATIONS: usize = 1_000;
/// Comment pages (100 each) searched for the sticky comment.
const MAX_COMMENT_PAGES: u32 = 30;
const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where to publish, read from the runner's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// The commit the check run is attached to: the pull request's head, not the merge commit.
    pub head_sha: String,
    pub pull_request: Option<PullRequest>,
    /// Link from the check run to the workflow run.
    pub details_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// Head repository differs from the base: GitHub hands such runs a read-only token.
    pub from_fork: bool,
}

impl Context {
    /// Reads `GITHUB_API_URL`, `GITHUB_REPOSITORY`, `GITHUB_SHA`, `GITHUB_EVENT_NAME`, the event
    /// payload at `GITHUB_EVENT_PATH`, `GITHUB_SERVER_URL` and `GITHUB_RUN_ID`. `Err` names the
    /// missing or malformed variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Context, String> {
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let repository = non_empty(ci::GITHUB_REPOSITORY)
            .ok_or_else(|| format!("`{}` is not set", ci::GITHUB_REPOSITORY))?;
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                format!(
                    "`{}` is `{repository}`, expected `owner/name`",
                    ci::GITHUB_REPOSITORY
                )
            })?;
        let event: Option<Value> = match non_empty(ci::GITHUB_EVENT_PATH) {
            Some(path) => {
                let text = fs_err::read_to_string(&path).map_err(|e| {
                    format!(
                        "cannot read the event payload (`{}`): {e}",
                        ci::GITHUB_EVENT_PATH
                    )
                })?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| format!("the event payload `{path}` is not JSON: {e}"))?,
                )
            }
            None => None,
        };
        let event_name = non_empty(ci::GITHUB_EVENT_NAME).unwrap_or_default();
        let pull_request = pull_request_of(&event_name, event.as_ref());
        let head_sha = event
            .as_ref()
            .and_then(|e| e.pointer("/pull_request/head/sha"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| non_empty(ci::GITHUB_SHA))
            .ok_or_else(|| format!("`{}` is not set", ci::GITHUB_SHA))?;
        let server = non_empty(ci::GITHUB_SERVER_URL);
        let details_url = match (server, non_empty(ci::GITHUB_RUN_ID)) {
            (Some(server), Some(run)) => Some(format!(
                "{}/{repository}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        Ok(Context {
            api_url: non_empty(ci::GITHUB_API_URL)
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            head_sha,
            pull_request,
            details_url,
        })
    }
}

/// The pull request a run belongs to: only for `pull_request`/`pull_request_target` events.
fn pull_request_of(event_name: &str, event: Option<&Value>) -> Option<PullRequest> {
    if !matches!(event_name, "pull_request" | "pull_request_target") {
        return None;
    }
    let pr = event?.get("pull_request")?;
    let number = pr.get("number")?.as_u64()?;
    let head = pr.pointer("/head/repo/full_name").and_then(Value::as_str);
    let base = pr.pointer("/base/repo/full_name").and_then(Value::as_str);
    Some(PullRequest {
        number,
        from_fork: matches!((head, base), (Some(h), Some(b)) if h != b),
    })
}

/// How long to keep trying when GitHub answers 5xx or asks us to slow down.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total tries per request (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubled on each further one.
    pub base_delay: Duration,
    /// Longest single wait, including one asked for with `retry-after`; a longer one gives up.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub check_run: bool,
    pub comment: bool,
    /// Check-run name; also keys the sticky comment so two report jobs keep two comments.
    pub name: String,
    pub retry: RetryPolicy,
}

/// What happened to one kind of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Done; the line says what (e.g. the check-run URL).
    Done(String),
    /// Not attempted for a known reason (no token, not a pull request): not an error.
    Skipped(String),
    /// GitHub refused (403: read-only or fork token); the job summary says what was skipped.
    Forbidden(String),
    /// Tried and failed (after retries).
    Failed(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub check_run: Option<Step>,
    pub comment: Option<Step>,
}

impl Outcome {
    /// Human lines for the job summary and stderr, one per requested output.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for (what, step) in [
            ("check run", &self.check_run),
            ("PR comment", &self.comment),
        ] {
            match step {
                Some(Step::Done(msg)) => notes.push(format!("{what}: {msg}")),
                Some(Step::Skipped(msg)) | Some(Step::Forbidden(msg)) => {
                    notes.push(format!("{what} skipped: {msg}"))
                }
                Some(Step::Failed(msg)) => notes.push(format!("{what} failed: {msg}")),
                None => {}
            }
        }
        notes
    }

    /// A requested output could not be delivered: an error or a refusal (not a known skip such as
    /// "not a pull request").
    pub fn any_failed(&self) -> bool {
        [&self.check_run, &self.comment]
            .iter()
            .any(|s| matches!(s, Some(Step::Failed(_) | Step::Forbidden(_))))
    }

    /// The check run did not carry the annotations, so they must go out as workflow commands.
    pub fn annotations_need_fallback(&self) -> bool {
        !matches!(self.check_run, Some(Step::Done(_)))
    }
}

// ---------------------------------------------------------------------------------------------
// Pure: sizes and bodies.

/// Fits Markdown into `max` characters: cut at a line break, close an open code fence and
/// `<details>` blocks so the rest of the page still renders, and say that it was cut.
fn truncate_markdown(markdown: &str, max: usize) -> String {
    if markdown.chars().count() <= max {
        return markdown.to_owned();
    }
    const NOTE: &str =
        "\n\n*… truncated to fit GitHub's size limit; the job summary has the full report.*\n";
    // Reserve room for the note and the closers added below (each closer is short).
    let budget = max.saturating_sub(NOTE.chars().count() + 200);
    let head: String = markdown.chars().take(budget).collect();
    let cut = head.rfind('\n').unwrap_or(head.len());
    let mut out = head[..cut].to_owned();
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    let open = out.matches("<details").count();
    let closed = out.matches("</details>").count();
    for _ in closed..open.min(closed + 10) {
        out.push_str("\n</details>");
    }
    out.push_str(NOTE);
    out
}

/// The Checks API's `annotation_level`.
fn checks_level(level: Level) -> &'static str {
    match level {
        Level::Error => "failure",
        Level::Warning => "warning",
        Level::Notice => "notice",
    }
}

/// One annotation in the Checks API's shape. Check runs require a path and a line: an annotation
/// without a file goes on `.github` line 1.
fn annotation_json(a: &Annotation) -> Value {
    let start = a
        .line
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(1)
        .max(1);
    let mut v = json!({
        "path": a.file.as_deref().unwrap_or(".github"),
        "start_line": start,
        "end_line": start,
        "annotation_level": checks_level(a.level),
        "message": truncate_bytes(&a.message, MAX_ANNOTATION_TEXT_BYTES),
        "title": truncate_chars(&a.title, MAX_TITLE_CHARS),
    });
    if let Some(details) = &a.details {
        v["raw_details"] = json!(truncate_bytes(details, MAX_ANNOTATION_TEXT_BYTES));
    }
    v
}

/// The check-run requests: the create body (completed, with the first ≤ 50 annotations) followed
/// by one update body per further batch of ≤ 50 (GitHub appends annotations on each update).
/// Creating it completed means a failure half-way never leaves a check run "in progress" forever.
fn check_run_bodies(rendered: &Rendered, ctx: &Context, name: &str) -> Vec<Value> {
    let title = truncate_chars(&rendered.headline, MAX_TITLE_CHARS);
    let mut summary = rendered.markdown.clone();
    let total = rendered.annotations.len();
    if total > MAX_ANNOTATIONS {
        summary.push_str(&format!(
            "\n\n{} more annotations were not sent (at most {MAX_ANNOTATIONS} per check run).\n",
            total - MAX_ANNOTATIONS
        ));
    }
    let summary = truncate_markdown(&summary, MAX_SUMMARY_CHARS);
    let annotations: Vec<Value> = rendered
        .annotations
        .iter()
        .take(MAX_ANNOTATIONS)
        .map(annotation_json)
        .collect();
    let mut batches = annotations.chunks(ANNOTATIONS_PER_REQUEST);

    let mut create = json!({
        "name": truncate_chars(name, MAX_TITLE_CHARS),
        "head_sha": ctx.head_sha,
        "status": "completed",
        "conclusion": if rendered.green { "success" } else { "failure" },
        "output": {
            "title": title,
            "summary": summary,
            "annotations": batches.next().unwrap_or(&[]),
        },
    });
    if let Some(url) = &ctx.details_url {
        create["details_url"] = json!(url);
    }
    let mut bodies = vec![create];
    bodies.extend(batches.map(|batch| {
        json!({
            "output": { "title": title, "summary": summary, "annotations": batch },
        })
    }));
    bodies
}

/// The hidden marker that identifies our sticky comment (one per check-run name).
pub fn comment_marker(name: &str) -> String {
    // Only characters that cannot end the HTML comment or break the line.
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._/-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .replace("--", "__");
    format!("<!-- parallel-pytest report: {key} -->")
}

fn comment_body(rendered: &Rendered, name: &str) -> String {
    let marker = comment_marker(name);
    let budget = MAX_COMMENT_CHARS - marker.chars().count() - 1;
    format!(
        "{marker}\n{}",
        truncate_markdown(&rendered.markdown, budget)
    )
}

/// The id of the oldest comment carrying our marker.
fn find_sticky(comments: &[Value], marker: &str) -> Option<u64> {
    comments
        .iter()
        .find(|c| {
            c.get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.contains(marker))
        })
        .and_then(|c| c.get("id")?.as_u64())
}

// ---------------------------------------------------------------------------------------------
// Edge: HTTP with retries.

#[derive(Debug, Clone, PartialEq, Eq)]
enum ApiError {
    /// GitHub answered with an error status.
    Status { status: u16, message: String },
    /// No answer: connection refused, timeout, bad URL.
    Transport(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Status { status, message } if message.is_empty() => {
                write!(f, "HTTP {status}")
            }
            ApiError::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            ApiError::Transport(msg) => f.write_str(msg),
        }
    }
}

/// Whether an error response asks us to wait and retry, and for how long at least.
/// 5xx: yes. 429, or 403 with `retry-after`, an exhausted `x-ratelimit-remaining` or a
/// "rate limit" message (GitHub's secondary rate limits): yes. Any other 403: no — it is a
/// permission problem and retrying cannot fix it.
fn retry_hint(
    status: u16,
    retry_after: Option<u64>,
    remaining_zero: bool,
    message: &str,
) -> Option<Option<Duration>> {
    let asked = retry_after.map(Duration::from_secs);
    if status >= 500 {
        return Some(asked);
    }
    let rate_limited = retry_after.is_some()
        || remaining_zero
        || message.to_ascii_lowercase().contains("rate limit");
    if status == 429 || (status == 403 && rate_limited) {
        return Some(asked);
    }
    None
}

struct Api {
    client: octocrab::Octocrab,
    retry: RetryPolicy,
}

impl Api {
    fn new(api_url: &str, token: &SecretString, retry: RetryPolicy) -> Result<Api, String> {
        let client = octocrab::Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| format!("`{}` is not a URL (`{api_url}`): {e}", ci::GITHUB_API_URL))?
            .personal_token(token.clone())
            // Our own loop below retries, reading GitHub's rate-limit headers.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .add_header(
                http::header::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".to_owned(),
            )
            .build()
            .map_err(|e| format!("cannot set up the GitHub client: {e}"))?;
        Ok(Api { client, retry })
    }

    /// Sends one request, retrying on 5xx, rate limits and transport errors with exponential
    /// backoff. Returns the parsed JSON body of a 2xx answer.
    async fn send(
        &self,
        method: &str,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (err, hint) = match self.send_once(method, route, body).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let retryable = hint.is_some();
            let wait = hint.flatten();
            if !retryable || attempt >= self.retry.attempts.max(1) {
                return Err(err);
            }
            let backoff = self
                .retry
                .base_delay
                .saturating_mul(1 << (attempt - 1).min(16));
            let delay = wait.unwrap_or(backoff).max(backoff);
            if delay > self.retry.max_delay {
                return Err(err);
            }
            eprintln!(
                "parallel-pytest: GitHub {method} {route}: {err}; retrying in {}s",
                delay.as_secs_f32()
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One try. `Err((error, Some(wait)))` when it is worth retrying (wait: what GitHub asked for).
    async fn send_once(
        &self,
        method: &str,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Value, (ApiError, Option<Option<Duration>>)> {
        let response = match method {
            "GET" => self.client._get(route).await,
            "POST" => self.client._post(route, body).await,
            "PATCH" => self.client._patch(route, body).await,
            other => unreachable!("method {other} is not used"),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return Err((ApiError::Transport(transport_message(&e)), Some(None))),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let remaining_zero = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
        let text = self
            .client
            .body_to_string(response)
            .await
            .map_err(|e| (ApiError::Transport(transport_message(&e)), Some(None)))?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                (
                    ApiError::Transport(format!("HTTP {status} with a body that is not JSON: {e}")),
                    None,
                )
            });
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| truncate_chars(text.trim(), 200));
        let hint = retry_hint(status, retry_after, remaining_zero, &message);
        Err((ApiError::Status { status, message }, hint))
    }
}

/// octocrab's error with its source chain, on one line (never includes the token: octocrab keeps
/// it in a `SecretString`).
fn transport_message(err: &octocrab::Error) -> String {
    let mut msg = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// Why a 403 happened, in words a user can act on.
fn forbidden_reason(ctx: &Context, what: &str, permission: &str, err: &ApiError) -> String {
    let fork = if ctx.pull_request.as_ref().is_some_and(|pr| pr.from_fork) {
        " This pull request comes from a fork, and GitHub gives fork runs a read-only token."
    } else {
        ""
    };
    format!(
        "the token may not {what} ({err}).{fork} Give the report job `permissions: {permission}: write`."
    )
}

/// Publishes what was asked for. Never fails: every outcome, including errors, comes back as a
/// `Step` for the caller to report.
pub fn publish(
    rendered: &Rendered,
    ctx: &Context,
    token: Option<&SecretString>,
    opts: &Options,
) -> Outcome {
    let mut outcome = Outcome::default();
    if !opts.check_run && !opts.comment {
        return outcome;
    }
    let comment_wanted_here = opts.comment && ctx.pull_request.is_some();
    if opts.comment && !comment_wanted_here {
        outcome.comment = Some(Step::Skipped("this run is not for a pull request".into()));
    }
    let Some(token) = token else {
        let why = format!(
            "no GitHub token (set `{}` or `--github-token`)",
            ci::GITHUB_TOKEN
        );
        if opts.check_run {
            outcome.check_run = Some(Step::Skipped(why.clone()));
        }
        if comment_wanted_here {
            outcome.comment = Some(Step::Skipped(why));
        }
        return outcome;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("cannot start the async runtime: {e}");
            outcome.check_run = opts.check_run.then(|| Step::Failed(why.clone()));
            if comment_wanted_here {
                outcome.comment = Some(Step::Failed(why));
            }
            return outcome;
        }
    };
    runtime.block_on(async {
        let api = match Api::new(&ctx.api_url, token, opts.retry) {
            Ok(api) => api,
            Err(why) => {
                outcome.check_run = opts.check_run.then(|| Step::Failed(why.clone()));
                if comment_wanted_here {
                    outcome.comment = Some(Step::Failed(why));
                }
                return;
            }
        };
        if opts.check_run {
            outcome.check_run = Some(send_check_run(&api, rendered, ctx, &opts.name).await);
        }
        if comment_wanted_here {
            outcome.comment = Some(send_comment(&api, rendered, ctx, &opts.name).await);
        }
    });
    outcome
}

async fn send_check_run(api: &Api, rendered: &Rendered, ctx: &Context, name: &str) -> Step {
    let base = format!("/repos/{}/{}/check-runs", ctx.owner, ctx.repo);
    let bodies = check_run_bodies(rendered, ctx, name);
    let created = match api.send("POST", &base, Some(&bodies[0])).await {
        Ok(v) => v,
        Err(err @ ApiError::Status { status: 403, .. }) => {
            return Step::Forbidden(
                forbidden_reason(ctx, "create check runs", "checks", &err)
                    + " Annotations went out as workflow commands instead.",
            );
        }
        Err(err) => return Step::Failed(format!("creating the check run: {err}")),
    };
    let Some(id) = created.get("id").and_then(Value::as_u64) else {
        return Step::Failed("GitHub's answer to creating the check run has no `id`".into());
    };
    let url = created
        .get("html_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("id {id}"));
    let batches = bodies.len();
    for (i, body) in bodies.iter().enumerate().skip(1) {
        if let Err(err) = api.send("PATCH", &format!("{base}/{id}"), Some(body)).await {
            return Step::Failed(format!(
                "check run {url} was created, but adding annotation batch {} of {batches} failed: {err}",
                i + 1
            ));
        }
    }
    let sent = rendered.annotations.len().min(MAX_ANNOTATIONS);
    Step::Done(format!(
        "{url} with {}",
        count(sent as u64, "annotation", "annotations")
    ))
}

async fn send_comment(api: &Api, rendered: &Rendered, ctx: &Context, name: &str) -> Step {
    let Some(pr) = &ctx.pull_request else {
        return Step::Skipped("this run is not for a pull request".into());
    };
    let marker = comment_marker(name);
    let list = format!(
        "/repos/{}/{}/issues/{}/comments",
        ctx.owner, ctx.repo, pr.number
    );
    let mut existing = None;
    for page in 1..=MAX_COMMENT_PAGES {
        let comments = match api
            .send("GET", &format!("{list}?per_page=100&page={page}"), None)
            .await
        {
            Ok(Value::Array(items)) => items,
            Ok(_) => return Step::Failed("listing the comments did not return a list".into()),
            Err(
                err @ ApiError::Status {
                    status: 403 | 404, ..
                },
            ) => {
                return Step::Forbidden(forbidden_reason(
                    ctx,
                    "read the pull request's comments",
                    "pull-requests",
                    &err,
                ));
            }
            Err(err) => return Step::Failed(format!("listing the comments: {err}")),
        };
        existing = find_sticky(&comments, &marker);
        if existing.is_some() || comments.len() < 100 {
            break;
        }
    }
    let body = json!({ "body": comment_body(rendered, name) });
    let (result, verb) = match existing {
        Some(id) => (
            api.send(
                "PATCH",
                &format!("/repos/{}/{}/issues/comments/{id}", ctx.owner, ctx.repo),
                Some(&body),
            )
            .await,
            "updated",
        ),
        None => (api.send("POST", &list, Some(&body)).await, "created"),
    };
    match result {
        Ok(v) => Step::Done(format!(
            "{verb} {}",
            v.get("html_url")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("on pull request #{}", pr.number))
        )),
        Err(err @ ApiError::Status { status: 403, .. }) => Step::Forbidden(forbidden_reason(
            ctx,
            "comment on the pull request",
            "pull-requests",
            &err,
        )),
        Err(err) => Step::Failed(format!("writing the comment: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            api_url: DEFAULT_API_URL.into(),
            owner: "o".into(),
            repo: "r".into(),
            head_sha: "abc".into(),
            pull_request: None,
            details_url: Some("https://github.com/o/r/actions/runs/1".into()),
        }
    }

    fn ann(i: u64) -> Annotation {
        Annotation {
            file: Some(format!("tests/test_{i}.py")),
            line: Some(i),
            level: Level::Error,
            title: format!("test_{i} failed"),
            message: "assert 1 == 2".into(),
            details: None,
        }
    }

    #[test]
    fn check_run_bodies_batch_annotations_by_fifty() {
        let rendered = Rendered {
            headline: "1 failed".into(),
            markdown: "# hi".into(),
            annotations: (1..=120).map(ann).collect(),
            green: false,
        };
        let bodies = check_run_bodies(&rendered, &ctx(), "tests");
        let sizes: Vec<usize> = bodies
            .iter()
            .map(|b| b["output"]["annotations"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [50, 50, 20]);
        assert_eq!(bodies[0]["conclusion"], "failure");
        assert_eq!(bodies[0]["status"], "completed");
        assert!(bodies[1].get("status").is_none());
        assert_eq!(bodies[2]["output"]["annotations"][0]["start_line"], 101);
    }

    #[test]
    fn zero_line_becomes_line_one() {
        let v = annotation_json(&ann(0));
        assert_eq!(
            (v["start_line"].as_u64(), v["end_line"].as_u64()),
            (Some(1), Some(1))
        );
        let v = annotation_json(&Annotation {
            file: None,
            line: None,
            ..ann(3)
        });
        assert_eq!(
            (v["path"].as_str(), v["start_line"].as_u64()),
            (Some(".github"), Some(1))
        );
        assert_eq!(v["annotation_level"], "failure");
    }

    #[test]
    fn markdown_truncation_closes_fences_and_stays_in_budget() {
        let md = format!("# t\n```\n{}\n```\n", "x\n".repeat(50_000));
        let out = truncate_markdown(&md, 1000);
        assert!(out.chars().count() <= 1000, "{}", out.chars().count());
        assert_eq!(out.matches("```").count() % 2, 0);
        assert!(out.contains("truncated"));
        assert_eq!(truncate_markdown("short", 10), "short");
    }

    #[test]
    fn sticky_comment_is_found_by_marker_and_marker_cannot_be_closed() {
        let marker = comment_marker("tests --> x");
        assert!(!marker[4..marker.len() - 3].contains("--"), "{marker}");
        let comments = vec![
            json!({"id": 1, "body": "hello"}),
            json!({"id": 2, "body": format!("{marker}\nold")}),
            json!({"id": 3, "body": format!("{marker}\nnewer duplicate")}),
        ];
        assert_eq!(find_sticky(&comments, &marker), Some(2));
        assert_eq!(find_sticky(&comments, &comment_marker("other")), None);
    }

    #[test]
    fn retry_only_what_can_succeed_later() {
        assert!(retry_hint(502, None, false, "").is_some());
        assert!(retry_hint(429, None, false, "").is_some());
        assert_eq!(
            retry_hint(
                403,
                Some(3),
                false,
                "You have exceeded a secondary rate limit"
            ),
            Some(Some(Duration::from_secs(3)))
        );
        assert!(retry_hint(403, None, false, "secondary rate limit").is_some());
        assert!(retry_hint(403, None, true, "").is_some());
        assert!(retry_hint(403, None, false, "Resource not accessible by integration").is_none());
        assert!(retry_hint(404, None, false, "").is_none());
        assert!(retry_hint(422, None, false, "").is_none());
    }

    #[test]
    fn context_from_env_prefers_the_pull_request_head() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request":{"number":7,"head":{"sha":"headsha","repo":{"full_name":"fork/r"}},"base":{"repo":{"full_name":"o/r"}}}}"#,
        )
        .unwrap();
        let vars = [
            (ci::GITHUB_REPOSITORY, "o/r"),
            (ci::GITHUB_SHA, "mergesha"),
            (ci::GITHUB_EVENT_NAME, "pull_request"),
            (ci::GITHUB_EVENT_PATH, event.to_str().unwrap()),
            (ci::GITHUB_API_URL, "https://ghe.example/api/v3/"),
            (ci::GITHUB_SERVER_URL, "https://ghe.example"),
            (ci::GITHUB_RUN_ID, "42"),
        ];
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let ctx = Context::from_env(get).unwrap();
        assert_eq!(ctx.head_sha, "headsha");
        assert_eq!(ctx.api_url, "https://ghe.example/api/v3");
        assert_eq!(
            ctx.pull_request,
            Some(PullRequest {
                number: 7,
                from_fork: true
            })
        );
        assert_eq!(
            ctx.details_url.as_deref(),
            Some("https://ghe.example/o/r/actions/runs/42")
        );

        let err = Context::from_env(|k| (k == ci::GITHUB_REPOSITORY).then(|| "nope".to_string()))
            .unwrap_err();
        assert!(err.contains("`GITHUB_REPOSITORY` is `nope`"), "{err}");
    }
}
