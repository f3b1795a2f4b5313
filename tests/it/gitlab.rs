//! GitLab: the MR note against a local mock of the GitLab API (requests asserted field by
//! field), and the CI/CD component under gitlab-ci-local (`gitlab_ci_local` below).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallel_pytest::publish::gitlab::{self, NoteOutcome, RetryPolicy, Skip};
use serde_json::{Value, json};

use crate::mock_http::{MockServer, Reply};

pub(crate) const NOTES: &str = "/api/v4/projects/42/merge_requests/7/notes";
const TOKEN: &str = "glpat-SECRET-do-not-print";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(5),
    }
}

/// The user our token acts as, and someone else.
pub(crate) const ME: u64 = 900;
const SOMEONE: u64 = 5;

/// GitLab's `GET /user` for the token.
pub(crate) fn user_route(mock: &MockServer) {
    mock.on(
        "GET",
        "/api/v4/user",
        [Reply::json(
            200,
            json!({"id": ME, "username": "project_42_bot"}),
        )],
    );
}

fn publish(
    summary: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NoteOutcome, gitlab::NoteError> {
    gitlab::publish_mr_note(
        summary,
        "MY_TOKEN",
        env,
        fast_retry(),
        Duration::from_secs(30),
    )
}

fn ci_env(mock: &MockServer, extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let mut map: HashMap<String, String> = [
        ("CI_API_V4_URL", format!("{}/api/v4", mock.url())),
        ("CI_PROJECT_ID", "42".to_owned()),
        ("CI_MERGE_REQUEST_IID", "7".to_owned()),
        ("CI_JOB_TOKEN", "job-token-value".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    move |k| map.get(k).cloned()
}

/// A GitLab that keeps the notes it is sent: GET lists them (with someone else's note first),
/// POST adds one, PUT edits one.
pub(crate) fn stateful_gitlab(mock: &MockServer) -> Arc<Mutex<Vec<Value>>> {
    user_route(mock);
    let notes = Arc::new(Mutex::new(vec![
        json!({"id": 1, "body": "LGTM", "system": false, "author": {"id": SOMEONE}}),
        json!({"id": 2, "body": "added 1 commit", "system": true, "author": {"id": SOMEONE}}),
    ]));
    let list = Arc::clone(&notes);
    mock.on_fn("GET", NOTES, move |_| {
        Reply::json(200, Value::Array(list.lock().unwrap().clone()))
    });
    let create = Arc::clone(&notes);
    mock.on_fn("POST", NOTES, move |req| {
        let mut notes = create.lock().unwrap();
        let note = json!({"id": 100 + notes.len(), "body": req.json()["body"], "system": false, "author": {"id": ME}});
        notes.push(note.clone());
        Reply::json(201, note)
    });
    let edit = Arc::clone(&notes);
    mock.on_fn("PUT", &format!("{NOTES}/*"), move |req| {
        let id: u64 = req.path.rsplit('/').next().unwrap().parse().unwrap();
        let mut notes = edit.lock().unwrap();
        let note = notes.iter_mut().find(|n| n["id"] == id).unwrap();
        note["body"] = req.json()["body"].clone();
        Reply::json(200, note.clone())
    });
    notes
}

#[test]
fn mr_note_is_created_once_then_updated_in_place() {
    let mock = MockServer::start();
    let notes = stateful_gitlab(&mock);
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);

    let first = publish("## 3 failed", &env).unwrap();
    assert_eq!(first, NoteOutcome::Created { id: 102 });
    let second = publish("## all green", &env).unwrap();
    assert_eq!(second, NoteOutcome::Updated { id: 102 });

    let sent = mock.requests();
    let calls: Vec<(String, String)> = sent
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".into(), "/api/v4/user".into()),
            ("GET".into(), NOTES.into()),
            ("POST".into(), NOTES.into()),
            ("GET".into(), "/api/v4/user".into()),
            ("GET".into(), NOTES.into()),
            ("PUT".into(), format!("{NOTES}/102")),
        ]
    );
    for req in &sent {
        assert_eq!(
            req.header("private-token"),
            Some(TOKEN),
            "{} {}",
            req.method,
            req.path
        );
        assert!(
            req.header("user-agent")
                .unwrap()
                .starts_with("parallel-pytest/"),
            "{:?}",
            req.header("user-agent")
        );
    }
    assert_eq!(sent[1].query_param("per_page"), Some("100"));
    assert_eq!(sent[1].query_param("page"), Some("1"));
    let posted = sent[2].json();
    assert_eq!(
        posted,
        json!({"body": format!("{}\n## 3 failed", gitlab::MARKER)}),
        "the POST body is exactly the marker and the summary"
    );
    assert_eq!(
        sent[5].json(),
        json!({"body": format!("{}\n## all green", gitlab::MARKER)})
    );
    assert_eq!(sent[2].header("content-type"), Some("application/json"));
    // One note of ours, holding the latest summary; the others untouched.
    let notes = notes.lock().unwrap();
    let ours: Vec<&Value> = notes
        .iter()
        .filter(|n| n["body"].as_str().unwrap().contains(gitlab::MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0]["body"].as_str().unwrap().ends_with("## all green"));
    assert_eq!(notes[0]["body"], "LGTM");
    assert!(mock.unmatched().is_empty());
}

