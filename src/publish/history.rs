//! Fetch one file of the report artifact of an earlier run (the timings store, the results
//! file) through the forge's API: GitHub Actions artifacts, GitLab job artifacts.
//!
//! The report job uploads a small artifact of its own (GitHub: [`DEFAULT_ARTIFACT`], holding
//! `timings.json`; GitLab: the `parallel-pytest-report` job's `.parallel-pytest-report/`
//! folder). [`fetch_report_file`] finds the latest successful run of a branch that has it and
//! returns one named file with where it came from.
//!
//! Tokens go to the API host only. GitHub answers an artifact download with a redirect to a
//! storage host: that request is sent by a client without any credentials (reqwest would drop
//! only `Authorization` on a redirect, never `PRIVATE-TOKEN`/`JOB-TOKEN`, so no redirect is
//! ever followed automatically). Every size is bounded, and of a zip only the one named entry
//! at its top level is read.
//!
//! Nothing here fails a command: the caller turns every [`FetchError`] into a warning.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::gitlab::encode_segment;
use crate::env_vars::{ci, ours};
use crate::timings::{RunOrigin, origin};

/// GitHub: name of the artifact the action's report job uploads (one place: action.yml uses
/// `<artifact-name>-history`, and a test checks the two agree).
pub const DEFAULT_ARTIFACT: &str = "parallel-pytest-history";
/// GitLab: the component's report job and the folder its artifact holds.
pub const GITLAB_REPORT_JOB: &str = "parallel-pytest-report";
pub const GITLAB_REPORT_DIR: &str = ".parallel-pytest-report";
/// The timings store inside the artifact.
pub const STORE_FILE: &str = "timings.json";
/// The results file in the same artifact (`report --results-out`), a base run's for the
/// comparison.
pub const RESULTS_FILE: &str = "results.json";

