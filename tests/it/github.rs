//! GitHub publishing against a local mock of the REST API (`mock_http`): the requests GitHub
//! would receive are asserted field by field and every request body is validated against GitHub's
//! own OpenAPI schemas (`../shared/github-api/schemas.json`, via `check-jsonschema`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use octocrab::secrecy::SecretString;
use parallel_pytest::publish::github::{self, Context, Options, PullRequest, RetryPolicy, Step};
use parallel_pytest::publish::{self, GithubOptions};
use parallel_pytest::report::{Annotation, Level, Rendered};
use serde_json::{Value, json};

use crate::harness::{repo_root, tool};
use crate::mock_http::{MockServer, Recorded, Reply};

pub(crate) const TOKEN: &str = "ghs_test_token_never_printed";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(2),
    }
}

fn ctx(mock: &MockServer, pr: Option<u64>) -> Context {
    Context {
        api_url: mock.url().to_owned(),
        owner: "octo".into(),
        repo: "demo".into(),
        head_sha: "0123456789abcdef0123456789abcdef01234567".into(),
        pull_request: pr.map(|number| PullRequest {
            number,
            from_fork: false,
            read_only: false,
        }),
        details_url: Some("https://github.com/octo/demo/actions/runs/99".into()),
    }
}

fn rendered(annotations: u32) -> Rendered {
    Rendered {
        headline: "3 failed, 117 passed".into(),
        markdown: "## parallel-pytest\n\n3 failed, 117 passed\n".into(),
        annotations: (1..=annotations)
            .map(|i| Annotation {
                file: Some(format!("tests/test_mod{}.py", i % 7)),
                line: Some(i.into()),
                level: if i % 2 == 0 {
                    Level::Error
                } else {
                    Level::Warning
                },
                title: format!("tests/test_mod{}.py::test_{i} failed", i % 7),
                message: format!("assert {i} == 0"),
                details: Some(format!("Traceback line {i}")),
            })
            .collect(),
        green: false,
        passes: false,
    }
}

fn options(check_run: bool, comment: bool) -> Options {
    Options {
        check_run,
        comment,
        name: "parallel-pytest".into(),
        retry: fast_retry(),
        deadline: Duration::from_secs(30),
    }
}

/// Publishes only the check run, outside a pull request.
fn publish_check_run(mock: &MockServer, input: &Rendered) -> github::Outcome {
    github::publish(
        input,
        &ctx(mock, None),
        Some(&token()),
        &options(true, false),
    )
}

fn token() -> SecretString {
    SecretString::from(TOKEN.to_owned())
}

/// Validates request bodies against `operations[op].request` of the shared GitHub schemas with
/// `check-jsonschema`. Skips (with a message) when `../shared` is absent, as in a user's clone.
pub(crate) fn validate(op: &str, bodies: &[Value]) {
    let schemas = repo_root().join("../shared/github-api/schemas.json");
    if !schemas.exists() {
        eprintln!(
            "skipping schema validation of {op}: `{}` not found (it exists only beside the team's checkout)",
            schemas.display()
        );
        return;
    }
    assert!(!bodies.is_empty(), "no {op} bodies to validate");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&schemas).unwrap()).unwrap();
    let mut schema = doc["operations"][op]["request"].clone();
    assert!(schema.is_object(), "no request schema for {op}");
    schema["$schema"] = doc["dialect"].clone();
    let dir = tempfile::tempdir().unwrap();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema.to_string()).unwrap();
    let mut cmd = std::process::Command::new(tool("check-jsonschema"));
    cmd.arg("--schemafile").arg(&schema_path);
    for (i, body) in bodies.iter().enumerate() {
        let path: PathBuf = dir.path().join(format!("body-{i}.json"));
        std::fs::write(&path, body.to_string()).unwrap();
        cmd.arg(path);
    }
    let out = cmd.output().expect("run check-jsonschema");
    assert!(
        out.status.success(),
        "{op} request bodies do not match GitHub's schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_api_headers(req: &Recorded) {
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str()),
        "{} {}",
        req.method,
        req.path
    );
    assert_eq!(req.header("x-github-api-version"), Some("2022-11-28"));
    if !req.body.is_empty() {
        assert_eq!(req.header("content-type"), Some("application/json"));
    }
}

/// GitHub's text limits, which it counts in bytes: a body over one gets GitHub's 422.
fn over_github_limits(req: &Recorded) -> Option<Reply> {
    let body = req.json();
    let bytes = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .map_or(0, str::len)
    };
    let mut fields = vec![
        ("name", bytes("/name"), 255),
        ("title", bytes("/output/title"), 255),
        ("summary", bytes("/output/summary"), 65_535),
        ("text", bytes("/output/text"), 65_535),
        ("body", bytes("/body"), 65_536),
    ];
    for (i, _) in body
        .pointer("/output/annotations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        fields.push((
            "message",
            bytes(&format!("/output/annotations/{i}/message")),
            65_536,
        ));
        fields.push((
            "raw_details",
            bytes(&format!("/output/annotations/{i}/raw_details")),
            65_536,
        ));
        fields.push((
            "title",
            bytes(&format!("/output/annotations/{i}/title")),
            255,
        ));
    }
    let (field, _, max) = fields.into_iter().find(|(_, len, max)| len > max)?;
    Some(Reply::json(
        422,
        json!({"message": "Invalid request.", "errors": [format!("{field} exceeds a maximum bytesize of {max}")]}),
    ))
}