#[test]
fn mr_note_found_on_a_later_page() {
    let mock = MockServer::start();
    user_route(&mock);
    mock.on_fn("GET", NOTES, |req| match req.query_param("page") {
        Some("1") => Reply::json(200, json!([{"id": 5, "body": "hi", "system": false}]))
            .header("X-Next-Page", "2"),
        _ => Reply::json(
            200,
            json!([{"id": 9, "body": format!("{}\nold", gitlab::MARKER), "system": false, "author": {"id": ME}}]),
        )
        .header("X-Next-Page", ""),
    });
    mock.on(
        "PUT",
        &format!("{NOTES}/9"),
        [Reply::json(200, json!({"id": 9}))],
    );
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let outcome = publish("new", &env).unwrap();
    assert_eq!(outcome, NoteOutcome::Updated { id: 9 });
    let pages: Vec<Option<String>> = mock
        .requests_to("GET", NOTES)
        .iter()
        .map(|r| r.query_param("page").map(str::to_owned))
        .collect();
    assert_eq!(pages, [Some("1".into()), Some("2".into())]);
    assert!(mock.requests_to("POST", NOTES).is_empty());
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let mock = MockServer::start();
    user_route(&mock);
    mock.on(
        "GET",
        NOTES,
        [
            Reply::json(502, json!({"message": "bad gateway"})),
            Reply::json(503, json!({"message": "unavailable"})),
            Reply::json(200, json!([])),
        ],
    );
    mock.on("POST", NOTES, [Reply::json(201, json!({"id": 77}))]);
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let outcome = publish("s", &env).unwrap();
    assert_eq!(outcome, NoteOutcome::Created { id: 77 });
    assert_eq!(mock.requests_to("GET", NOTES).len(), 3);
    assert_eq!(mock.requests_to("POST", NOTES).len(), 1);
}

#[test]
fn persistent_server_errors_give_up_with_a_clear_error_and_no_token() {
    let mock = MockServer::start();
    user_route(&mock);
    mock.on("GET", NOTES, [Reply::json(500, json!({"message": "boom"}))]);
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let err = publish("s", &env).unwrap_err();
    assert_eq!(mock.requests_to("GET", NOTES).len(), 3, "attempts = 3");
    let text = err.to_string();
    assert_eq!(
        text,
        "GitLab answered 500 to GET /projects/42/merge_requests/7/notes: boom"
    );
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[test]
fn forbidden_is_not_retried_and_says_which_scope_is_needed() {
    let mock = MockServer::start();
    user_route(&mock);
    mock.on("GET", NOTES, [Reply::json(200, json!([]))]);
    mock.on(
        "POST",
        NOTES,
        [Reply::json(403, json!({"message": "403 Forbidden"}))],
    );
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let err = publish("s", &env).unwrap_err();
    assert_eq!(mock.requests_to("POST", NOTES).len(), 1);
    let text = err.to_string();
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("`api` scope"), "{text}");
    assert!(!text.contains(TOKEN));
}

#[test]
fn a_marker_planted_by_someone_else_is_never_edited() {
    let mock = MockServer::start();
    let notes = stateful_gitlab(&mock);
    notes.lock().unwrap().push(json!({
        "id": 3, "body": format!("{}\nplanted", gitlab::MARKER), "system": false,
        "author": {"id": SOMEONE}
    }));
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    assert_eq!(
        publish("ours", &env).unwrap(),
        NoteOutcome::Created { id: 103 }
    );
    assert!(mock.requests_to("PUT", &format!("{NOTES}/*")).is_empty());
    assert_eq!(
        publish("again", &env).unwrap(),
        NoteOutcome::Updated { id: 103 }
    );
    assert_eq!(
        notes.lock().unwrap()[2]["body"],
        format!("{}\nplanted", gitlab::MARKER)
    );
}