/// Largest file taken out of an artifact, and largest download.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
const MAX_DOWNLOAD_BYTES: u64 = 256 * 1024 * 1024;
/// Largest API answer (a JSON listing).
const MAX_JSON_BYTES: u64 = 8 * 1024 * 1024;
/// Successful runs looked at for the artifact (a run whose report job was skipped has none).
const RUNS_TO_TRY: u32 = 5;

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Option<Self> {
        let s = s.into().trim().to_owned();
        (!s.is_empty()).then_some(Secret(s))
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where to look, read from the CI variables.
#[derive(Debug, Clone)]
pub enum Platform {
    Github(GithubSource),
    Gitlab(GitlabSource),
}

#[derive(Debug, Clone)]
pub struct GithubSource {
    /// `GITHUB_API_URL` without a trailing `/`.
    pub api_url: String,
    /// `owner/repo`.
    pub repository: String,
    pub token: Option<Secret>,
    /// The workflow file (`ci.yml`) from `GITHUB_WORKFLOW_REF`; `None`: any workflow's runs.
    pub workflow: Option<String>,
    pub artifact: String,
    /// From the event payload (`repository.default_branch`).
    pub default_branch: Option<String>,
    /// `GITHUB_BASE_REF` (pull requests).
    pub base_ref: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GitlabSource {
    /// `CI_API_V4_URL` without a trailing `/`.
    pub api_url: String,
    pub project_id: String,
    /// `CI_JOB_TOKEN`: may read this project's job artifacts.
    pub job_token: Option<Secret>,
    /// The access token (`--token-variable`), tried when the job token is refused.
    pub access_token: Option<Secret>,
    pub job: String,
    /// The artifact folder, relative to the repository (`<working dir>/.parallel-pytest-report`).
    pub dir: String,
    /// `CI_DEFAULT_BRANCH`.
    pub default_branch: Option<String>,
    /// `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`.
    pub base_ref: Option<String>,
}

impl Platform {
    /// GitHub Actions or GitLab CI from the environment; `None` elsewhere. `root` is the project
    /// folder (GitLab artifact paths are relative to the checkout).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>, root: &Path) -> Option<Platform> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if get(ci::GITHUB_ACTIONS).as_deref() == Some("true") {
            let event: Option<Value> = get(ci::GITHUB_EVENT_PATH)
                .and_then(|p| std::fs::read(p).ok())
                .and_then(|b| serde_json::from_slice(&b).ok());
            let default_branch = event
                .as_ref()
                .and_then(|e| e["repository"]["default_branch"].as_str())
                .map(str::to_owned);
            return Some(Platform::Github(GithubSource {
                api_url: get(ci::GITHUB_API_URL)
                    .unwrap_or_else(|| "https://api.github.com".into())
                    .trim_end_matches('/')
                    .to_owned(),
                repository: get(ci::GITHUB_REPOSITORY)?,
                token: get(ours::GITHUB_TOKEN)
                    .or_else(|| get(ci::GITHUB_TOKEN))
                    .and_then(Secret::new),
                workflow: get(ci::GITHUB_WORKFLOW_REF).and_then(|r| workflow_file(&r)),
                artifact: get(ours::HISTORY_ARTIFACT).unwrap_or_else(|| DEFAULT_ARTIFACT.into()),
                default_branch,
                base_ref: get(ci::GITHUB_BASE_REF),
            }));
        }
        if get(ci::GITLAB_CI).as_deref() == Some("true") {
            let token_var = get(ours::TOKEN_VARIABLE).unwrap_or_else(|| ours::GITLAB_TOKEN.into());
            let prefix = get(ci::CI_PROJECT_DIR)
                .and_then(|d| root.strip_prefix(d).ok().map(Path::to_path_buf))
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let dir = if prefix.is_empty() || prefix == "." {
                GITLAB_REPORT_DIR.to_owned()
            } else {
                format!("{}/{GITLAB_REPORT_DIR}", prefix.trim_matches('/'))
            };
            return Some(Platform::Gitlab(GitlabSource {
                api_url: get(ci::CI_API_V4_URL)?.trim_end_matches('/').to_owned(),
                project_id: get(ci::CI_PROJECT_ID)?,
                job_token: get(ci::CI_JOB_TOKEN).and_then(Secret::new),
                access_token: (token_var != ci::CI_JOB_TOKEN)
                    .then(|| get(&token_var))
                    .flatten()
                    .and_then(Secret::new),
                job: GITLAB_REPORT_JOB.into(),
                dir,
                default_branch: get(ci::CI_DEFAULT_BRANCH),
                base_ref: get(ci::CI_MERGE_REQUEST_TARGET_BRANCH_NAME),
            }));
        }
        None
    }

    pub fn name(&self) -> &'static str {
        match self {
            Platform::Github(_) => "GitHub",
            Platform::Gitlab(_) => "GitLab",
        }
    }

    /// The repository's default branch, when the CI variables name it.
    pub fn default_branch(&self) -> Option<&str> {
        match self {
            Platform::Github(g) => g.default_branch.as_deref(),
            Platform::Gitlab(g) => g.default_branch.as_deref(),
        }
    }

    /// The pull/merge request's target branch, when this is one.
    pub fn base_ref(&self) -> Option<&str> {
        match self {
            Platform::Github(g) => g.base_ref.as_deref(),
            Platform::Gitlab(g) => g.base_ref.as_deref(),
        }
    }
}

/// `owner/repo/.github/workflows/ci.yml@refs/heads/main` → `ci.yml`.
fn workflow_file(workflow_ref: &str) -> Option<String> {
    let path = workflow_ref.split('@').next()?;
    let file = path.rsplit('/').next()?;
    (file.ends_with(".yml") || file.ends_with(".yaml")).then(|| file.to_owned())
}

/// Where a timings store (or results file) came from: shown by `plan`/`run` and carried by
/// the plan JSON. From the API (GitHub's workflow run) and from the store's own `provenance`
/// ([`RunOrigin`], which `report` records), whichever says more; read back from files of other
/// runs, so [`SourceInfo::checked`] vets every field before it is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `GitHub` or `GitLab`.
    pub platform: String,
    /// The branch whose run it is (empty when unknown).
    #[serde(rename = "ref")]
    pub reference: String,
    /// GitHub's workflow run id, GitLab's pipeline id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    /// GitLab's job id (of the report job that wrote the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When that run was created (API) or its report wrote the store; RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Longest URL kept from an API answer.