const BOT: &str = "github-actions[bot]";

/// A stateful check-runs API: creates are stored (with their `external_id`) and listed per commit.
pub(crate) fn check_run_routes(mock: &MockServer, prefix: &str) -> Arc<Mutex<Vec<Value>>> {
    let runs = Arc::new(Mutex::new(Vec::<Value>::new()));
    let store = Arc::clone(&runs);
    mock.on_fn(
        "POST",
        &format!("{prefix}/repos/octo/demo/check-runs"),
        move |req| {
            if let Some(refused) = over_github_limits(req) {
                return refused;
            }
            let run = json!({
                "id": 4242 + store.lock().unwrap().len(),
                "html_url": "https://github.com/octo/demo/runs/4242",
                "name": req.json()["name"], "head_sha": req.json()["head_sha"],
                "external_id": req.json()["external_id"],
            });
            store.lock().unwrap().push(run.clone());
            Reply::json(201, run)
        },
    );
    mock.on_fn(
        "PATCH",
        &format!("{prefix}/repos/octo/demo/check-runs/4242"),
        |req| over_github_limits(req).unwrap_or_else(|| Reply::json(200, json!({"id": 4242}))),
    );
    let list = Arc::clone(&runs);
    mock.on_fn(
        "GET",
        &format!("{prefix}/repos/octo/demo/commits/*/check-runs"),
        move |req| {
            let sha = req.path.rsplit('/').nth(1).unwrap().to_owned();
            let runs: Vec<Value> = list
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r["head_sha"] == sha.as_str())
                .cloned()
                .collect();
            Reply::json(200, json!({"total_count": runs.len(), "check_runs": runs}))
        },
    );
    runs
}

