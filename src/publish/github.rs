//! GitHub: a check run carrying every annotation (beyond the 10-per-step limit of workflow
//! commands) and one sticky pull-request comment, through octocrab.
//!
//! The split is the usual one: pure functions build the request bodies and size them to GitHub's
//! limits (tested without a network); `Api` sends them with retries; `publish` ties both together
//! and never fails the caller — it returns what it did, skipped or could not do, and why, so the
//! report command can say so in the job summary and decide the exit code.

use std::time::Duration;

mod api;

use octocrab::secrecy::SecretString;
use serde_json::{Value, json};

use crate::env_vars::ci;
use crate::report::escape::{md_inline, url_path};
use crate::report::{Annotation, Level, Rendered};
use crate::text::{count, floor_char_boundary, truncate_bytes};
use api::{Api, ApiError};

/// Checks API: annotations per create/update request.
const ANNOTATIONS_PER_REQUEST: usize = 50;
/// Checks API: `name`, `output.title` and annotation `title`. GitHub counts every text limit in
/// bytes, so all of them are cut on a UTF-8 boundary with [`truncate_bytes`].
const MAX_TITLE_BYTES: usize = 255;
/// Checks API: `output.summary` / `output.text` ("exceeds a maximum bytesize").
const MAX_SUMMARY_BYTES: usize = 65_535;
/// Checks API: an annotation's `message` / `raw_details` (64 KB).
const MAX_ANNOTATION_TEXT_BYTES: usize = 64 * 1024;
/// Issue comment body.
const MAX_COMMENT_BYTES: usize = 65_536;
/// Annotations we send at most (20 requests); the rest are counted in the summary instead.
const MAX_ANNOTATIONS: usize = 1_000;
/// Comment pages (100 each) searched for the sticky comment.
const MAX_COMMENT_PAGES: u32 = 30;
const DEFAULT_API_URL: &str = "https://api.github.com";
/// Who the workflow's `GITHUB_TOKEN` comments as.
const ACTIONS_BOT: &str = "github-actions[bot]";

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
    /// Head repository differs from the base.
    pub from_fork: bool,
    /// A `pull_request` run from a fork: GitHub hands it a read-only token, so writes must fail
    /// (`pull_request_target` runs in the base repository and may write).
    pub read_only: bool,
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
        if event.is_none() && event_name.starts_with("pull_request") {
            return Err(format!(
                "`{}` is not set, so the pull request of this `{event_name}` run is unknown",
                ci::GITHUB_EVENT_PATH
            ));
        }
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
    let from_fork = matches!((head, base), (Some(h), Some(b)) if h != b);
    Some(PullRequest {
        number,
        from_fork,
        read_only: from_fork && event_name == "pull_request",
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
    /// Everything sent, retries included, finishes within this time or is given up.
    pub deadline: Duration,
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

/// Fits Markdown and the `notes` that must always be read after it into `max` bytes: the
/// Markdown is cut at a line break, every block it leaves open (`<pre>`, a code fence,
/// `<details>`) is closed so the notes render as text, and a line says that it was cut.
fn fit_markdown(markdown: &str, notes: &str, max: usize) -> String {
    if markdown.len() + notes.len() <= max {
        return format!("{markdown}{notes}");
    }
    const CUT: &str =
        "\n\n*… truncated to fit GitHub's size limit; the job summary has the full report.*\n";
    // Room for the closers added below: at most a fence, a `</pre>` and ten `</details>`.
    const CLOSERS: usize = 200;
    let budget = max.saturating_sub(CUT.len() + notes.len() + CLOSERS);
    let head = &markdown[..floor_char_boundary(markdown, budget)];
    let mut out = head[..head.rfind('\n').unwrap_or(0)].to_owned();
    if out.matches("<pre>").count() > out.matches("</pre>").count() {
        out.push_str("\n</pre>");
    }
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    let open = out.matches("<details").count();
    let closed = out.matches("</details>").count();
    for _ in closed..open.min(closed + 10) {
        out.push_str("\n</details>");
    }
    out.push_str(CUT);
    out.push_str(notes);
    truncate_bytes(&out, max)
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
        "title": truncate_bytes(&a.title, MAX_TITLE_BYTES),
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
    let title = truncate_bytes(&rendered.headline, MAX_TITLE_BYTES);
    let total = rendered.annotations.len();
    let notes = if total > MAX_ANNOTATIONS {
        format!(
            "\n\n{} were not sent as annotations (at most {MAX_ANNOTATIONS} per check run); the \
             job summary lists every failure.\n",
            count((total - MAX_ANNOTATIONS) as u64, "failure", "failures")
        )
    } else {
        String::new()
    };
    let summary = fit_markdown(&rendered.markdown, &notes, MAX_SUMMARY_BYTES);
    let annotations: Vec<Value> = rendered
        .annotations
        .iter()
        .take(MAX_ANNOTATIONS)
        .map(annotation_json)
        .collect();
    let mut batches = annotations.chunks(ANNOTATIONS_PER_REQUEST);

    let mut create = json!({
        "name": truncate_bytes(name, MAX_TITLE_BYTES),
        "head_sha": ctx.head_sha,
        "status": "completed",
        // Failures `--fail-on new` forgives are neither a success nor a failure of this change.
        "conclusion": match (rendered.green, rendered.passes) {
            (true, _) => "success",
            (false, true) => "neutral",
            (false, false) => "failure",
        },
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

/// The hidden marker that identifies our sticky comment (one per check-run name). The name is
/// percent-encoded (`%` included, so distinct names never share a marker), keeping only
/// characters that can neither end the HTML comment nor break the line.
pub fn comment_marker(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b" ._/".contains(&b) {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    format!("<!-- parallel-pytest report: {key} -->")
}

/// The comment: our marker, the check name (two matrix jobs keep two comments, and a reader can
/// tell them apart), then the report cut to GitHub's limit.
fn comment_body(rendered: &Rendered, name: &str) -> String {
    let head = format!(
        "{}\n<sub>check: <code>{}</code></sub>\n\n",
        comment_marker(name),
        md_inline(name)
    );
    let budget = MAX_COMMENT_BYTES.saturating_sub(head.len());
    format!("{head}{}", fit_markdown(&rendered.markdown, "", budget))
}

/// The oldest comment written by `login` that starts with our marker. Anyone may post the
/// marker; only the token's own comments are ever edited.
fn find_sticky<'a>(comments: &'a [Value], marker: &str, login: &str) -> Option<&'a Value> {
    comments.iter().find(|c| {
        c.pointer("/user/login").and_then(Value::as_str) == Some(login)
            && c.get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.starts_with(marker))
    })
}

/// Why a 403 happened, in words a user can act on.
fn forbidden_reason(what: &str, permission: &str, err: &ApiError) -> String {
    format!(
        "the token may not {what} ({err}). Give the report job `permissions: {permission}: write`."
    )
}

/// Why nothing is sent at all, when that is known before any request.
fn reason_to_send_nothing(ctx: &Context, token: Option<&SecretString>) -> Option<Step> {
    if ctx.pull_request.as_ref().is_some_and(|pr| pr.read_only) {
        return Some(Step::Skipped(
            "this pull request comes from a fork, and GitHub gives its workflows a read-only \
             token, so nothing was sent (no `permissions:` setting can change that); the job \
             summary and the workflow-command annotations carry the report"
                .into(),
        ));
    }
    let Some(token) = token else {
        return Some(Step::Skipped(format!(
            "no GitHub token (set `{}` or `--github-token`)",
            ci::GITHUB_TOKEN
        )));
    };
    api::check_token(token)
        .err()
        .map(|why| Step::Failed(format!("{why}; nothing was sent")))
}

/// Publishes what was asked for, within `opts.deadline` in total. Never fails: every outcome,
/// including errors, comes back as a `Step` for the caller to report.
pub fn publish(
    rendered: &Rendered,
    ctx: &Context,
    token: Option<&SecretString>,
    opts: &Options,
) -> Outcome {
    let mut outcome = Outcome::default();
    let comment_wanted_here = opts.comment && ctx.pull_request.is_some();
    if opts.comment && !comment_wanted_here {
        outcome.comment = Some(Step::Skipped("this run is not for a pull request".into()));
    }
    let mut set_all = |step: Step| {
        if opts.check_run {
            outcome.check_run = Some(step.clone());
        }
        if comment_wanted_here {
            outcome.comment = Some(step);
        }
    };
    if let Some(step) = reason_to_send_nothing(ctx, token) {
        set_all(step);
        return outcome;
    }
    let (Some(token), true) = (token, opts.check_run || comment_wanted_here) else {
        return outcome;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            set_all(Step::Failed(format!("cannot start the async runtime: {e}")));
            return outcome;
        }
    };
    let (check_run, comment) =
        runtime.block_on(send_all(rendered, ctx, token, opts, comment_wanted_here));
    if check_run.is_some() {
        outcome.check_run = check_run;
    }
    if comment.is_some() {
        outcome.comment = comment;
    }
    outcome
}

/// The check run and the comment (each when wanted), within `opts.deadline` together.
async fn send_all(
    rendered: &Rendered,
    ctx: &Context,
    token: &SecretString,
    opts: &Options,
    comment_wanted: bool,
) -> (Option<Step>, Option<Step>) {
    // octocrab's client needs the runtime already running.
    let api = match Api::new(&ctx.api_url, token, opts.retry) {
        Ok(api) => api,
        Err(why) => {
            let failed = Step::Failed(why);
            return (
                opts.check_run.then(|| failed.clone()),
                comment_wanted.then_some(failed),
            );
        }
    };
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let out_of_time = || {
        Step::Failed(format!(
            "GitHub did not answer within the {}s publishing time limit (`--publish-timeout`)",
            opts.deadline.as_secs()
        ))
    };
    let mut check_run = None;
    if opts.check_run {
        let send = send_check_run(&api, rendered, ctx, &opts.name);
        let step = tokio::time::timeout_at(deadline, send).await;
        check_run = Some(step.unwrap_or_else(|_| out_of_time()));
    }
    let mut comment = None;
    if comment_wanted {
        let send = send_comment(&api, rendered, ctx, &opts.name);
        let step = tokio::time::timeout_at(deadline, send).await;
        comment = Some(step.unwrap_or_else(|_| out_of_time()));
    }
    (check_run, comment)
}

/// The check run with our `external_id` on the head commit, if the create went through after
/// all.
async fn made_check_run(
    api: &Api,
    ctx: &Context,
    name: &str,
    external_id: &str,
) -> Result<Option<Value>, ApiError> {
    let route = format!(
        "/repos/{}/{}/commits/{}/check-runs?check_name={}&filter=all&per_page=100",
        ctx.owner,
        ctx.repo,
        url_path(&ctx.head_sha),
        url_path(name)
    );
    let listed = api.send("GET", &route, None).await?;
    Ok(listed
        .get("check_runs")
        .and_then(Value::as_array)
        .and_then(|runs| {
            runs.iter()
                .find(|r| r.get("external_id").and_then(Value::as_str) == Some(external_id))
        })
        .cloned())
}

async fn send_check_run(api: &Api, rendered: &Rendered, ctx: &Context, name: &str) -> Step {
    let base = format!("/repos/{}/{}/check-runs", ctx.owner, ctx.repo);
    let mut bodies = check_run_bodies(rendered, ctx, name);
    // Tells our check run apart from one an earlier attempt of the job made on the same commit.
    let external_id = format!("parallel-pytest-{:016x}", rand::random::<u64>());
    bodies[0]["external_id"] = json!(external_id);
    let name = bodies[0]["name"].as_str().unwrap_or_default().to_owned();
    let made = || made_check_run(api, ctx, &name, &external_id);
    let created = match api.create(&base, &bodies[0], made).await {
        Ok(v) => v,
        Err(err @ ApiError::Status { status: 403, .. }) => {
            return Step::Forbidden(
                forbidden_reason("create check runs", "checks", &err)
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

/// The login the token acts as. A personal or user token can ask `GET /user`; the workflow's
/// `GITHUB_TOKEN` (an app installation token) cannot, and acts as `github-actions[bot]`.
async fn our_login(api: &Api) -> Result<String, ApiError> {
    match api.send("GET", "/user", None).await {
        Ok(user) => user
            .get("login")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Transport("`GET /user` returned no `login`".into())),
        Err(ApiError::Status {
            status: 401 | 403 | 404,
            ..
        }) => Ok(ACTIONS_BOT.to_owned()),
        Err(err) => Err(err),
    }
}

/// Our sticky comment: the oldest one by `login` carrying `marker`, searched page by page.
async fn find_comment(
    api: &Api,
    list: &str,
    marker: &str,
    login: &str,
) -> Result<Option<Value>, ApiError> {
    for page in 1..=MAX_COMMENT_PAGES {
        let route = format!("{list}?per_page=100&page={page}");
        let comments = match api.send("GET", &route, None).await? {
            Value::Array(items) => items,
            _ => {
                return Err(ApiError::Transport(
                    "listing the comments did not return a list".into(),
                ));
            }
        };
        if let Some(found) = find_sticky(&comments, marker, login) {
            return Ok(Some(found.clone()));
        }
        if comments.len() < 100 {
            break;
        }
    }
    Ok(None)
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
    let found = match our_login(api).await {
        Ok(login) => find_comment(api, &list, &marker, &login)
            .await
            .map(|c| (c, login)),
        Err(err) => Err(err),
    };
    let (existing, login) = match found {
        Ok(found) => found,
        Err(
            err @ ApiError::Status {
                status: 403 | 404, ..
            },
        ) => {
            return Step::Forbidden(forbidden_reason(
                "read the pull request's comments",
                "pull-requests",
                &err,
            ));
        }
        Err(err) => return Step::Failed(format!("listing the comments: {err}")),
    };
    let body = json!({ "body": comment_body(rendered, name) });
    let id = existing.as_ref().and_then(|c| c.get("id")?.as_u64());
    let (result, verb) = match id {
        Some(id) => {
            let route = format!("/repos/{}/{}/issues/comments/{id}", ctx.owner, ctx.repo);
            (api.send("PATCH", &route, Some(&body)).await, "updated")
        }
        None => {
            let made = || find_comment(api, &list, &marker, &login);
            (api.create(&list, &body, made).await, "created")
        }
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
            passes: false,
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
    fn failures_that_fail_on_new_forgives_are_a_neutral_check() {
        let conclusion = |green, passes| {
            let rendered = Rendered {
                green,
                passes,
                ..Rendered::default()
            };
            check_run_bodies(&rendered, &ctx(), "tests")[0]["conclusion"].clone()
        };
        assert_eq!(conclusion(true, true), "success");
        assert_eq!(conclusion(false, true), "neutral");
        assert_eq!(conclusion(false, false), "failure");
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
        let out = fit_markdown(&md, "", 1000);
        assert!(out.len() <= 1000, "{}", out.len());
        assert_eq!(out.matches("```").count() % 2, 0);
        assert!(out.contains("truncated"));
        assert_eq!(fit_markdown("short", "", 10), "short");
    }

    #[test]
    fn truncation_keeps_the_notes_outside_any_open_block() {
        let md = format!(
            "# t\n<details><summary>x</summary>\n\n<pre>\n{}</pre>\n</details>\n",
            "é traceback line\n".repeat(10_000)
        );
        let notes = "\n\n12 failures were not sent as annotations.\n";
        let out = fit_markdown(&md, notes, 5_000);
        assert!(out.len() <= 5_000, "{}", out.len());
        assert!(out.ends_with(notes), "{}", &out[out.len() - 200..]);
        assert_eq!(out.matches("<pre>").count(), out.matches("</pre>").count());
        assert_eq!(
            out.matches("<details>").count(),
            out.matches("</details>").count()
        );
        let pre_closed = out.rfind("</pre>").unwrap();
        assert!(pre_closed < out.find("truncated").unwrap());
    }

    #[test]
    fn markers_differ_for_names_differing_in_punctuation() {
        let names = [
            "tests (3.11)",
            "tests [3.11]",
            "tests _3.11_",
            "tests %283.11%29",
        ];
        let markers: std::collections::BTreeSet<String> =
            names.iter().map(|n| comment_marker(n)).collect();
        assert_eq!(markers.len(), names.len(), "{markers:?}");
        let body = comment_body(
            &Rendered {
                headline: String::new(),
                markdown: "# report".into(),
                annotations: Vec::new(),
                green: true,
                passes: true,
            },
            "tests (3.11)",
        );
        assert!(body.contains("<code>tests (3.11)</code>"), "{body}");
    }

    #[test]
    fn sticky_comment_is_found_by_marker_and_marker_cannot_be_closed() {
        let marker = comment_marker("tests --> x");
        assert!(!marker[4..marker.len() - 3].contains("--"), "{marker}");
        let by = |id: u64, login: &str, body: String| json!({"id": id, "body": body, "user": {"login": login}});
        let comments = vec![
            by(1, "alice", "hello".into()),
            by(2, "mallory", format!("{marker}\nplanted first")),
            by(3, ACTIONS_BOT, format!("{marker}\nold")),
            by(4, ACTIONS_BOT, format!("{marker}\nnewer duplicate")),
        ];
        let id = |c: Option<&Value>| c.and_then(|c| c["id"].as_u64());
        assert_eq!(id(find_sticky(&comments, &marker, ACTIONS_BOT)), Some(3));
        assert_eq!(id(find_sticky(&comments, &marker, "mallory")), Some(2));
        assert_eq!(
            find_sticky(&comments, &comment_marker("other"), ACTIONS_BOT),
            None
        );
    }

    #[test]
    fn retry_only_what_can_succeed_later() {
        use api::retry_hint;
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
                from_fork: true,
                read_only: true,
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