const MAX_URL_BYTES: usize = 2048;

impl SourceInfo {
    /// From a store's own provenance alone (a cached or committed store).
    pub fn from_origin(o: &RunOrigin) -> SourceInfo {
        SourceInfo {
            platform: o.platform.clone(),
            reference: o.reference.clone().unwrap_or_default(),
            run_id: o.run_id,
            job_id: o.job_id,
            commit: o.commit.clone(),
            date: o.date.clone(),
            url: None,
        }
    }

    /// Fills what the API left out from the store's provenance. The API's values stand (it
    /// named the run it served); the store's fill the gaps, when they are of the same
    /// platform and the same run (or the API named none, as GitLab's raw endpoint).
    pub fn filled_from(mut self, o: &RunOrigin) -> SourceInfo {
        let same_run = self.run_id.is_none() || o.run_id.is_none() || self.run_id == o.run_id;
        if o.platform != self.platform || !same_run {
            return self;
        }
        self.run_id = self.run_id.or(o.run_id);
        self.job_id = self.job_id.or(o.job_id);
        if self.commit.is_none() {
            self.commit.clone_from(&o.commit);
        }
        if self.date.is_none() {
            self.date.clone_from(&o.date);
        }
        if self.reference.is_empty()
            && let Some(r) = &o.reference
        {
            self.reference.clone_from(r);
        }
        self
    }

    /// Every field vetted as [`RunOrigin`]'s are; a field that fails is dropped, an unknown
    /// platform drops it all. For anything read back from a file.
    pub fn checked(self) -> Option<SourceInfo> {
        let platform = origin::valid_platform(&self.platform)?.to_owned();
        Some(SourceInfo {
            platform,
            reference: origin::valid_ref(&self.reference).unwrap_or_default(),
            run_id: self.run_id.filter(|n| *n > 0),
            job_id: self.job_id.filter(|n| *n > 0),
            commit: self.commit.as_deref().and_then(origin::valid_commit),
            date: self.date.as_deref().and_then(origin::valid_date),
            url: self.url.filter(|u| {
                u.len() <= MAX_URL_BYTES
                    && u.starts_with("https://")
                    && !u.chars().any(|c| c.is_control() || c.is_whitespace())
            }),
        })
    }
}

impl fmt::Display for SourceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.platform)?;
        if !self.reference.is_empty() {
            write!(f, " `{}`", self.reference)?;
        }
        if let Some(id) = self.run_id {
            let word = if self.platform == "GitLab" {
                "pipeline"
            } else {
                "run"
            };
            write!(f, " {word} {id}")?;
        }
        if let Some(id) = self.job_id {
            write!(f, " job {id}")?;
        }
        if let Some(c) = &self.commit {
            write!(f, " commit {}", &c[..c.len().min(12)])?;
        }
        if let Some(d) = &self.date {
            write!(f, " of {d}")?;
        }
        Ok(())
    }
}

/// Why nothing was fetched. Every one is a warning to the caller, never a failure.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    NotFound(String),
    #[error(
        "no token: set `{}` (or `GITHUB_TOKEN`) with `actions: read`",
        ours::GITHUB_TOKEN
    )]
    NoGithubToken,
    #[error("no token: neither `CI_JOB_TOKEN` nor an access token is set")]
    NoGitlabToken,
    #[error("{what}: HTTP {status}{hint}")]
    Status {
        what: String,
        status: u16,
        hint: &'static str,
    },
    #[error("the artifact `{name}` of run {run_id} has expired")]
    Expired { name: String, run_id: u64 },
    #[error("{what}: {reason}")]
    Network { what: String, reason: String },
    #[error("{what}: larger than the {limit} bytes allowed")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: {reason}")]
    Bad { what: String, reason: String },
    #[error("refusing to send a token to `{0}` (only https, or http to this machine)")]
    UnsafeUrl(String),
    #[error("gave up after {0:.0} s (the time limit)")]
    Timeout(f64),
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token was refused)",
        403 => " (the token may not read Actions artifacts: the job needs `actions: read`)",
        404 => " (not found, or not visible to this token)",
        410 => " (expired)",
        _ => "",
    }
}