#[test]
fn check_run_sends_at_most_fifty_annotations_per_request() {
    let mock = MockServer::start();
    check_run_routes(&mock, "");
    let input = rendered(120);
    let outcome = publish_check_run(&mock, &input);
    assert_eq!(
        outcome.check_run,
        Some(Step::Done(
            "https://github.com/octo/demo/runs/4242 with 120 annotations".into()
        ))
    );
    assert!(mock.unmatched().is_empty(), "{:?}", mock.unmatched());

    let reqs = mock.requests();
    let shape: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", "/repos/octo/demo/check-runs"),
            ("PATCH", "/repos/octo/demo/check-runs/4242"),
            ("PATCH", "/repos/octo/demo/check-runs/4242"),
        ]
    );
    reqs.iter().for_each(assert_api_headers);

    let create = reqs[0].json();
    assert_eq!(create["name"], "parallel-pytest");
    assert_eq!(
        create["head_sha"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(create["status"], "completed");
    assert_eq!(create["conclusion"], "failure");
    assert_eq!(
        create["details_url"],
        "https://github.com/octo/demo/actions/runs/99"
    );
    assert_eq!(create["output"]["title"], "3 failed, 117 passed");
    assert_eq!(
        create["output"]["summary"],
        "## parallel-pytest\n\n3 failed, 117 passed\n"
    );
    let first = &create["output"]["annotations"][0];
    assert_eq!(
        first,
        &json!({
            "path": "tests/test_mod1.py",
            "start_line": 1,
            "end_line": 1,
            "annotation_level": "warning",
            "title": "tests/test_mod1.py::test_1 failed",
            "message": "assert 1 == 0",
            "raw_details": "Traceback line 1",
        })
    );

    // Every annotation exactly once, in order, 1-based lines, ≤ 50 per request.
    let mut lines = Vec::new();
    for req in &reqs {
        let body = req.json();
        let batch = body["output"]["annotations"].as_array().unwrap();
        assert!(
            batch.len() <= 50,
            "{} annotations in one request",
            batch.len()
        );
        lines.extend(batch.iter().map(|a| a["start_line"].as_u64().unwrap()));
        if req.method == "PATCH" {
            assert!(body.get("status").is_none(), "updates only append");
            assert_eq!(body["output"]["title"], "3 failed, 117 passed");
        }
    }
    assert_eq!(lines, (1..=120).collect::<Vec<u64>>());
    let second_batch = reqs[1].json();
    let levels: Vec<&str> = second_batch["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|a| a["annotation_level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["warning", "failure"]);

    validate("checks/create", &[create]);
    validate(
        "checks/update",
        &reqs[1..].iter().map(Recorded::json).collect::<Vec<_>>(),
    );
}

#[test]
fn oversized_texts_are_cut_to_github_limits() {
    let mock = MockServer::start();
    check_run_routes(&mock, "");
    let mut input = rendered(1);
    // Non-ASCII text: GitHub counts bytes, and 65,535 characters of it are ~130 KB.
    input.headline = "é".repeat(1000);
    input.markdown = format!("# big\n{}", "lïne of tëxt ✓\n".repeat(20_000));
    input.annotations[0].title = "ü".repeat(400);
    input.annotations[0].message = "m€".repeat(50_000);
    input.green = true;
    let outcome = publish_check_run(&mock, &input);
    assert!(
        matches!(outcome.check_run, Some(Step::Done(_))),
        "{outcome:?}"
    );
    let body = mock.requests()[0].json();
    assert_eq!(body["conclusion"], "success");
    assert!(body["output"]["title"].as_str().unwrap().len() <= 255);
    let summary = body["output"]["summary"].as_str().unwrap();
    assert!(summary.len() <= 65_535, "{} bytes", summary.len());
    assert!(summary.len() > 60_000, "{} bytes", summary.len());
    assert!(summary.contains("truncated"));
    let ann = &body["output"]["annotations"][0];
    assert!(ann["title"].as_str().unwrap().len() <= 255);
    assert!(ann["message"].as_str().unwrap().len() <= 64 * 1024);
    validate("checks/create", &[body]);
}

/// A stateful stand-in for the issue-comments endpoints: the list shows what was created, and
/// the token is the workflow's `GITHUB_TOKEN` (which may not call `GET /user`).
pub(crate) fn comment_routes(mock: &MockServer) -> Arc<Mutex<Vec<Value>>> {
    mock.on(
        "GET",
        "/user",
        [Reply::json(
            403,
            json!({"message": "Resource not accessible by integration"}),
        )],
    );
    let comments = Arc::new(Mutex::new(vec![json!({
        "id": 1, "body": "LGTM from a human", "user": {"login": "alice"}
    })]));
    let list = Arc::clone(&comments);
    mock.on_fn("GET", "/repos/octo/demo/issues/17/comments", move |_| {
        Reply::json(200, Value::Array(list.lock().unwrap().clone()))
    });
    let created = Arc::clone(&comments);
    mock.on_fn("POST", "/repos/octo/demo/issues/17/comments", move |req| {
        if let Some(refused) = over_github_limits(req) {
            return refused;
        }
        let comment = json!({
            "id": 555,
            "user": {"login": BOT, "type": "Bot"},
            "body": req.json()["body"],
            "html_url": "https://github.com/octo/demo/pull/17#issuecomment-555",
        });
        created.lock().unwrap().push(comment.clone());
        Reply::json(201, comment)
    });
    let updated = Arc::clone(&comments);
    mock.on_fn("PATCH", "/repos/octo/demo/issues/comments/*", move |req| {
        if let Some(refused) = over_github_limits(req) {
            return refused;
        }
        let id: u64 = req.path.rsplit('/').next().unwrap().parse().unwrap();
        let mut all = updated.lock().unwrap();
        let Some(c) = all.iter_mut().find(|c| c["id"] == id) else {
            return Reply::json(404, json!({"message": "Not Found"}));
        };
        c["body"] = req.json()["body"].clone();
        Reply::json(200, c.clone())
    });
    comments
}

#[test]
fn sticky_comment_is_created_once_then_updated_in_place() {
    let mock = MockServer::start();
    let comments = comment_routes(&mock);
    let context = ctx(&mock, Some(17));

    let first = github::publish(
        &rendered(0),
        &context,
        Some(&token()),
        &options(false, true),
    );
    assert_eq!(
        first.comment,
        Some(Step::Done(
            "created https://github.com/octo/demo/pull/17#issuecomment-555".into()
        ))
    );
    let mut second_input = rendered(0);
    second_input.markdown = "## parallel-pytest\n\nall green now\n".into();
    second_input.green = true;
    let second = github::publish(
        &second_input,
        &context,
        Some(&token()),
        &options(false, true),
    );
    assert_eq!(
        second.comment,
        Some(Step::Done(
            "updated https://github.com/octo/demo/pull/17#issuecomment-555".into()
        ))
    );

    let reqs = mock.requests();
    let shape: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("GET", "/user"),
            ("GET", "/repos/octo/demo/issues/17/comments"),
            ("POST", "/repos/octo/demo/issues/17/comments"),
            ("GET", "/user"),
            ("GET", "/repos/octo/demo/issues/17/comments"),
            ("PATCH", "/repos/octo/demo/issues/comments/555"),
        ]
    );
    reqs.iter().for_each(assert_api_headers);
    assert_eq!(reqs[1].query_param("per_page"), Some("100"));
    assert_eq!(reqs[1].query_param("page"), Some("1"));
    let head = format!(
        "{}\n<sub>check: <code>parallel-pytest</code></sub>\n\n",
        github::comment_marker("parallel-pytest")
    );
    let created = reqs[2].json();
    let updated = reqs[5].json();
    assert_eq!(
        created["body"],
        format!("{head}## parallel-pytest\n\n3 failed, 117 passed\n")
    );
    assert_eq!(
        updated["body"],
        format!("{head}## parallel-pytest\n\nall green now\n")
    );
    // Never duplicated: the human's comment and ours.
    assert_eq!(comments.lock().unwrap().len(), 2);
    validate("issues/create-comment", &[created]);
    validate("issues/update-comment", &[updated]);
}