#[test]
fn a_create_that_committed_before_a_502_is_not_posted_twice() {
    let mock = MockServer::start();
    let notes = stateful_gitlab(&mock);
    // GitLab stores the note, then the proxy in front of it answers 502.
    let store = Arc::clone(&notes);
    mock.on_fn("POST", NOTES, move |req| {
        let mut notes = store.lock().unwrap();
        notes.push(
            json!({"id": 300, "body": req.json()["body"], "system": false, "author": {"id": ME}}),
        );
        Reply::json(502, json!({"message": "502 Bad Gateway"}))
    });
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    assert_eq!(
        publish("s", &env).unwrap(),
        NoteOutcome::Created { id: 300 }
    );
    assert_eq!(mock.requests_to("POST", NOTES).len(), 1);
    assert_eq!(notes.lock().unwrap().len(), 3);
}

#[test]
fn redirects_are_not_followed_so_the_token_stays_home() {
    let elsewhere = MockServer::start();
    elsewhere.on("GET", "/api/v4/user", [Reply::json(200, json!({"id": ME}))]);
    let mock = MockServer::start();
    mock.on(
        "GET",
        "/api/v4/user",
        [Reply::empty(302).header("Location", &format!("{}/api/v4/user", elsewhere.url()))],
    );
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let err = publish("s", &env).unwrap_err().to_string();
    assert!(err.contains("302") && err.contains("redirects"), "{err}");
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[test]
fn plain_http_to_another_host_is_refused_and_tokens_are_trimmed_or_refused() {
    let mock = MockServer::start();
    let env = ci_env(
        &mock,
        &[
            ("MY_TOKEN", TOKEN),
            ("CI_API_V4_URL", "http://gitlab.example.com/api/v4"),
        ],
    );
    let err = publish("s", &env).unwrap_err().to_string();
    assert!(err.contains("only sent over https"), "{err}");

    stateful_gitlab(&mock);
    let with_newline = format!("{TOKEN}\n");
    let env = ci_env(&mock, &[("MY_TOKEN", &with_newline)]);
    assert!(matches!(
        publish("s", &env).unwrap(),
        NoteOutcome::Created { .. }
    ));
    assert_eq!(mock.requests()[0].header("private-token"), Some(TOKEN));
    let env = ci_env(&mock, &[("MY_TOKEN", "glpat-a\u{1b}b")]);
    let err = publish("s", &env).unwrap_err().to_string();
    assert!(err.contains("`MY_TOKEN` holds a control"), "{err}");
}

#[test]
fn a_hung_api_is_given_up_at_the_time_limit() {
    let mock = MockServer::start();
    mock.on_fn("GET", "/api/v4/user", |_| {
        std::thread::sleep(Duration::from_secs(3));
        Reply::json(200, json!({"id": ME}))
    });
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let started = std::time::Instant::now();
    let err = gitlab::publish_mr_note("s", "MY_TOKEN", &env, fast_retry(), Duration::from_secs(1))
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("publishing time limit"), "{err}");
}