/// The file and where it came from.
pub type Fetched = (Vec<u8>, SourceInfo);

/// `file_name` out of the report artifact of the latest successful run on `reference` (a branch
/// name). `Ok(None)`: that branch has no such run, artifact or file. Every HTTP, permission or
/// parse problem is an `Err` with the reason; the whole fetch stops at `timeout`.
pub fn fetch_report_file(
    platform: &Platform,
    reference: &str,
    file_name: &str,
    timeout: Duration,
) -> Result<Option<Fetched>, FetchError> {
    match fetch_report_file_or_why(platform, reference, file_name, timeout) {
        Ok(f) => Ok(Some(f)),
        Err(FetchError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// As [`fetch_report_file`], with "nothing there" as [`FetchError::NotFound`] and its reason.
pub fn fetch_report_file_or_why(
    platform: &Platform,
    reference: &str,
    file_name: &str,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    fetch(platform, reference, None, file_name, timeout)
}

/// As [`fetch_report_file`], from a run of exactly `commit` on `reference` (GitHub's
/// `head_sha` filter: e.g. a pull request's `base.sha`). GitLab's artifact endpoint cannot
/// select by commit: there it is the latest successful pipeline of `reference`, as the
/// returned [`SourceInfo`] says (its `commit` is `None`).
pub fn fetch_report_file_of_commit(
    platform: &Platform,
    reference: &str,
    commit: &str,
    file_name: &str,
    timeout: Duration,
) -> Result<Option<Fetched>, FetchError> {
    match fetch(platform, reference, Some(commit), file_name, timeout) {
        Ok(f) => Ok(Some(f)),
        Err(FetchError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn fetch(
    platform: &Platform,
    reference: &str,
    commit: Option<&str>,
    file_name: &str,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    // A plain file name: it becomes a URL path segment (GitLab) and is matched against the
    // zip's top-level entries (GitHub); `..` or a separator would mean something else.
    if file_name.is_empty()
        || matches!(file_name, "." | "..")
        || file_name.contains(['/', '\\', '?', '#', '%'])
    {
        return Err(FetchError::Bad {
            what: format!("the file name `{file_name}`"),
            reason: "expected a plain file name of the artifact, such as `timings.json`".into(),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Network {
            what: "starting the async runtime".into(),
            reason: e.to_string(),
        })?;
    runtime.block_on(async {
        let work = async {
            match platform {
                Platform::Github(g) => github(g, reference, commit, file_name).await,
                Platform::Gitlab(g) => gitlab(g, reference, file_name).await,
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(FetchError::Timeout(timeout.as_secs_f64())))
    })
}

fn client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .user_agent(concat!("parallel-pytest/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        // Redirects are followed by hand, without credentials.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| FetchError::Network {
            what: "creating the HTTP client".into(),
            reason: e.to_string(),
        })
}

fn check_url(url: &str) -> Result<(), FetchError> {
    if super::is_safe_api_url(url) {
        Ok(())
    } else {
        Err(FetchError::UnsafeUrl(url.to_owned()))
    }
}

/// Reads a body, at most `limit` bytes.
async fn bounded_body(
    mut resp: reqwest::Response,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge {
            what: what.into(),
            limit,
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| net(what, &e))? {
        out.extend_from_slice(&chunk);
        if out.len() as u64 > limit {
            return Err(FetchError::TooLarge {
                what: what.into(),
                limit,
            });
        }
    }
    Ok(out)
}

fn net(what: &str, e: &reqwest::Error) -> FetchError {
    // Not `e.to_string()` alone: it can carry the URL, which is fine, but never a header.
    FetchError::Network {
        what: what.into(),
        reason: if e.is_timeout() {
            "timed out".into()
        } else if e.is_connect() {
            "cannot connect".into()
        } else {
            e.to_string()
        },
    }
}

/// The `Location` of a redirect, resolved against the request URL.
fn location(resp: &reqwest::Response, what: &str) -> Result<String, FetchError> {
    let raw = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| FetchError::Bad {
            what: what.into(),
            reason: format!("HTTP {} without a Location", resp.status().as_u16()),
        })?;
    resp.url()
        .join(raw)
        .map(|u| u.to_string())
        .map_err(|e| FetchError::Bad {
            what: what.into(),
            reason: format!("bad Location: {e}"),
        })
}

/// GET from a storage host the API redirected to: no credentials of any kind.
async fn storage_get(url: &str, what: &str) -> Result<Vec<u8>, FetchError> {
    check_url(url)?;
    let resp = client()?.get(url).send().await.map_err(|e| net(what, &e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            what: what.into(),
            status: status.as_u16(),
            hint: "",
        });
    }
    bounded_body(resp, what, MAX_DOWNLOAD_BYTES).await
}

#[derive(Debug, Deserialize)]
struct RunList {
    #[serde(default)]
    workflow_runs: Vec<Run>,
}

#[derive(Debug, Deserialize)]
struct Run {
    id: u64,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ArtifactList {
    #[serde(default)]
    artifacts: Vec<Artifact>,
}

#[derive(Debug, Deserialize)]
struct Artifact {
    id: u64,
    name: String,
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    size_in_bytes: u64,
}

async fn github(
    g: &GithubSource,
    reference: &str,
    commit: Option<&str>,
    file: &str,
) -> Result<Fetched, FetchError> {
    check_url(&g.api_url)?;
    let token = g.token.as_ref().ok_or(FetchError::NoGithubToken)?;
    let http = client()?;
    let api_get = |path: String, query: Vec<(&'static str, String)>| {
        http.get(format!("{}{path}", g.api_url))
            .query(&query)
            .bearer_auth(token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
    };
    let json = |what: &'static str, resp: reqwest::Response| async move {
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                what: what.into(),
                status: status.as_u16(),
                hint: hint(status.as_u16()),
            });
        }
        let body = bounded_body(resp, what, MAX_JSON_BYTES).await?;
        Ok::<Vec<u8>, FetchError>(body)
    };
    let runs_path = match &g.workflow {
        Some(w) => format!("/repos/{}/actions/workflows/{w}/runs", g.repository),
        None => format!("/repos/{}/actions/runs", g.repository),
    };
    let what = "listing the successful workflow runs";
    let mut query = vec![
        ("branch", reference.to_owned()),
        ("status", "success".to_owned()),
        ("per_page", RUNS_TO_TRY.to_string()),
    ];
    if let Some(sha) = commit {
        query.push(("head_sha", sha.to_owned()));
    }
    let resp = api_get(runs_path, query).await.map_err(|e| net(what, &e))?;
    let runs: RunList =
        serde_json::from_slice(&json(what, resp).await?).map_err(|e| FetchError::Bad {
            what: what.into(),
            reason: e.to_string(),
        })?;
    if runs.workflow_runs.is_empty() {
        return Err(FetchError::NotFound(format!(
            "no successful run{} on `{reference}`{}",
            g.workflow
                .as_deref()
                .map(|w| format!(" of `{w}`"))
                .unwrap_or_default(),
            commit
                .map(|c| format!(" at commit {}", &c[..c.len().min(12)]))
                .unwrap_or_default()
        )));
    }
    let mut expired = None;
    for run in runs.workflow_runs {
        let what = "listing the run's artifacts";
        let resp = api_get(
            format!("/repos/{}/actions/runs/{}/artifacts", g.repository, run.id),
            vec![("name", g.artifact.clone()), ("per_page", "10".into())],
        )
        .await
        .map_err(|e| net(what, &e))?;
        let list: ArtifactList =
            serde_json::from_slice(&json(what, resp).await?).map_err(|e| FetchError::Bad {
                what: what.into(),
                reason: e.to_string(),
            })?;
        let Some(artifact) = list.artifacts.into_iter().find(|a| a.name == g.artifact) else {
            continue;
        };
        if artifact.expired {
            expired.get_or_insert(FetchError::Expired {
                name: artifact.name,
                run_id: run.id,
            });
            continue;
        }
        if artifact.size_in_bytes > MAX_DOWNLOAD_BYTES {
            return Err(FetchError::TooLarge {
                what: format!("artifact `{}`", artifact.name),
                limit: MAX_DOWNLOAD_BYTES,
            });
        }
        let what = "downloading the artifact";
        let resp = api_get(
            format!(
                "/repos/{}/actions/artifacts/{}/zip",
                g.repository, artifact.id
            ),
            Vec::new(),
        )
        .await
        .map_err(|e| net(what, &e))?;
        let status = resp.status();
        let zip = if status.is_redirection() {
            let to = location(&resp, what)?;
            storage_get(&to, "downloading the artifact from its storage host").await?
        } else if status.is_success() {
            bounded_body(resp, what, MAX_DOWNLOAD_BYTES).await?
        } else if status == StatusCode::GONE {
            return Err(FetchError::Expired {
                name: artifact.name,
                run_id: run.id,
            });
        } else {
            return Err(FetchError::Status {
                what: what.into(),
                status: status.as_u16(),
                hint: hint(status.as_u16()),
            });
        };
        let bytes = file_from_zip(&zip, file)?.ok_or_else(|| {
            FetchError::NotFound(format!(
                "the artifact `{}` of run {} has no `{file}`",
                artifact.name, run.id
            ))
        })?;
        return Ok((
            bytes,
            SourceInfo {
                platform: "GitHub".into(),
                reference: reference.to_owned(),
                run_id: Some(run.id),
                job_id: None,
                commit: run.head_sha,
                date: run.created_at,
                url: run.html_url,
            },
        ));
    }
    Err(expired.unwrap_or_else(|| {
        FetchError::NotFound(format!(
            "no artifact `{}` in the latest successful runs on `{reference}`",
            g.artifact
        ))
    }))
}

/// The entry named exactly `name` at the zip's top level, at most [`MAX_FILE_BYTES`].
pub fn file_from_zip(zip: &[u8], name: &str) -> Result<Option<Vec<u8>>, FetchError> {
    let what = "reading the artifact zip";
    let bad = |reason: String| FetchError::Bad {
        what: what.into(),
        reason,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| bad(e.to_string()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        // Compared as given, never joined to a path: `../x` or `/x` simply is not `name`.
        if !entry.is_file() || entry.name() != name {
            continue;
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(FetchError::TooLarge {
                what: format!("`{name}` in the artifact"),
                limit: MAX_FILE_BYTES,
            });
        }
        let mut out = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| bad(e.to_string()))?;
        if out.len() as u64 > MAX_FILE_BYTES {
            return Err(FetchError::TooLarge {
                what: format!("`{name}` in the artifact"),
                limit: MAX_FILE_BYTES,
            });
        }
        return Ok(Some(out));
    }
    Ok(None)
}

async fn gitlab(g: &GitlabSource, reference: &str, file: &str) -> Result<Fetched, FetchError> {
    check_url(&g.api_url)?;
    let path = format!("{}/{file}", g.dir.trim_matches('/'));
    // Each segment of the artifact path encoded on its own: `/` stays a separator.
    let raw_path: Vec<String> = path.split('/').map(encode_segment).collect();
    let url = format!(
        "{}/projects/{}/jobs/artifacts/{}/raw/{}",
        g.api_url,
        encode_segment(&g.project_id),
        encode_segment(reference),
        raw_path.join("/")
    );
    let tokens: Vec<(&str, &Secret)> = [
        g.job_token.as_ref().map(|t| ("JOB-TOKEN", t)),
        g.access_token.as_ref().map(|t| ("PRIVATE-TOKEN", t)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if tokens.is_empty() {
        return Err(FetchError::NoGitlabToken);
    }
    let http = client()?;
    let what = format!("fetching `{path}` of job `{}` on `{reference}`", g.job);
    let mut refused = None;
    for (header, token) in tokens {
        let resp = http
            .get(&url)
            .query(&[("job", g.job.as_str())])
            .header(header, token.expose())
            .send()
            .await
            .map_err(|e| net(&what, &e))?;
        let status = resp.status();
        let bytes = if status.is_redirection() {
            let to = location(&resp, &what)?;
            storage_get(&to, &what).await?
        } else if status.is_success() {
            bounded_body(resp, &what, MAX_FILE_BYTES).await?
        } else if status == StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound(format!(
                "no successful job `{}` on `{reference}` with `{path}` (HTTP 404)",
                g.job
            )));
        } else if matches!(status.as_u16(), 401 | 403) {
            // The job token may not read here (another project's settings): try the next.
            refused = Some(FetchError::Status {
                what: what.clone(),
                status: status.as_u16(),
                hint: hint(status.as_u16()),
            });
            continue;
        } else {
            return Err(FetchError::Status {
                what,
                status: status.as_u16(),
                hint: hint(status.as_u16()),
            });
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(FetchError::TooLarge {
                what,
                limit: MAX_FILE_BYTES,
            });
        }
        return Ok((
            bytes,
            SourceInfo {
                platform: "GitLab".into(),
                reference: reference.to_owned(),
                run_id: None,
                job_id: None,
                commit: None,
                date: None,
                url: None,
            },
        ));
    }
    Err(refused.unwrap_or(FetchError::NoGitlabToken))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn only_the_named_top_level_entry_is_read() {
        let z = zip_of(&[
            ("../timings.json", b"evil"),
            ("sub/timings.json", b"nested"),
            ("timings.json", b"{}"),
        ]);
        assert_eq!(
            file_from_zip(&z, "timings.json").unwrap(),
            Some(b"{}".to_vec())
        );
        assert_eq!(file_from_zip(&z, "results.json").unwrap(), None);
        assert!(file_from_zip(b"not a zip", "timings.json").is_err());
    }

    #[test]
    fn only_plain_file_names_are_fetched() {
        let p = Platform::Gitlab(GitlabSource {
            api_url: "https://gl.example/api/v4".into(),
            project_id: "1".into(),
            job_token: None,
            access_token: None,
            job: GITLAB_REPORT_JOB.into(),
            dir: GITLAB_REPORT_DIR.into(),
            default_branch: None,
            base_ref: None,
        });
        for bad in ["", "..", "../x", "a/b", "a\\b", "x?y"] {
            let e = fetch_report_file(&p, "main", bad, Duration::from_secs(1)).unwrap_err();
            assert!(e.to_string().contains("plain file name"), "{bad}: {e}");
        }
    }

    #[test]
    fn workflow_file_from_its_ref() {
        assert_eq!(
            workflow_file("o/r/.github/workflows/ci.yml@refs/heads/main").as_deref(),
            Some("ci.yml")
        );
        assert_eq!(workflow_file("garbage"), None);
    }

    #[test]
    fn gitlab_artifact_dir_follows_the_working_directory() {
        let env = |k: &str| {
            match k {
                "GITLAB_CI" => Some("true"),
                "CI_API_V4_URL" => Some("https://gl.example/api/v4/"),
                "CI_PROJECT_ID" => Some("7"),
                "CI_PROJECT_DIR" => Some("/builds/g/p"),
                "CI_JOB_TOKEN" => Some("jt"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let Some(Platform::Gitlab(g)) = Platform::from_env(env, Path::new("/builds/g/p/app"))
        else {
            panic!("not GitLab")
        };
        assert_eq!(g.dir, "app/.parallel-pytest-report");
        assert_eq!(g.api_url, "https://gl.example/api/v4");
        assert!(format!("{g:?}").contains("Secret(***)"));
    }
}