#[test]
fn comment_only_on_pull_requests_and_nothing_without_a_token() {
    let mock = MockServer::start();
    let not_pr = github::publish(
        &rendered(2),
        &ctx(&mock, None),
        Some(&token()),
        &options(false, true),
    );
    assert!(
        matches!(&not_pr.comment, Some(Step::Skipped(m)) if m.contains("not for a pull request")),
        "{not_pr:?}"
    );
    let no_token = github::publish(
        &rendered(2),
        &ctx(&mock, Some(17)),
        None,
        &options(true, true),
    );
    assert!(
        matches!(&no_token.check_run, Some(Step::Skipped(m)) if m.contains("no GitHub token")),
        "{no_token:?}"
    );
    assert!(!no_token.any_failed());
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

#[test]
fn retries_server_errors_and_secondary_rate_limits() {
    let mock = MockServer::start();
    mock.on(
        "POST",
        "/repos/octo/demo/check-runs",
        [
            Reply::json(502, json!({"message": "Bad Gateway"})),
            Reply::json(
                403,
                json!({"message": "You have exceeded a secondary rate limit."}),
            )
            .header("retry-after", "0"),
            Reply::json(201, json!({"id": 4242})),
        ],
    );
    let outcome = publish_check_run(&mock, &rendered(3));
    assert_eq!(
        outcome.check_run,
        Some(Step::Done("id 4242 with 3 annotations".into()))
    );
    let posts = mock.requests_to("POST", "/repos/octo/demo/check-runs");
    assert_eq!(posts.len(), 3);
    assert_eq!(
        posts[0].body, posts[2].body,
        "a retry resends the same body"
    );

    // Persistent 5xx: gives up after the policy's attempts and reports a failure.
    let mock = MockServer::start();
    mock.on(
        "POST",
        "/repos/octo/demo/check-runs",
        [Reply::json(503, json!({"message": "unavailable"}))],
    );
    let outcome = publish_check_run(&mock, &rendered(3));
    assert_eq!(
        outcome.check_run,
        Some(Step::Failed(
            "creating the check run: HTTP 503: unavailable".into()
        ))
    );
    assert_eq!(
        mock.requests_to("POST", "/repos/octo/demo/check-runs")
            .len(),
        3
    );

    // A secondary rate limit that never lifts is a rate limit, not a missing permission.
    let mock = MockServer::start();
    mock.on(
        "POST",
        "/repos/octo/demo/check-runs",
        [Reply::json(
            403,
            json!({"message": "You have exceeded a secondary rate limit."}),
        )
        .header("retry-after", "0")],
    );
    let outcome = publish_check_run(&mock, &rendered(3));
    let Some(Step::Failed(why)) = &outcome.check_run else {
        panic!("{outcome:?}")
    };
    assert!(
        why.contains("rate limit is exhausted") && !why.contains("permissions"),
        "{why}"
    );
}

/// The first create commits on GitHub's side, then the answer is lost (502): the retry finds
/// the check run by its `external_id` and the comment by marker and author, and creates neither
/// again.
#[test]
fn a_create_that_committed_before_a_502_is_not_made_twice() {
    let mock = MockServer::start();
    let runs = check_run_routes(&mock, "");
    let comments = comment_routes(&mock);
    let (store_run, store_comment) = (Arc::clone(&runs), Arc::clone(&comments));
    mock.on_fn("POST", "/repos/octo/demo/check-runs", move |req| {
        store_run.lock().unwrap().push(json!({
            "id": 4242, "html_url": "https://github.com/octo/demo/runs/4242",
            "head_sha": req.json()["head_sha"], "external_id": req.json()["external_id"],
        }));
        Reply::json(502, json!({"message": "Server Error"}))
    });
    mock.on_fn("POST", "/repos/octo/demo/issues/17/comments", move |req| {
        store_comment.lock().unwrap().push(json!({
            "id": 556, "body": req.json()["body"], "user": {"login": BOT},
            "html_url": "https://github.com/octo/demo/pull/17#issuecomment-556",
        }));
        Reply::json(502, json!({"message": "Server Error"}))
    });
    let outcome = github::publish(
        &rendered(60),
        &ctx(&mock, Some(17)),
        Some(&token()),
        &options(true, true),
    );
    assert_eq!(
        outcome.check_run,
        Some(Step::Done(
            "https://github.com/octo/demo/runs/4242 with 60 annotations".into()
        ))
    );
    assert_eq!(
        outcome.comment,
        Some(Step::Done(
            "created https://github.com/octo/demo/pull/17#issuecomment-556".into()
        ))
    );
    assert_eq!(
        mock.requests_to("POST", "/repos/octo/demo/check-runs")
            .len(),
        1
    );
    assert_eq!(
        mock.requests_to("POST", "/repos/octo/demo/issues/17/comments")
            .len(),
        1
    );
    assert_eq!(runs.lock().unwrap().len(), 1);
    assert_eq!(comments.lock().unwrap().len(), 2);
    // The remaining annotations went to the check run the first try made.
    assert_eq!(
        mock.requests_to("PATCH", "/repos/octo/demo/check-runs/4242")
            .len(),
        1
    );
    let lookup = &mock.requests_to("GET", "/repos/octo/demo/commits/*/check-runs")[0];
    assert_eq!(
        lookup.path,
        "/repos/octo/demo/commits/0123456789abcdef0123456789abcdef01234567/check-runs"
    );
    assert_eq!(lookup.query_param("check_name"), Some("parallel-pytest"));
    validate(
        "checks/create",
        &[mock.requests_to("POST", "/repos/octo/demo/check-runs")[0].json()],
    );
}

/// Anyone can post our marker first: only a comment by the token's own identity is edited.
#[test]
fn a_marker_planted_by_someone_else_is_never_edited() {
    let mock = MockServer::start();
    let comments = comment_routes(&mock);
    let planted = format!(
        "{}\nplanted by mallory",
        github::comment_marker("parallel-pytest")
    );
    comments
        .lock()
        .unwrap()
        .push(json!({"id": 2, "body": planted, "user": {"login": "mallory"}}));
    let outcome = github::publish(
        &rendered(0),
        &ctx(&mock, Some(17)),
        Some(&token()),
        &options(false, true),
    );
    assert!(
        matches!(&outcome.comment, Some(Step::Done(m)) if m.starts_with("created")),
        "{outcome:?}"
    );
    assert!(
        mock.requests_to("PATCH", "/repos/octo/demo/issues/comments/*")
            .is_empty()
    );
    assert_eq!(comments.lock().unwrap()[1]["body"], planted.as_str());

    // A personal token learns its login from `GET /user`.
    mock.on(
        "GET",
        "/user",
        [Reply::json(200, json!({"login": "mallory"}))],
    );
    github::publish(
        &rendered(0),
        &ctx(&mock, Some(17)),
        Some(&token()),
        &options(false, true),
    );
    let patched = mock.requests_to("PATCH", "/repos/octo/demo/issues/comments/*");
    assert_eq!(patched.len(), 1);
    assert_eq!(patched[0].path, "/repos/octo/demo/issues/comments/2");
}

/// Two matrix jobs whose check names differ only in punctuation keep two comments.
#[test]
fn check_names_differing_in_punctuation_keep_separate_comments() {
    let mock = MockServer::start();
    let comments = comment_routes(&mock);
    let mut ids = 556..;
    let store = Arc::clone(&comments);
    mock.on_fn("POST", "/repos/octo/demo/issues/17/comments", move |req| {
        let c =
            json!({"id": ids.next().unwrap(), "body": req.json()["body"], "user": {"login": BOT}});
        store.lock().unwrap().push(c.clone());
        Reply::json(201, c)
    });
    for name in ["tests (3.11)", "tests [3.11]", "tests (3.11)"] {
        let opts = Options {
            name: name.into(),
            ..options(false, true)
        };
        github::publish(&rendered(0), &ctx(&mock, Some(17)), Some(&token()), &opts);
    }
    assert_eq!(
        mock.requests_to("POST", "/repos/octo/demo/issues/17/comments")
            .len(),
        2
    );
    let patched = mock.requests_to("PATCH", "/repos/octo/demo/issues/comments/*");
    assert_eq!(patched.len(), 1);
    assert_eq!(patched[0].path, "/repos/octo/demo/issues/comments/556");
    assert!(
        patched[0].json()["body"]
            .as_str()
            .unwrap()
            .contains("<code>tests (3.11)</code>")
    );
}

/// More than 1,000 failures and a summary far over the limit: the note about the annotations
/// not sent survives the cut, and the cut closes the `<pre>` it interrupted.
#[test]
fn over_a_thousand_failures_keep_the_notes_and_balanced_markdown() {
    let mock = MockServer::start();
    check_run_routes(&mock, "");
    let mut input = rendered(1_100);
    input.markdown = format!(
        "## parallel-pytest\n\n<details><summary>t</summary>\n\n<pre>\n{}</pre>\n\n</details>\n",
        "Traceback: ünïcödé line\n".repeat(10_000)
    );
    let outcome = publish_check_run(&mock, &input);
    assert_eq!(
        outcome.check_run,
        Some(Step::Done(
            "https://github.com/octo/demo/runs/4242 with 1000 annotations".into()
        ))
    );
    let create = mock.requests_to("POST", "/repos/octo/demo/check-runs")[0].json();
    let summary = create["output"]["summary"].as_str().unwrap();
    assert!(summary.len() <= 65_535, "{} bytes", summary.len());
    assert!(
        summary.contains("100 failures were not sent as annotations"),
        "{}",
        &summary[summary.len() - 300..]
    );
    assert_eq!(
        summary.matches("<pre>").count(),
        summary.matches("</pre>").count()
    );
    assert_eq!(
        summary.matches("<details>").count(),
        summary.matches("</details>").count()
    );
    let annotations: usize = mock
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/repos/octo/demo/check-runs"))
        .map(|r| r.json()["output"]["annotations"].as_array().unwrap().len())
        .sum();
    assert_eq!(annotations, 1_000);
}

#[test]
fn github_enterprise_api_url_path_is_kept() {
    let mock = MockServer::start();
    check_run_routes(&mock, "/api/v3");
    let mut context = ctx(&mock, None);
    context.api_url = format!("{}/api/v3", mock.url());
    let outcome = github::publish(
        &rendered(1),
        &context,
        Some(&token()),
        &options(true, false),
    );
    assert!(
        matches!(outcome.check_run, Some(Step::Done(_))),
        "{outcome:?}"
    );
    assert_eq!(
        mock.requests()[0].path,
        "/api/v3/repos/octo/demo/check-runs"
    );
}

/// A token without `checks`/`pull-requests: write`: both calls answer 403. The report stays
/// green, the annotations go out as workflow commands, and the summary says what was skipped and
/// why.
#[test]
fn forbidden_falls_back_to_workflow_commands_and_summary() {
    let mock = MockServer::start();
    let forbidden = Reply::json(
        403,
        json!({"message": "Resource not accessible by integration",
               "documentation_url": "https://docs.github.com/rest"}),
    );
    mock.on("POST", "/repos/octo/demo/check-runs", [forbidden.clone()]);
    mock.on("GET", "/user", [forbidden.clone()]);
    mock.on("GET", "/repos/octo/demo/issues/17/comments", [forbidden]);

    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 17,
            "head": {"sha": "feedface", "repo": {"full_name": "octo/demo"}},
            "base": {"repo": {"full_name": "octo/demo"}}}})
        .to_string(),
    )
    .unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "## parallel-pytest\n").unwrap();
    let env = {
        let api = mock.url().to_owned();
        let event = event.to_string_lossy().into_owned();
        move |name: &str| -> Option<String> {
            Some(match name {
                "GITHUB_ACTIONS" => "true".into(),
                "GITHUB_API_URL" => api.clone(),
                "GITHUB_REPOSITORY" => "octo/demo".into(),
                "GITHUB_SHA" => "mergecommit".into(),
                "GITHUB_EVENT_NAME" => "pull_request".into(),
                "GITHUB_EVENT_PATH" => event.clone(),
                "GITHUB_TOKEN" => TOKEN.into(),
                _ => return None,
            })
        }
    };
    let args = GithubOptions {
        check_run: true,
        comment: true,
        check_name: None,
        token: None,
        fail_on_error: false,
        timeout: None,
    };
    let input = rendered(12);
    // What `report` rendered as workflow commands (it leaves them out when a check run is asked).
    let fallback =
        "::error file=tests/test_mod1.py,line=1,title=t::boom%0A::error::escaped by report\n";
    let mut stdout = Vec::new();
    let outcome = publish::publish_github_with(
        &args,
        &input,
        Some(&summary),
        fallback,
        &env,
        fast_retry(),
        &mut stdout,
    )
    .expect("a 403 never fails the report by default");
    assert!(outcome.any_failed());
    assert!(outcome.annotations_need_fallback());

    // One try each: a plain 403 is a permission problem, not a rate limit.
    let shape: Vec<(String, String)> = mock
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST".into(), "/repos/octo/demo/check-runs".into()),
            ("GET".into(), "/user".into()),
            ("GET".into(), "/repos/octo/demo/issues/17/comments".into()),
        ]
    );
    // The check run goes on the PR head, not the merge commit.
    assert_eq!(mock.requests()[0].json()["head_sha"], "feedface");

    let stdout = String::from_utf8(stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("::warning title=parallel-pytest::the token may not create check runs (HTTP 403: Resource not accessible by integration). Give the report job"), "{stdout}");
    assert!(lines[1].starts_with("::warning title=parallel-pytest::the token may not read the pull request's comments (HTTP 403"), "{stdout}");
    assert_eq!(
        lines[2..],
        fallback.lines().collect::<Vec<_>>()[..],
        "{stdout}"
    );

    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("## parallel-pytest\n\n### Publishing\n"),
        "{summary}"
    );
    assert!(summary.contains("- check run skipped: the token may not create check runs (HTTP 403: Resource not accessible by integration). Give the report job `permissions: checks: write`. Annotations went out as workflow commands instead."), "{summary}");
    assert!(
        summary
            .contains("- PR comment skipped: the token may not read the pull request's comments"),
        "{summary}"
    );
    assert!(!summary.contains(TOKEN) && !stdout.contains(TOKEN));

    // Asked to: the same refusal turns the step red.
    let strict = GithubOptions {
        fail_on_error: true,
        ..args
    };
    let err = publish::publish_github_with(
        &strict,
        &input,
        None,
        fallback,
        &env,
        fast_retry(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("`--fail-on-publish-error` is set"),
        "{err}"
    );
}