#[test]
fn job_token_alone_yields_the_explanation_and_no_request() {
    let mock = MockServer::start();
    let env = ci_env(&mock, &[]);
    let outcome = publish("s", &env).unwrap();
    assert_eq!(
        outcome,
        NoteOutcome::Skipped(Skip::JobTokenOnly {
            token_variable: "MY_TOKEN".into()
        })
    );
    assert!(
        outcome
            .to_string()
            .contains("`CI_JOB_TOKEN` cannot post merge request notes"),
        "{outcome}"
    );
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

/// The component's job section (interpolated as GitLab would, in both modes), its `spec:`
/// header and a rendered child pipeline all validate against GitLab's CI schema.
// A linter run (check-jsonschema from the tools venv): end-to-end tier.
#[cfg(feature = "e2e")]
#[test]
fn component_validates_against_the_gitlab_ci_schema() {
    use parallel_pytest::publish::gitlab_child::{self, COMPONENT_TEMPLATE};
    use serde::Deserialize;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &serde_yaml_ng::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_yaml_ng::to_string(value).unwrap()).unwrap();
        path
    };
    let header = serde_yaml_ng::Deserializer::from_str(COMPONENT_TEMPLATE)
        .next()
        .map(|doc| serde_yaml_ng::Value::deserialize(doc).unwrap())
        .unwrap();
    let component = gitlab_child::parse_component(COMPONENT_TEMPLATE).unwrap();
    let defaults = gitlab_child::resolve_inputs(&component.inputs, |_| None).unwrap();
    let auto = gitlab_child::resolve_inputs(&component.inputs, |var| {
        match var {
            "PARALLEL_PYTEST_INPUT_TARGET_SECONDS" => Some("300"),
            "PARALLEL_PYTEST_INPUT_MR_NOTE" => Some("true"),
            "PARALLEL_PYTEST_INPUT_TIMINGS_CACHE" => Some("false"),
            "PARALLEL_PYTEST_INPUT_WORKING_DIRECTORY" => Some("backend/api"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap();
    let child: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&gitlab_child::render_child(&component, &defaults, 3).unwrap())
            .unwrap();
    let files = [
        write("header.yml", &header),
        write(
            "fixed.yml",
            &gitlab_child::interpolate(&component.body, &defaults).unwrap(),
        ),
        write(
            "auto.yml",
            &gitlab_child::interpolate(&component.body, &auto).unwrap(),
        ),
        write("child.yml", &child),
    ];
    let out = std::process::Command::new(crate::harness::tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-jsonschema failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The check can fail: GitLab's limit of 200 parallel jobs is in the schema.
    let mut too_many = child.clone();
    too_many["parallel-pytest-shard"]["parallel"] = serde_yaml_ng::Value::from(201);
    let bad = write("bad.yml", &too_many);
    let out = std::process::Command::new(crate::harness::tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a 201-job `parallel:` must not validate"
    );
}

/// Catalog-ready: every input of the component is documented in the README's table with its
/// type and default, and the table documents no input the component lacks.
#[test]
fn readme_documents_every_component_input() {
    use parallel_pytest::publish::gitlab_child::{self, COMPONENT_TEMPLATE};

    let readme = std::fs::read_to_string(crate::harness::repo_root().join("README.md")).unwrap();
    let section = readme
        .split("## GitLab CI/CD component")
        .nth(1)
        .expect("README has a `## GitLab CI/CD component` section");
    let table = section.split("### Inputs").nth(1).expect("an Inputs table");
    let rows: std::collections::BTreeMap<String, Vec<String>> = table
        .lines()
        .take_while(|l| l.starts_with('|') || l.trim().is_empty())
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
            (cells[0].trim_matches('`').to_owned(), cells)
        })
        .collect();
    let component = gitlab_child::parse_component(COMPONENT_TEMPLATE).unwrap();
    let documented: Vec<&String> = rows.keys().collect();
    let declared: Vec<&String> = component.inputs.keys().collect();
    assert_eq!(documented, declared, "README inputs vs. component inputs");
    for (name, spec) in &component.inputs {
        let row = &rows[name];
        let kind = format!("{:?}", spec.kind).to_lowercase();
        assert_eq!(row[1], kind, "type of `{name}`");
        let default = match spec.default.as_ref().unwrap() {
            serde_yaml_ng::Value::String(s) if s.is_empty() => "`\"\"`".to_owned(),
            serde_yaml_ng::Value::String(s) => format!("`{s}`"),
            other => format!("`{}`", serde_yaml_ng::to_string(other).unwrap().trim()),
        };
        if name != "version" {
            assert_eq!(row[2], default, "default of `{name}`");
        }
        assert!(
            row[3].len() > 15,
            "`{name}` needs a description in the README"
        );
    }
}

/// `report --mr-note` through the binary: the note carries the report's summary, is created
/// once and then updated; publishing problems never change a green report's exit code unless
/// `--fail-on-publish-error` asks.
mod report_mr_note {
    use serde_json::json;

    use super::{NOTES, TOKEN, stateful_gitlab};
    use crate::harness::Cmd;
    use crate::mock_http::{MockServer, Reply};

    const GREEN_JUNIT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="0" errors="0" skipped="0" time="0.5">
<testcase classname="tests.test_a" name="test_one" time="0.2"/>
<testcase classname="tests.test_a" name="test_two" time="0.3"/>
</testsuite></testsuites>
"#;

    fn report(mock: &MockServer, dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Cmd {
        let mut cmd = Cmd::new()
            .args([
                "report",
                "--mr-note",
                "--token-variable",
                "MY_TOKEN",
                "junit.xml",
            ])
            .current_dir(dir)
            .env("CI_API_V4_URL", format!("{}/api/v4", mock.url()))
            .env("CI_PROJECT_ID", "42")
            .env("CI_MERGE_REQUEST_IID", "7")
            .env("CI_JOB_TOKEN", "job-token-value");
        for (k, v) in extra_env {
            cmd = cmd.env(k, v);
        }
        cmd
    }

    fn green_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junit.xml"), GREEN_JUNIT).unwrap();
        dir
    }

    #[test]
    fn report_creates_then_updates_the_note_with_its_summary() {
        let mock = MockServer::start();
        let notes = stateful_gitlab(&mock);
        let dir = green_dir();
        let (_, err) = report(&mock, dir.path(), &[("MY_TOKEN", TOKEN)]).expect_code(0);
        assert!(err.contains("MR note created (note 102)"), "{err}");
        let (out, err) = report(&mock, dir.path(), &[("MY_TOKEN", TOKEN)]).expect_code(0);
        assert!(err.contains("MR note updated (note 102)"), "{err}");
        assert!(
            !out.contains(TOKEN) && !err.contains(TOKEN),
            "the token was printed"
        );

        let posts = mock.requests_to("POST", NOTES);
        assert_eq!(posts.len(), 1, "one note, created once");
        let puts = mock.requests_to("PUT", &format!("{NOTES}/102"));
        assert_eq!(puts.len(), 1);
        let body = puts[0].json()["body"].as_str().unwrap().to_owned();
        assert!(
            body.starts_with(parallel_pytest::publish::gitlab::MARKER),
            "{body}"
        );
        // The note is the report's Markdown summary.
        assert!(body.contains("parallel-pytest: 2 passed"), "{body}");
        assert_eq!(notes.lock().unwrap().len(), 3);
    }

    #[test]
    fn job_token_only_explains_and_keeps_the_exit_code() {
        let mock = MockServer::start();
        let dir = green_dir();
        let (_, err) = report(&mock, dir.path(), &[]).expect_code(0);
        assert!(
            err.contains("`CI_JOB_TOKEN` cannot post merge request notes")
                && err.contains("`MY_TOKEN`"),
            "{err}"
        );
        assert!(mock.requests().is_empty());
    }

    #[test]
    fn publishing_failure_is_a_warning_unless_asked() {
        let mock = MockServer::start();
        super::user_route(&mock);
        mock.on("GET", NOTES, [Reply::json(200, json!([]))]);
        mock.on(
            "POST",
            NOTES,
            [Reply::json(403, json!({"message": "403 Forbidden"}))],
        );
        let dir = green_dir();
        let (_, err) = report(&mock, dir.path(), &[("MY_TOKEN", TOKEN)]).expect_code(0);
        assert!(err.contains("warning: failed to post the MR note"), "{err}");
        assert!(err.contains("`api` scope"), "{err}");
        let (_, err) = report(&mock, dir.path(), &[("MY_TOKEN", TOKEN)])
            .arg("--fail-on-publish-error")
            .expect_code(2);
        assert!(err.contains("error: failed to post the MR note"), "{err}");
        assert!(!err.contains(TOKEN));
    }
}

/// `plan --format gitlab-child` through the binary: the parent's inputs arrive through
/// `PARALLEL_PYTEST_INPUT_*`, the shard count is the plan's; a bad value names its variable.
#[test]
fn plan_prints_the_child_pipeline() {
    use crate::harness::{Cmd, repo_root};

    let demo = repo_root().join("demo");
    let (out, _) = Cmd::new()
        .args(["plan", "--format", "gitlab-child", "--shards", "4"])
        .current_dir(&demo)
        .env("PARALLEL_PYTEST_INPUT_IMAGE", "python:3.13-slim")
        .env("PARALLEL_PYTEST_INPUT_STAGE", "verify")
        .env("PARALLEL_PYTEST_INPUT_SHARDS", "9")
        .expect_code(0);
    let child: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(
        child["parallel-pytest-shard"]["parallel"],
        serde_yaml_ng::Value::from(4),
        "the plan's count wins over the parent's `shards`"
    );
    assert_eq!(child[".parallel-pytest-base"]["image"], "python:3.13-slim");
    assert_eq!(child["stages"][0], "verify");
    assert!(child.get("parallel-pytest-plan").is_none());

    let (_, err) = Cmd::new()
        .args(["plan", "--format", "gitlab-child", "--shards", "2"])
        .current_dir(&demo)
        .env("PARALLEL_PYTEST_INPUT_REPORT", "maybe")
        .expect_code(2);
    assert!(
        err.contains("`PARALLEL_PYTEST_INPUT_REPORT` is `maybe`, which is not a boolean"),
        "{err}"
    );
    let (_, err) = Cmd::new()
        .args(["plan", "--format", "gitlab-child", "--shards", "201"])
        .current_dir(&demo)
        .expect_code(2);
    assert!(err.contains("1 to 200 parallel jobs"), "{err}");
}
