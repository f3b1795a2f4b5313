//! GitLab: the MR note against a local mock of the GitLab API (requests asserted field by
//! field), and the CI/CD component under gitlab-ci-local (`gitlab_ci_local` below).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallel_pytest::publish::gitlab::{self, NoteOutcome, RetryPolicy, Skip};
use serde_json::{Value, json};

use crate::mock_http::{MockServer, Reply};

const NOTES: &str = "/api/v4/projects/42/merge_requests/7/notes";
const TOKEN: &str = "glpat-SECRET-do-not-print";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(5),
    }
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
fn stateful_gitlab(mock: &MockServer) -> Arc<Mutex<Vec<Value>>> {
    let notes = Arc::new(Mutex::new(vec![
        json!({"id": 1, "body": "LGTM", "system": false}),
        json!({"id": 2, "body": "added 1 commit", "system": true}),
    ]));
    let list = Arc::clone(&notes);
    mock.on_fn("GET", NOTES, move |_| {
        Reply::json(200, Value::Array(list.lock().unwrap().clone()))
    });
    let create = Arc::clone(&notes);
    mock.on_fn("POST", NOTES, move |req| {
        let mut notes = create.lock().unwrap();
        let note = json!({"id": 100 + notes.len(), "body": req.json()["body"], "system": false});
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

    let first = gitlab::publish_mr_note("## 3 failed", "MY_TOKEN", &env, fast_retry()).unwrap();
    assert_eq!(first, NoteOutcome::Created { id: 102 });
    let second = gitlab::publish_mr_note("## all green", "MY_TOKEN", &env, fast_retry()).unwrap();
    assert_eq!(second, NoteOutcome::Updated { id: 102 });

    let sent = mock.requests();
    let calls: Vec<(String, String)> = sent
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".into(), NOTES.into()),
            ("POST".into(), NOTES.into()),
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
    assert_eq!(sent[0].query_param("per_page"), Some("100"));
    assert_eq!(sent[0].query_param("page"), Some("1"));
    let posted = sent[1].json();
    assert_eq!(
        posted,
        json!({"body": format!("{}\n## 3 failed", gitlab::MARKER)}),
        "the POST body is exactly the marker and the summary"
    );
    assert_eq!(
        sent[3].json(),
        json!({"body": format!("{}\n## all green", gitlab::MARKER)})
    );
    assert_eq!(sent[1].header("content-type"), Some("application/json"));
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
    mock.on_fn("GET", NOTES, |req| match req.query_param("page") {
        Some("1") => Reply::json(200, json!([{"id": 5, "body": "hi", "system": false}]))
            .header("X-Next-Page", "2"),
        _ => Reply::json(
            200,
            json!([{"id": 9, "body": format!("{}\nold", gitlab::MARKER), "system": false}]),
        )
        .header("X-Next-Page", ""),
    });
    mock.on(
        "PUT",
        &format!("{NOTES}/9"),
        [Reply::json(200, json!({"id": 9}))],
    );
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let outcome = gitlab::publish_mr_note("new", "MY_TOKEN", &env, fast_retry()).unwrap();
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
    let outcome = gitlab::publish_mr_note("s", "MY_TOKEN", &env, fast_retry()).unwrap();
    assert_eq!(outcome, NoteOutcome::Created { id: 77 });
    assert_eq!(mock.requests_to("GET", NOTES).len(), 3);
    assert_eq!(mock.requests_to("POST", NOTES).len(), 1);
}

#[test]
fn persistent_server_errors_give_up_with_a_clear_error_and_no_token() {
    let mock = MockServer::start();
    mock.on("GET", NOTES, [Reply::json(500, json!({"message": "boom"}))]);
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let err = gitlab::publish_mr_note("s", "MY_TOKEN", &env, fast_retry()).unwrap_err();
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
    mock.on("GET", NOTES, [Reply::json(200, json!([]))]);
    mock.on(
        "POST",
        NOTES,
        [Reply::json(403, json!({"message": "403 Forbidden"}))],
    );
    let env = ci_env(&mock, &[("MY_TOKEN", TOKEN)]);
    let err = gitlab::publish_mr_note("s", "MY_TOKEN", &env, fast_retry()).unwrap_err();
    assert_eq!(mock.requests_to("POST", NOTES).len(), 1);
    let text = err.to_string();
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("`api` scope"), "{text}");
    assert!(!text.contains(TOKEN));
}

#[test]
fn job_token_alone_yields_the_explanation_and_no_request() {
    let mock = MockServer::start();
    let env = ci_env(&mock, &[]);
    let outcome = gitlab::publish_mr_note("s", "MY_TOKEN", &env, fast_retry()).unwrap();
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
#[test]
fn component_validates_against_the_gitlab_ci_schema() {
    use parallel_pytest::plan::gitlab_child::{self, COMPONENT_TEMPLATE};
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

/// The component for real, under gitlab-ci-local in shell-executor mode with artifact
/// isolation (each job gets its own copy of the repository and only the artifacts it `needs`).
mod gitlab_ci_local {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::LazyLock;
    use std::time::{Duration, Instant};

    use parallel_pytest::env_vars;
    use serde_json::{Value, json};

    use crate::harness;

    /// A pipeline run that finished.
    pub struct Run {
        pub project: tempfile::TempDir,
        pub stdout: String,
        pub code: Option<i32>,
    }

    impl Run {
        /// Final status per job, from gitlab-ci-local's closing table (` PASS  job`, ` FAIL  job`,
        /// ` WARN  job` for allowed failures). Child-pipeline jobs are named
        /// `[trigger] -> job: [i/N]`.
        pub fn statuses(&self) -> BTreeMap<String, String> {
            let mut out = BTreeMap::new();
            for line in self.stdout.lines() {
                for status in ["PASS", "FAIL", "WARN"] {
                    if let Some(job) = line.strip_prefix(&format!(" {status}  ")) {
                        out.insert(job.trim().to_owned(), status.to_owned());
                    }
                }
            }
            out
        }

        /// Every log line gitlab-ci-local printed for `job` (its name is the line prefix).
        pub fn log_of(&self, job: &str) -> String {
            self.stdout
                .lines()
                .filter(|l| l.trim_start().starts_with(job))
                .collect::<Vec<_>>()
                .join("\n")
        }

        pub fn path(&self, rel: &str) -> PathBuf {
            self.project.path().join(rel)
        }
    }

    /// A git repository holding `suite` (copied), the component under `templates/` and a
    /// `.gitlab-ci.yml` that includes it with `inputs`.
    pub fn project(suite: &Path, inputs: Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        harness::copy_tree(suite, dir.path());
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::copy(
            harness::repo_root().join("templates/parallel-pytest.yml"),
            dir.path().join("templates/parallel-pytest.yml"),
        )
        .unwrap();
        let pipeline = json!({
            "include": [{"local": "templates/parallel-pytest.yml", "inputs": inputs}]
        });
        std::fs::write(
            dir.path().join(".gitlab-ci.yml"),
            serde_yaml_ng::to_string(&pipeline).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".gitignore"),
            ".gitlab-ci-local/\n.parallel-pytest*/\n__pycache__/\n.pytest_cache/\n",
        )
        .unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .output()
                .expect("git");
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://gitlab.example.com/group/demo.git",
        ]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "demo"]);
        dir
    }

    /// The inputs every self-test passes: the binary under test instead of a download, and an
    /// install command that puts the pinned pytest virtualenv first on `PATH`.
    pub fn self_test_inputs(extra: Value) -> Value {
        let venv_bin = harness::python().parent().unwrap().to_owned();
        let mut inputs = json!({
            "binary": harness::bin().display().to_string(),
            "install": format!("export PATH=\"{}:$PATH\"", venv_bin.display()),
        });
        for (k, v) in extra.as_object().unwrap() {
            inputs[k] = v.clone();
        }
        inputs
    }

    /// Runs the whole pipeline once (bounded by `timeout`) and returns what it printed.
    pub fn run_pipeline(project: tempfile::TempDir, variables: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(harness::node_tool("gitlab-ci-local"));
        cmd.current_dir(project.path())
            .args([
                "--force-shell-executor",
                "--shell-isolation",
                "--no-color",
                "--max-job-name-padding",
                "0",
                "--home",
            ])
            .arg(project.path().join(".gcl-home"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in variables {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        // Our own CI's variables must not leak into the pipeline under test.
        for var in env_vars::ours::ALL.iter().chain(env_vars::ci::ALL) {
            cmd.env_remove(var);
        }
        eprintln!("$ {cmd:?}");
        let mut child = cmd.spawn().expect("spawn gitlab-ci-local");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out_thread = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
        let err_thread = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
        let deadline = Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("gitlab-ci-local did not finish within 300 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stdout = out_thread.join().unwrap();
        let stderr = err_thread.join().unwrap();
        eprintln!("--- gitlab-ci-local stdout\n{stdout}\n--- stderr\n{stderr}");
        Run {
            project,
            stdout: stdout + &stderr,
            code: status.code(),
        }
    }

    /// The suite the pipelines run: the bundled demo (issue 4).
    pub fn demo() -> PathBuf {
        let demo = harness::repo_root().join("demo");
        assert!(demo.is_dir(), "`{}` is missing", demo.display());
        demo
    }

    /// `(classname, name)` of every testcase in a JUnit file, read with Python's own XML parser
    /// (independent of our reader).
    pub fn junit_cases(path: &Path) -> Vec<(String, String)> {
        let out = Command::new(harness::python())
            .args([
                "-c",
                "import json, sys, xml.etree.ElementTree as ET\n\
                 print(json.dumps([[c.get('classname', ''), c.get('name', '')]\n\
                 for c in ET.parse(sys.argv[1]).iter('testcase')]))",
            ])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "reading {}: {out:?}", path.display());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// What `pytest --collect-only -q` finds in `dir`, as JUnit `(classname, name)` pairs.
    pub fn collected(dir: &Path) -> Vec<(String, String)> {
        let out = Command::new(harness::python())
            .args([
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
            ])
            .current_dir(dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let ids: Vec<(String, String)> = text
            .lines()
            .filter(|l| l.contains("::"))
            .map(parallel_pytest::junit::node_id::to_junit_names)
            .collect();
        assert!(
            !ids.is_empty(),
            "nothing collected in {}:\n{text}",
            dir.display()
        );
        ids
    }

    /// `plan --format json` for `dir`, as the pipeline's jobs compute it.
    pub fn plan_json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
        let mut cmd = harness::Cmd::new()
            .args(["plan", "--format", "json"])
            .args(args)
            .current_dir(dir);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let (out, _) = cmd.expect_code(0);
        serde_json::from_str(&out).unwrap()
    }

    /// Asserts that `junit` holds every test of `suite_dir` exactly once.
    pub fn assert_exactly_once(junit: &Path, suite_dir: &Path) {
        let mut got = junit_cases(junit);
        let mut want = collected(suite_dir);
        got.sort();
        want.sort();
        let mut seen = std::collections::BTreeSet::new();
        let twice: Vec<_> = got.iter().filter(|c| !seen.insert(*c)).collect();
        assert!(twice.is_empty(), "tests reported twice: {twice:?}");
        assert_eq!(got, want, "merged JUnit vs. `pytest --collect-only`");
    }

    fn expect_statuses(run: &Run, want: &[(&str, &str)]) {
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(j, s)| ((*j).to_owned(), (*s).to_owned()))
            .collect();
        assert_eq!(run.statuses(), want, "job statuses");
    }

    /// The demo suite with 3 shards and the report job, every job green, in a merge request
    /// pipeline whose report posts the MR note to a mock GitLab API.
    struct Green {
        run: Run,
        mock: crate::mock_http::MockServer,
    }

    const E2E_TOKEN: &str = "glpat-e2e-SECRET";

    static GREEN: LazyLock<Green> = LazyLock::new(|| {
        let mock = crate::mock_http::MockServer::start();
        super::stateful_gitlab(&mock);
        let inputs = self_test_inputs(json!({
            "shards": 3,
            "mr_note": true,
            "token_variable": "E2E_TOKEN",
        }));
        let api = format!("{}/api/v4", mock.url());
        let run = run_pipeline(
            project(&demo(), inputs),
            &[
                ("CI_API_V4_URL", &api),
                ("CI_PROJECT_ID", "42"),
                ("CI_MERGE_REQUEST_IID", "7"),
                ("E2E_TOKEN", E2E_TOKEN),
            ],
        );
        Green { run, mock }
    });

    #[test]
    fn green_pipeline_passes_and_reports_every_test_exactly_once() {
        let run = &GREEN.run;
        expect_statuses(
            run,
            &[
                ("parallel-pytest-shard: [1/3]", "PASS"),
                ("parallel-pytest-shard: [2/3]", "PASS"),
                ("parallel-pytest-shard: [3/3]", "PASS"),
                ("parallel-pytest-report", "PASS"),
            ],
        );
        assert_eq!(run.code, Some(0));
        // Each shard's artifact reached the report job through `needs` (nothing else is shared
        // under --shell-isolation).
        let imported = run.path(".gitlab-ci-local/builds/parallel-pytest-report/.parallel-pytest");
        for i in 1..=3 {
            for file in [
                format!("junit-{i}-of-3.xml"),
                format!("shard-{i}-of-3.json"),
            ] {
                assert!(imported.join(&file).is_file(), "report job lacks `{file}`");
            }
        }
        // The merged JUnit (`reports:junit`) holds every test of the suite exactly once.
        assert_exactly_once(&run.path(".parallel-pytest-report/junit.xml"), &demo());
        // Code Quality (`reports:codequality`): valid, and empty when nothing failed.
        let cq: Value = serde_json::from_str(
            &std::fs::read_to_string(run.path(".parallel-pytest-report/codequality.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(cq, json!([]));
        assert!(run.path(".parallel-pytest-report/summary.md").is_file());
    }

    /// `mr_note` + `token_variable` reach the binary: one note, sent with the token from the
    /// named variable, which never shows in any log.
    #[test]
    fn green_pipeline_posts_the_mr_note_without_printing_the_token() {
        let green = &*GREEN;
        let posts = green.mock.requests_to("POST", super::NOTES);
        assert_eq!(posts.len(), 1, "{:?}", green.mock.requests());
        assert_eq!(posts[0].header("private-token"), Some(E2E_TOKEN));
        let body = posts[0].json()["body"].as_str().unwrap().to_owned();
        assert!(body.starts_with(parallel_pytest::publish::gitlab::MARKER));
        assert!(body.contains("passed"), "{body}");
        assert!(
            green
                .run
                .log_of("parallel-pytest-report")
                .contains("MR note created"),
            "{}",
            green.run.log_of("parallel-pytest-report")
        );
        assert!(
            !green.run.stdout.contains(E2E_TOKEN),
            "the token was printed"
        );
        assert!(green.mock.unmatched().is_empty());
    }

    /// The demo suite plus one failing test; a shard that does not own that test dies before
    /// pytest (its install step exits), so its artifact never exists.
    struct Red {
        run: Run,
        owner: u32,
        killed: u32,
        failing_file: String,
    }

    static RED: LazyLock<Red> = LazyLock::new(|| {
        let suite = tempfile::tempdir().unwrap();
        harness::copy_tree(&demo(), suite.path());
        // Beside the demo's first test file, so pytest's configuration collects it.
        let first = walkdir::WalkDir::new(suite.path())
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .find(|e| {
                let name = e.file_name().to_string_lossy();
                name.starts_with("test_") && name.ends_with(".py")
            })
            .expect("the demo has a test file")
            .into_path();
        let failing = first.with_file_name("test_zz_broken.py");
        std::fs::write(
            &failing,
            "def test_broken():\n    answer = 6 * 7\n    assert answer == 43, \"the answer changed\"\n",
        )
        .unwrap();
        let failing_file = failing
            .strip_prefix(suite.path())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        // The plan is deterministic: the test knows in advance which shard runs the failure.
        let plan = plan_json(suite.path(), &["--shards", "3"], &[]);
        let owner = plan["shards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == failing_file.as_str())
                    || s["node_ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|n| n.as_str().unwrap().starts_with(failing_file.as_str()))
            })
            .map(|s| s["index"].as_u64().unwrap() as u32)
            .unwrap_or_else(|| panic!("no shard runs `{failing_file}`: {plan:#}"));
        let killed = (1..=3).find(|i| *i != owner).unwrap();
        let venv_bin = harness::python().parent().unwrap().to_owned();
        let install = format!(
            "export PATH=\"{}:$PATH\"; if [ \"$CI_NODE_INDEX\" = {killed} ]; then echo \"simulated crash of shard {killed}\"; exit 9; fi",
            venv_bin.display()
        );
        let mut inputs = self_test_inputs(json!({"shards": 3}));
        inputs["install"] = json!(install);
        let run = run_pipeline(project(suite.path(), inputs), &[]);
        Red {
            run,
            owner,
            killed,
            failing_file,
        }
    });

    #[test]
    fn failing_test_and_missing_shard_make_the_report_red() {
        let red = &*RED;
        let run = &red.run;
        let mut want = vec![("parallel-pytest-report".to_owned(), "FAIL")];
        for i in 1..=3u32 {
            let status = if i == red.owner || i == red.killed {
                "FAIL"
            } else {
                "PASS"
            };
            want.push((format!("parallel-pytest-shard: [{i}/3]"), status));
        }
        let want: Vec<(&str, &str)> = want.iter().map(|(j, s)| (j.as_str(), *s)).collect();
        expect_statuses(run, &want);
        assert_eq!(run.code, Some(1));

        let log = run.log_of("parallel-pytest-report");
        // The failure, with its message, is in the report job's log...
        assert!(log.contains("test_broken"), "report log:\n{log}");
        assert!(log.contains("the answer changed"), "report log:\n{log}");
        // ... and so is the shard that never reported.
        assert!(
            log.contains(&format!("{}/3", red.killed)) && log.to_lowercase().contains("missing"),
            "the report log names the missing shard {}/3:\n{log}",
            red.killed
        );
        // Code Quality points at the failing line.
        let cq: Value = serde_json::from_str(
            &std::fs::read_to_string(run.path(".parallel-pytest-report/codequality.json")).unwrap(),
        )
        .unwrap();
        let entries = cq.as_array().unwrap();
        let entry = entries
            .iter()
            .find(|e| e["location"]["path"] == red.failing_file.as_str())
            .unwrap_or_else(|| panic!("no Code Quality entry for `{}`: {cq:#}", red.failing_file));
        assert_eq!(entry["location"]["lines"]["begin"], 3, "{entry:#}");
    }

    /// Auto mode: the plan job picks the shard count, the child pipeline runs it.
    struct Auto {
        run: Run,
        shards: u32,
    }

    static AUTO: LazyLock<Auto> = LazyLock::new(|| {
        // No start-up cost, and a target below the one-shard prediction: more than one shard.
        let env = [("PARALLEL_PYTEST_SHARD_STARTUP_SECONDS", "0")];
        let one = plan_json(&demo(), &["--shards", "1"], &env);
        let target = one["predicted_makespan_seconds"].as_f64().unwrap() * 0.6;
        let target = format!("{target:.3}");
        let chosen = plan_json(
            &demo(),
            &["--target-seconds", &target, "--max-shards", "3"],
            &env,
        );
        let shards = chosen["shards_total"].as_u64().unwrap() as u32;
        let inputs = self_test_inputs(json!({
            "target_seconds": target.parse::<f64>().unwrap(),
            "max_shards": 3,
        }));
        let run = run_pipeline(project(&demo(), inputs), &env);
        Auto { run, shards }
    });

    #[test]
    fn auto_mode_runs_the_child_pipeline_with_the_chosen_shard_count() {
        let auto = &*AUTO;
        let run = &auto.run;
        assert!(
            (2..=3).contains(&auto.shards),
            "the target should need 2 or 3 shards, the plan chose {}",
            auto.shards
        );
        let child = "[parallel-pytest-child] -> ";
        let mut want = vec![
            ("parallel-pytest-plan".to_owned(), "PASS"),
            ("parallel-pytest-child".to_owned(), "PASS"),
            (format!("{child}parallel-pytest-report"), "PASS"),
        ];
        for i in 1..=auto.shards {
            want.push((
                format!("{child}parallel-pytest-shard: [{i}/{}]", auto.shards),
                "PASS",
            ));
        }
        let want: Vec<(&str, &str)> = want.iter().map(|(j, s)| (j.as_str(), *s)).collect();
        expect_statuses(run, &want);
        assert_eq!(run.code, Some(0));
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(run.path(".parallel-pytest-child.yml")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            yaml["parallel-pytest-shard"]["parallel"],
            serde_yaml_ng::Value::from(auto.shards)
        );
        assert_exactly_once(&run.path(".parallel-pytest-report/junit.xml"), &demo());
    }
}

/// Catalog-ready: every input of the component is documented in the README's table with its
/// type and default, and the table documents no input the component lacks.
#[test]
fn readme_documents_every_component_input() {
    use parallel_pytest::plan::gitlab_child::{self, COMPONENT_TEMPLATE};

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