/// The environment of a GitHub Actions job on a pull request, with `extra` on top.
fn actions_env(
    mock: &MockServer,
    event: Option<&std::path::Path>,
    extra: &[(&str, &str)],
) -> impl Fn(&str) -> Option<String> + use<> {
    let mut vars: std::collections::HashMap<String, String> = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_API_URL", mock.url()),
        ("GITHUB_REPOSITORY", "octo/demo"),
        ("GITHUB_SHA", "mergecommit"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_TOKEN", TOKEN),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(event) = event {
        vars.insert("GITHUB_EVENT_PATH".into(), event.display().to_string());
    }
    move |name| vars.get(name).cloned()
}

fn event_file(dir: &std::path::Path, head_repo: &str) -> PathBuf {
    let event = dir.join("event.json");
    let payload = json!({"pull_request": {"number": 17,
        "head": {"sha": "feedface", "repo": {"full_name": head_repo}},
        "base": {"repo": {"full_name": "octo/demo"}}}});
    std::fs::write(&event, payload.to_string()).unwrap();
    event
}

fn both() -> GithubOptions {
    GithubOptions {
        check_run: true,
        comment: true,
        ..GithubOptions::default()
    }
}

fn publish_with(
    opts: &GithubOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> (github::Outcome, String) {
    let mut stdout = Vec::new();
    let outcome = publish::publish_github_with(
        opts,
        &rendered(2),
        None,
        "::error file=tests/x.py::fallback\n",
        env,
        fast_retry(),
        &mut stdout,
    )
    .unwrap();
    (outcome, String::from_utf8(stdout).unwrap())
}

/// A fork's `pull_request` run has a read-only token: nothing is sent, the reason says so, and
/// the annotations go out as workflow commands.
#[test]
fn fork_pull_requests_send_nothing_and_say_why() {
    let mock = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let event = event_file(dir.path(), "mallory/demo");
    let (outcome, stdout) = publish_with(&both(), &actions_env(&mock, Some(&event), &[]));
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    let Some(Step::Skipped(why)) = &outcome.check_run else {
        panic!("{outcome:?}")
    };
    assert!(
        why.contains("comes from a fork") && why.contains("read-only token"),
        "{why}"
    );
    assert!(!outcome.any_failed());
    assert!(
        stdout.contains("::error file=tests/x.py::fallback"),
        "{stdout}"
    );

    // `pull_request_target` runs in the base repository with a writable token: it publishes.
    check_run_routes(&mock, "");
    let env = actions_env(
        &mock,
        Some(&event),
        &[("GITHUB_EVENT_NAME", "pull_request_target")],
    );
    let only_check = GithubOptions {
        comment: false,
        ..both()
    };
    let (outcome, _) = publish_with(&only_check, &env);
    assert!(
        matches!(outcome.check_run, Some(Step::Done(_))),
        "{outcome:?}"
    );
}

/// A token with a trailing newline works; one with a control character inside is a clear
/// warning with the workflow-command fallback, never a panic.
#[test]
fn tokens_are_trimmed_and_unusable_ones_are_a_warning() {
    let mock = MockServer::start();
    check_run_routes(&mock, "");
    let dir = tempfile::tempdir().unwrap();
    let event = event_file(dir.path(), "octo/demo");
    let with_newline = format!("{TOKEN}\n");
    let only_check = GithubOptions {
        comment: false,
        ..both()
    };
    let env = actions_env(&mock, Some(&event), &[("GITHUB_TOKEN", &with_newline)]);
    let (outcome, _) = publish_with(&only_check, &env);
    assert!(
        matches!(outcome.check_run, Some(Step::Done(_))),
        "{outcome:?}"
    );
    assert_api_headers(&mock.requests()[0]);

    mock.clear_requests();
    for bad in ["ghs_a\u{1b}[31mb", "ghs_a\nb", "ghs_ä"] {
        let env = actions_env(&mock, Some(&event), &[("GITHUB_TOKEN", bad)]);
        let (outcome, stdout) = publish_with(&only_check, &env);
        let Some(Step::Failed(why)) = &outcome.check_run else {
            panic!("{outcome:?}")
        };
        assert!(why.contains("cannot be sent in an HTTP header"), "{why}");
        assert!(
            stdout.contains("::warning title=parallel-pytest::"),
            "{stdout}"
        );
        assert!(stdout.contains("::fallback"), "{stdout}");
    }
    assert!(mock.requests().is_empty());
}

/// On GitHub Actions a missing event payload is named as such, not "not running in GitHub
/// Actions"; a plain-http API URL to another host is refused before the token leaves.
#[test]
fn context_problems_are_named_exactly() {
    let mock = MockServer::start();
    let (outcome, _) = publish_with(&both(), &actions_env(&mock, None, &[]));
    let Some(Step::Skipped(why)) = &outcome.check_run else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("`GITHUB_EVENT_PATH` is not set"), "{why}");
    assert!(!why.contains("not running in GitHub Actions"), "{why}");

    let missing = std::path::Path::new("/nonexistent/event.json");
    let (outcome, _) = publish_with(&both(), &actions_env(&mock, Some(missing), &[]));
    let Some(Step::Skipped(why)) = &outcome.check_run else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("cannot read the event payload"), "{why}");

    let dir = tempfile::tempdir().unwrap();
    let event = event_file(dir.path(), "octo/demo");
    let env = actions_env(
        &mock,
        Some(&event),
        &[("GITHUB_API_URL", "http://api.example.com")],
    );
    let (outcome, _) = publish_with(&both(), &env);
    let Some(Step::Failed(why)) = &outcome.check_run else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("only sent over https"), "{why}");
    assert!(mock.requests().is_empty());
}

/// A hung API is given up at the publishing time limit, with the fallback.
#[test]
fn a_hung_api_is_given_up_at_the_time_limit() {
    let mock = MockServer::start();
    mock.on_fn("POST", "/repos/octo/demo/check-runs", |_| {
        std::thread::sleep(Duration::from_secs(3));
        Reply::json(201, json!({"id": 1}))
    });
    let opts = Options {
        deadline: Duration::from_secs(1),
        ..options(true, false)
    };
    let started = std::time::Instant::now();
    let outcome = github::publish(&rendered(1), &ctx(&mock, None), Some(&token()), &opts);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let Some(Step::Failed(why)) = &outcome.check_run else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("publishing time limit"), "{why}");
    assert!(outcome.annotations_need_fallback());
}

/// Real pytest's JUnit for the `report-suite` fixture's failing `tests/test_basic.py`.
fn basic_failures_junit(suite: &std::path::Path) -> PathBuf {
    let junit = suite.join("junit.xml");
    let out = std::process::Command::new(crate::harness::python())
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_basic.py",
        ])
        .arg(format!("--junitxml={}", junit.display()))
        .current_dir(suite)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "pytest: {out:?}");
    junit
}

/// The whole path through the binary: real pytest JUnit → `report --check-run --comment` on a
/// pull request → the mock API. Annotations carry the failing line (1-based) as pytest saw it,
/// and the log gets no workflow-command annotations, since the check run carries them.
#[test]
fn report_publishes_real_pytest_failures_through_the_binary() {
    let suite = crate::harness::fixture_copy("report-suite");
    let junit = basic_failures_junit(suite.path());

    let mock = MockServer::start();
    check_run_routes(&mock, "");
    let comments = comment_routes(&mock);
    let event = suite.path().join("event.json");
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 17, "head": {"sha": "cafe"}}}).to_string(),
    )
    .unwrap();
    let summary = suite.path().join("summary.md");
    let (stdout, stderr) = crate::harness::Cmd::new()
        .args([
            "report",
            "--check-run",
            "--comment",
            "--check-name",
            "pytest (3 shards)",
        ])
        .arg(&junit)
        .current_dir(suite.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", mock.url())
        .env("GITHUB_REPOSITORY", "octo/demo")
        .env("GITHUB_SHA", "mergesha")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_WORKSPACE", suite.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .expect_code(1);
    assert!(mock.unmatched().is_empty(), "{:?}", mock.unmatched());
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    assert!(
        !stdout.lines().any(|l| l.starts_with("::error ")),
        "the check run carries the annotations:\n{stdout}"
    );
    assert!(
        stderr.contains("check run: https://github.com/octo/demo/runs/4242"),
        "{stderr}"
    );

    let create = mock.requests_to("POST", "/repos/octo/demo/check-runs");
    assert_eq!(create.len(), 1);
    let body = create[0].json();
    assert_eq!(body["name"], "pytest (3 shards)");
    assert_eq!(body["head_sha"], "cafe");
    assert_eq!(body["conclusion"], "failure");
    let annotations = body["output"]["annotations"].as_array().unwrap();
    let source = std::fs::read_to_string(suite.path().join("tests/test_basic.py")).unwrap();
    let assert_line = source
        .lines()
        .position(|l| l.contains("assert 1 + 1 == 3"))
        .unwrap()
        + 1;
    let failing = annotations
        .iter()
        .find(|a| a["title"].as_str().unwrap().contains("test_assert_fails"))
        .unwrap_or_else(|| panic!("no annotation for test_assert_fails: {annotations:#?}"));
    assert_eq!(failing["path"], "tests/test_basic.py");
    assert_eq!(failing["start_line"], assert_line as u64);
    assert_eq!(failing["annotation_level"], "failure");
    validate("checks/create", std::slice::from_ref(&body));

    // The sticky comment holds the same Markdown as the job summary.
    let created = mock.requests_to("POST", "/repos/octo/demo/issues/17/comments");
    assert_eq!(created.len(), 1);
    let comment = created[0].json()["body"].as_str().unwrap().to_owned();
    assert!(comment.starts_with(&github::comment_marker("pytest (3 shards)")));
    assert_eq!(comments.lock().unwrap().len(), 2);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("test_assert_fails"), "{summary}");
    assert!(summary.contains("### Publishing"), "{summary}");
    assert!(comment.contains("test_assert_fails"));
}

/// The project in a subfolder of the checkout, on a pull request: summary links name the file
/// from the repository root at the PR head (the commit the check run is on), like the
/// annotations do.
#[test]
fn links_use_the_project_folder_and_the_pull_request_head() {
    let suite = crate::harness::fixture_copy("report-suite");
    let workspace = tempfile::tempdir().unwrap();
    let project = workspace.path().join("sub");
    crate::harness::copy_tree(suite.path(), &project);
    let junit = basic_failures_junit(&project);
    let event = project.join("event.json");
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 17, "head": {"sha": "cafe"}}}).to_string(),
    )
    .unwrap();
    let summary = project.join("summary.md");
    crate::harness::Cmd::new()
        .arg("report")
        .arg(&junit)
        .current_dir(&project)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "octo/demo")
        .env("GITHUB_SHA", "mergesha")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_WORKSPACE", workspace.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .expect_code(1);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("(https://github.com/octo/demo/blob/cafe/sub/tests/test_basic.py#L"),
        "{summary}"
    );
    assert!(!summary.contains("mergesha"), "{summary}");
}
