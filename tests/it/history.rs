//! The timings fallback chain against mocks of the GitHub and GitLab APIs: a suite run once
//! "on main" with real pytest writes the store the report artifact carries; a branch with an
//! empty cache then plans (and runs) from the fetched store. Every GitHub request is checked
//! against GitHub's own OpenAPI operations (`../shared/github-api/schemas.json`: path, query
//! and the mock's answers), and the storage host the artifact download redirects to must
//! never see a token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parallel_pytest::publish::history::{
    self, FetchError, GithubSource, GitlabSource, Platform, Secret,
};
use serde_json::{Value, json};

use crate::artifact_api::{
    ARTIFACT_ID, REPO, RESULTS_OUT, RUN_ID, SHA, TOKEN, artifacts_body, assert_no_credentials,
    github_routes, learn_on_main, runs_body, validate_github, zip_of,
};
use crate::harness::{Cmd, fixture_copy, python, repo_root};
use crate::mock_http::{MockServer, Reply};

/// The GitHub Actions variables of a job on branch `feature` of `o/r`.
fn github_env(cmd: Cmd, api: &MockServer, event: &Path, token: bool) -> Cmd {
    let cmd = cmd
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", api.url())
        .env("GITHUB_REPOSITORY", REPO)
        .env(
            "GITHUB_WORKFLOW_REF",
            format!("{REPO}/.github/workflows/ci.yml@refs/heads/feature"),
        )
        .env("GITHUB_REF", "refs/heads/feature")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", event);
    if token {
        cmd.env("PARALLEL_PYTEST_GITHUB_TOKEN", TOKEN)
    } else {
        cmd
    }
}

fn event_file(dir: &Path) -> PathBuf {
    let path = dir.join("event.json");
    std::fs::write(
        &path,
        json!({"repository": {"default_branch": "main", "full_name": REPO}}).to_string(),
    )
    .unwrap();
    path
}

fn plan_json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{stdout}"))
}

/// Issue 15's acceptance test: a branch with an empty cache plans from the store of main's
/// last successful run, names it, and predicts the shard's wall (fixed costs included) within
/// ±20 % of the wall `run` measures, where the plan from test counts alone was off by more.
#[test]
fn an_empty_cache_plans_from_the_default_branch_artifact() {
    let main = fixture_copy("timings-chain");
    let store = learn_on_main(main.path());
    // What the report learned besides the tests' times: the shard's start-up with one worker
    // and each file's collection, which the next plan adds to the tests.
    let learned: Value = serde_json::from_slice(&store).unwrap();
    assert!(
        learned["startup"]["1"]["seconds"].as_f64() > Some(0.0),
        "{learned}"
    );
    for file in ["tests/test_fast.py", "tests/test_slow.py"] {
        assert!(
            learned["collection"][file]["seconds"].is_number(),
            "{learned}"
        );
    }
    let api = MockServer::start();
    let storage = MockServer::start();
    github_routes(&api, &storage, zip_of(&[("timings.json", &store)]));

    let branch = fixture_copy("timings-chain");
    let event = event_file(branch.path());
    let estimated = plan_json(
        &Cmd::new()
            .current_dir(branch.path())
            .args([
                "plan",
                "--shards",
                "1",
                "--workers",
                "1",
                "--format",
                "json",
            ])
            .args(["--no-timings-fetch"])
            .expect_code(0)
            .0,
    );
    assert_eq!(estimated["timings_source"]["kind"], "estimates");
    assert!(
        api.requests().is_empty(),
        "--no-timings-fetch asked the API"
    );

    let (stdout, stderr) = github_env(Cmd::new(), &api, &event, true)
        .current_dir(branch.path())
        .args([
            "plan",
            "--shards",
            "1",
            "--workers",
            "1",
            "--format",
            "json",
        ])
        .expect_code(0);
    assert!(
        stderr.contains("timings source: artifact")
            && stderr.contains(&format!("GitHub `main` run {RUN_ID} commit 0123456789ab")),
        "{stderr}"
    );
    assert!(stderr.contains("100% of planned tests timed"), "{stderr}");
    let plan = plan_json(&stdout);
    let source = &plan["timings_source"];
    assert_eq!(source["kind"], "artifact");
    assert_eq!(source["timed_percent"], 100.0);
    assert_eq!(source["run"]["run_id"], RUN_ID);
    assert_eq!(source["run"]["commit"], SHA);
    assert_eq!(source["run"]["date"], "2026-12-01T10:00:00Z");
    assert!(api.unmatched().is_empty(), "{:?}", api.unmatched());
    assert_no_credentials(&storage);
    let runs = api.requests_to(
        "GET",
        &format!("/repos/{REPO}/actions/workflows/ci.yml/runs"),
    );
    assert_eq!(runs[0].query_param("branch"), Some("main"));
    assert_eq!(runs[0].query_param("status"), Some("success"));
    let lists = api.requests_to(
        "GET",
        &format!("/repos/{REPO}/actions/runs/{RUN_ID}/artifacts"),
    );
    assert_eq!(
        lists[0].query_param("name"),
        Some(history::DEFAULT_ARTIFACT)
    );
    validate_github(
        &api,
        &[
            ("actions/list-workflow-runs", runs_body()),
            ("actions/list-workflow-run-artifacts", artifacts_body(false)),
        ],
    );

    // `run` without a token (as in the action) reads what was fetched. Its predicted wall
    // (the store's learned start-up and collection, plus the tests) holds against the wall
    // it measures for the whole pytest process. CI runs tests side by side, so the branch can
    // meet a busier machine than the run main learned from: a miss gets one more learning run
    // on main (its next push, whose store smooths both) and must hold then, as in
    // `fixed_costs.rs`.
    let guessed = estimated["predicted_wall_seconds"].as_f64().unwrap();
    for attempt in 1..=2 {
        let requests_before = api.requests().len();
        let (_, stderr) = github_env(Cmd::new(), &api, &event, false)
            .current_dir(branch.path())
            .env("PARALLEL_PYTEST_PYTHON", python())
            .args(["run", "--workers", "1"])
            .expect_code(0);
        assert!(stderr.contains("timings source: artifact"), "{stderr}");
        assert_eq!(
            api.requests().len(),
            requests_before,
            "run asked the API again"
        );
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(branch.path().join(".parallel-pytest/shard-1-of-1.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["timings_source"]["kind"], "artifact");
        assert_eq!(manifest["timings_source"]["run"]["run_id"], RUN_ID);
        let wall = manifest["wall_seconds"].as_f64().unwrap();
        assert!(wall > 3.9, "the slow tests did not run: {wall} s");
        let cost = &manifest["predicted_cost"];
        assert_ne!(
            cost["estimated"], true,
            "the fetched store carries no fixed costs: {cost}"
        );
        let predicted = cost["wall_seconds"].as_f64().unwrap();
        let off = |p: f64| (p - wall).abs() / wall;
        eprintln!(
            "attempt {attempt}: measured wall {wall:.2} s (fixed costs {}); predicted {predicted:.2} s from the artifact ({cost}), {guessed:.2} s from test counts",
            manifest["fixed_costs"]
        );
        assert!(
            off(guessed) > 0.2,
            "estimates {guessed} were already close to {wall}"
        );
        if off(predicted) <= 0.2 {
            break;
        }
        assert!(
            attempt < 2,
            "artifact prediction {predicted} vs wall {wall} after two learning runs"
        );
        let store = learn_on_main(main.path());
        github_routes(&api, &storage, zip_of(&[("timings.json", &store)]));
        github_env(Cmd::new(), &api, &event, true)
            .current_dir(branch.path())
            .arg("fetch-timings")
            .expect_code(0);
    }
    let (report, _) = Cmd::new()
        .current_dir(branch.path())
        .args(["report", "--format", "json", ".parallel-pytest"])
        .expect_code(0);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["timings_source"]["kind"], "artifact");
    assert_eq!(report["timings_source"]["run"]["commit"], SHA);
}

/// `fetch-timings` (the action's own step, which holds the token) writes the store and its
/// source; `plan` without any token then names that run.
#[test]
fn fetch_timings_step_then_plan_without_a_token() {
    let store = br#"{"format": "parallel-pytest-timings", "version": 1, "tests": {"tests/test_slow.py::test_slow_one": {"seconds": 1.5, "runs": 1}}}"#;
    let api = MockServer::start();
    let storage = MockServer::start();
    github_routes(&api, &storage, zip_of(&[("timings.json", store)]));
    let branch = fixture_copy("timings-chain");
    let event = event_file(branch.path());
    let (_, stderr) = github_env(Cmd::new(), &api, &event, true)
        .current_dir(branch.path())
        .arg("fetch-timings")
        .expect_code(0);
    assert!(stderr.contains(&format!("run {RUN_ID}")), "{stderr}");
    let fetched = branch.path().join(".parallel-pytest/fetched-timings.json");
    assert_eq!(std::fs::read(&fetched).unwrap(), store);
    assert_no_credentials(&storage);
    api.clear_requests();
    let (stdout, _) = github_env(Cmd::new(), &api, &event, false)
        .current_dir(branch.path())
        .args(["plan", "--shards", "2"])
        .expect_code(0);
    assert!(
        api.requests().is_empty(),
        "plan without a token asked the API"
    );
    // One test of 13 timed: below half; still the best there is, and the plan says so.
    assert!(stdout.contains("timings source: artifact"), "{stdout}");
    assert!(
        stdout.contains("7.7% of planned tests timed (below 50%"),
        "{stdout}"
    );
}

/// Mock routes for one failure case.
type Routes = Box<dyn Fn(&MockServer)>;

/// Every way the fetch can fail is a warning with the reason, and the plan goes on from
/// estimates: 403 (no `actions: read`), an expired artifact (listed as expired, or 410 on
/// download), no successful run, an API that never answers.
#[test]
fn chain_failures_are_warnings_with_the_reason() {
    let branch = fixture_copy("timings-chain");
    let event = event_file(branch.path());
    let plan = |api_url: &str, extra: &[(&str, &str)]| {
        let mut cmd = Cmd::new()
            .current_dir(branch.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", api_url)
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_EVENT_PATH", &event)
            .env("PARALLEL_PYTEST_GITHUB_TOKEN", TOKEN)
            .args(["plan", "--shards", "2", "--format", "json"]);
        for (k, v) in extra {
            cmd = cmd.env(k, v);
        }
        let (stdout, stderr) = cmd.expect_code(0);
        assert_eq!(plan_json(&stdout)["timings_source"]["kind"], "estimates");
        stderr
    };
    let expired = format!(
        "the artifact `{}` of run {RUN_ID} has expired",
        history::DEFAULT_ARTIFACT
    );
    let cases: Vec<(&str, Routes)> = vec![
        (
            "HTTP 403 (the token may not read Actions artifacts: the job needs `actions: read`)",
            Box::new(|api: &MockServer| {
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/runs"),
                    [Reply::json(
                        403,
                        json!({"message": "Resource not accessible by integration"}),
                    )],
                )
            }),
        ),
        (
            &expired,
            Box::new(|api: &MockServer| {
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/runs"),
                    [Reply::json(200, runs_body())],
                );
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/runs/{RUN_ID}/artifacts"),
                    [Reply::json(200, artifacts_body(true))],
                );
            }),
        ),
        (
            &expired,
            Box::new(|api: &MockServer| {
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/runs"),
                    [Reply::json(200, runs_body())],
                );
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/runs/{RUN_ID}/artifacts"),
                    [Reply::json(200, artifacts_body(false))],
                );
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/artifacts/{ARTIFACT_ID}/zip"),
                    [Reply::json(410, json!({"message": "Artifact has expired"}))],
                );
            }),
        ),
        (
            "no successful run on `main`",
            Box::new(|api: &MockServer| {
                api.on(
                    "GET",
                    &format!("/repos/{REPO}/actions/runs"),
                    [Reply::json(
                        200,
                        json!({"total_count": 0, "workflow_runs": []}),
                    )],
                )
            }),
        ),
    ];
    for (reason, routes) in cases {
        let api = MockServer::start();
        routes(&api);
        let stderr = plan(api.url(), &[]);
        assert!(
            stderr.contains("warning: timings: no store from an earlier run's artifact")
                && stderr.contains(reason),
            "expected `{reason}` in:\n{stderr}"
        );
        assert!(api.unmatched().is_empty(), "{:?}", api.unmatched());
    }

    // An API that accepts the connection and never answers: given up at the time limit.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let stderr = plan(&url, &[("PARALLEL_PYTEST_TIMINGS_FETCH_TIMEOUT", "1")]);
    assert!(stderr.contains("gave up after 1 s"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

fn gitlab_source(api: &MockServer, job_token: Option<&str>, access: Option<&str>) -> Platform {
    Platform::Gitlab(GitlabSource {
        api_url: format!("{}/api/v4", api.url()),
        project_id: "group/proj".into(),
        job_token: job_token.and_then(Secret::new),
        access_token: access.and_then(Secret::new),
        job: history::GITLAB_REPORT_JOB.into(),
        dir: format!("app/{}", history::GITLAB_REPORT_DIR),
        default_branch: Some("main".into()),
        base_ref: None,
    })
}

const GITLAB_RAW: &str = "/api/v4/projects/group%2Fproj/jobs/artifacts/main/raw/app/.parallel-pytest-report/timings.json";

/// GitLab: the job token first; a 401 then the access token; a 302 to object storage without
/// either; a 404 is "nothing there" with the reason.
#[test]
fn gitlab_job_artifact_endpoint() {
    let api = MockServer::start();
    let storage = MockServer::start();
    let limit = Duration::from_secs(10);
    api.on("GET", GITLAB_RAW, [Reply::text(200, "{\"a\": 1}")]);
    let (bytes, info) = history::fetch_report_file_or_why(
        &gitlab_source(&api, Some("jt"), None),
        "main",
        "timings.json",
        limit,
    )
    .unwrap();
    assert_eq!(bytes, b"{\"a\": 1}");
    assert_eq!(info.platform, "GitLab");
    let sent = api.requests();
    assert_eq!(sent[0].path, GITLAB_RAW);
    assert_eq!(sent[0].query_param("job"), Some(history::GITLAB_REPORT_JOB));
    assert_eq!(sent[0].header("job-token"), Some("jt"));
    assert_eq!(sent[0].header("private-token"), None);

    // 401 for the job token → the access token; its answer is a redirect to storage.
    api.clear_requests();
    api.on_fn("GET", GITLAB_RAW, {
        let to = format!("{}/objects/timings.json?X-Amz-Signature=s", storage.url());
        move |req| {
            if req.header("job-token").is_some() {
                Reply::json(401, json!({"message": "401 Unauthorized"}))
            } else {
                Reply::empty(302).header("Location", &to)
            }
        }
    });
    storage.on(
        "GET",
        "/objects/timings.json",
        [Reply::text(200, "{\"b\": 2}")],
    );
    let (bytes, _) = history::fetch_report_file_or_why(
        &gitlab_source(&api, Some("jt"), Some("glpat-access")),
        "main",
        "timings.json",
        limit,
    )
    .unwrap();
    assert_eq!(bytes, b"{\"b\": 2}");
    let sent = api.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].header("private-token"), Some("glpat-access"));
    assert_no_credentials(&storage);

    // 401 with only the job token: an error naming it.
    let err = history::fetch_report_file_or_why(
        &gitlab_source(&api, Some("jt"), None),
        "main",
        "timings.json",
        limit,
    )
    .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("the token was refused"), "{err}");

    // 404: no such job or file on that ref.
    api.on(
        "GET",
        GITLAB_RAW,
        [Reply::json(404, json!({"message": "404 Not Found"}))],
    );
    assert!(matches!(
        history::fetch_report_file(
            &gitlab_source(&api, Some("jt"), None),
            "main",
            "timings.json",
            limit
        ),
        Ok(None)
    ));
    let err = history::fetch_report_file_or_why(
        &gitlab_source(&api, Some("jt"), None),
        "main",
        "timings.json",
        limit,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no successful job `parallel-pytest-report` on `main`"),
        "{err}"
    );
}

/// "main" on GitLab: one real run, and `report` in a GitLab job records which pipeline, job,
/// commit and ref wrote the store (GitLab's raw-artifact endpoint gives the file only).
fn store_from_a_real_gitlab_run() -> Vec<u8> {
    let main = fixture_copy("timings-chain");
    Cmd::new()
        .current_dir(main.path())
        .env("PARALLEL_PYTEST_PYTHON", python())
        .args(["run", "--workers", "1", "--no-timings-fetch"])
        .expect_code(0);
    Cmd::new()
        .current_dir(main.path())
        .env("GITLAB_CI", "true")
        .env("CI_PIPELINE_ID", "9001")
        .env("CI_JOB_ID", "777001")
        .env("CI_COMMIT_SHA", SHA)
        .env("CI_COMMIT_REF_NAME", "main")
        .args(["report", "--timings-out", "store.json", ".parallel-pytest"])
        .expect_code(0);
    std::fs::read(main.path().join("store.json")).unwrap()
}

/// `plan` on a GitLab merge request pipeline with a cold cache fetches through the job token
/// (which every job has anyway) and names the pipeline, job, commit and date from the store's
/// provenance; a 404 or a 401 is a warning and the next source is tried.
#[test]
fn gitlab_plan_uses_the_default_branch_report_job() {
    let api = MockServer::start();
    let branch = fixture_copy("timings-chain");
    let store = store_from_a_real_gitlab_run();
    let written: Value = serde_json::from_slice(&store).unwrap();
    let provenance = &written["provenance"];
    assert_eq!(provenance["platform"], "GitLab", "{written}");
    assert_eq!(provenance["run_id"], 9001);
    assert_eq!(provenance["job_id"], 777001);
    assert_eq!(provenance["commit"], SHA);
    assert_eq!(provenance["ref"], "main");
    let date = provenance["date"].as_str().unwrap().to_owned();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&date).is_ok() && date.ends_with('Z'),
        "{date}"
    );

    // The same store restored by the cache (the component's `--timings`): this branch's own
    // when it names this branch, the base branch's when the cache fell back to `main`'s entry.
    std::fs::create_dir_all(branch.path().join(".parallel-pytest-cache")).unwrap();
    std::fs::write(
        branch.path().join(".parallel-pytest-cache/timings.json"),
        &store,
    )
    .unwrap();
    let cached = |reference: &str| {
        let (stdout, _) = Cmd::new()
            .current_dir(branch.path())
            .env("GITLAB_CI", "true")
            .env("CI_COMMIT_REF_NAME", reference)
            .args(["plan", "--shards", "2"])
            .args(["--timings", ".parallel-pytest-cache/timings.json"])
            .expect_code(0);
        stdout
    };
    let named = format!("(GitLab `main` pipeline 9001 job 777001 commit 0123456789ab of {date})");
    let on_main = cached("main");
    assert!(
        on_main.contains("timings source: local `") && on_main.contains(&named),
        "{on_main}"
    );
    let on_feature = cached("feature/x");
    assert!(
        on_feature.contains("timings source: base-store `") && on_feature.contains(&named),
        "{on_feature}"
    );
    std::fs::remove_dir_all(branch.path().join(".parallel-pytest-cache")).unwrap();

    let raw = "/api/v4/projects/42/jobs/artifacts/main/raw/.parallel-pytest-report/timings.json";
    api.on(
        "GET",
        raw,
        [Reply::text(200, std::str::from_utf8(&store).unwrap())],
    );
    let plan = |format: &str| {
        Cmd::new()
            .current_dir(branch.path())
            .env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", format!("{}/api/v4", api.url()))
            .env("CI_PROJECT_ID", "42")
            .env("CI_PROJECT_DIR", branch.path())
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_JOB_TOKEN", "job-token-value")
            .args(["plan", "--shards", "2", "--format", format])
            .expect_code(0)
    };
    let (stdout, _) = plan("text");
    let expected = format!(
        "timings source: artifact `{}` (GitLab `main` pipeline 9001 job 777001 commit 0123456789ab of {date}), 100% of planned tests timed",
        branch
            .path()
            .join(".parallel-pytest/fetched-timings.json")
            .display()
    );
    assert!(stdout.contains(&expected), "{expected}\n{stdout}");
    let sent = api.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, raw);
    assert_eq!(sent[0].query_param("job"), Some(history::GITLAB_REPORT_JOB));
    assert_eq!(sent[0].header("job-token"), Some("job-token-value"));
    assert_eq!(sent[0].header("private-token"), None);
    // The plan JSON carries the same, from the prefetched store (no second request).
    let (stdout, _) = plan("json");
    let source = &plan_json(&stdout)["timings_source"];
    assert_eq!(source["kind"], "artifact");
    assert_eq!(
        source["run"],
        json!({"platform": "GitLab", "ref": "main", "run_id": 9001, "job_id": 777001,
               "commit": SHA, "date": date})
    );
    assert_eq!(api.requests().len(), 1);

    // A 404 (no such job or ref) and a 401 are warnings, and the plan goes on with what else
    // there is (here a `.test_durations` timing 2 of the 14 tests).
    std::fs::write(
        branch.path().join(".test_durations"),
        r#"{"tests/test_slow.py::test_slow_one": 1.5, "tests/test_slow.py::test_slow_two": 1.5}"#,
    )
    .unwrap();
    for (status, why) in [
        (404, "no successful job `parallel-pytest-report` on `main`"),
        (401, "HTTP 401 (the token was refused)"),
    ] {
        std::fs::remove_file(branch.path().join(".parallel-pytest/fetched-timings.json"))
            .unwrap_or(());
        api.clear_requests();
        api.on(
            "GET",
            raw,
            [Reply::json(status, json!({"message": format!("{status}")}))],
        );
        let (stdout, stderr) = plan("text");
        assert!(
            stderr.contains("warning: timings: no store from an earlier run's artifact:")
                && stderr.contains(why),
            "{status}: {stderr}"
        );
        assert!(
            stdout.contains("timings source: local `") && stdout.contains(".test_durations`"),
            "{status}: {stdout}"
        );
        assert_eq!(api.requests().len(), 1, "{status}");
    }
    std::fs::remove_file(branch.path().join(".test_durations")).unwrap();
    let (stdout, _) = plan("text");
    assert!(stdout.contains("timings source: estimates"), "{stdout}");

    // Opted out in pyproject.toml: no request at all, and no warning about one.
    std::fs::write(
        branch.path().join("pyproject.toml"),
        "[tool.parallel-pytest]\ntimings-fetch = false\n",
    )
    .unwrap();
    api.clear_requests();
    let (stdout, stderr) = plan("text");
    assert!(api.requests().is_empty(), "{:?}", api.requests());
    assert!(!stderr.contains("earlier run"), "{stderr}");
    assert!(stdout.contains("timings source: estimates"), "{stdout}");
}

/// The name of the artifact lives in one place: the action uploads what the binary looks for.
#[test]
fn the_action_uploads_the_artifact_the_chain_reads() {
    let action = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    assert!(
        action.contains("name: ${{ inputs.artifact-name }}-history"),
        "action.yml must upload `<artifact-name>-history`"
    );
    assert_eq!(history::DEFAULT_ARTIFACT, "parallel-pytest-history");
    assert!(
        action.contains("default: parallel-pytest\n"),
        "default artifact-name changed"
    );
    let component =
        std::fs::read_to_string(repo_root().join("templates/parallel-pytest.yml")).unwrap();
    assert!(component.contains(&format!("{}:", history::GITLAB_REPORT_JOB)));
    assert!(component.contains(&format!(
        "--timings-out {}/{}",
        history::GITLAB_REPORT_DIR,
        history::STORE_FILE
    )));
}

/// The reusable fetch for the base comparison: any named file of the same artifact, from the
/// run of one exact commit (a pull request's base head), with the run it came from.
#[test]
fn any_file_of_the_artifact_from_one_commit() {
    let api = MockServer::start();
    let storage = MockServer::start();
    let results = br#"{"tests": {}}"#;
    github_routes(
        &api,
        &storage,
        zip_of(&[("timings.json", b"{}"), ("results.json", results)]),
    );
    let platform = Platform::Github(GithubSource {
        api_url: api.url().to_owned(),
        repository: REPO.into(),
        token: Secret::new(TOKEN),
        workflow: Some("ci.yml".into()),
        artifact: history::DEFAULT_ARTIFACT.into(),
        default_branch: Some("main".into()),
        base_ref: Some("main".into()),
    });
    let limit = Duration::from_secs(10);
    let (bytes, info) =
        history::fetch_report_file_of_commit(&platform, "main", SHA, "results.json", limit)
            .unwrap()
            .expect("results.json is in the artifact");
    assert_eq!(bytes, results);
    assert_eq!(info.run_id, Some(RUN_ID));
    assert_eq!(info.commit.as_deref(), Some(SHA));
    let runs = api.requests_to(
        "GET",
        &format!("/repos/{REPO}/actions/workflows/ci.yml/runs"),
    );
    assert_eq!(runs[0].query_param("head_sha"), Some(SHA));
    assert_no_credentials(&storage);
    // A file the artifact does not hold is "nothing there", not an error.
    assert!(matches!(
        history::fetch_report_file(&platform, "main", "absent.json", limit),
        Ok(None)
    ));
    validate_github(
        &api,
        &[
            ("actions/list-workflow-runs", runs_body()),
            ("actions/list-workflow-run-artifacts", artifacts_body(false)),
        ],
    );
}

/// Issue 15, item 2 through the API: without `--base`, `report` in GitHub Actions compares
/// with the results file in the report artifact of the default branch's last successful run
/// (fetched as the timings are: the token never reaches the storage host), and
/// `--no-timings-fetch` asks nothing.
#[test]
fn report_compares_with_the_default_branch_results_artifact() {
    // "main": a real run whose report writes the results file the artifact carries.
    let main = fixture_copy("timings-chain");
    learn_on_main(main.path());
    let results = std::fs::read(main.path().join(RESULTS_OUT)).unwrap();
    let api = MockServer::start();
    let storage = MockServer::start();
    github_routes(&api, &storage, zip_of(&[(history::RESULTS_FILE, &results)]));

    // The branch: the same suite, run again.
    let branch = fixture_copy("timings-chain");
    let event = event_file(branch.path());
    Cmd::new()
        .current_dir(branch.path())
        .env("PARALLEL_PYTEST_PYTHON", python())
        .args(["run", "--workers", "1", "--no-timings-fetch"])
        .expect_code(0);

    let (stdout, _) = github_env(Cmd::new(), &api, &event, true)
        .current_dir(branch.path())
        .args([
            "report",
            "--format",
            "json",
            "--no-timings-fetch",
            ".parallel-pytest",
        ])
        .expect_code(0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(report["comparison"].is_null(), "{report}");
    assert!(
        api.requests().is_empty(),
        "--no-timings-fetch asked the API"
    );

    let (stdout, stderr) = github_env(Cmd::new(), &api, &event, true)
        .current_dir(branch.path())
        .args(["report", "--format", "json", ".parallel-pytest"])
        .expect_code(0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let comparison = &report["comparison"];
    assert!(comparison.is_object(), "no comparison: {report}\n{stderr}");
    let tests = report["totals"]["tests"].as_u64().unwrap();
    assert!(tests > 0);
    assert_eq!(comparison["counts"]["new_failures"], 0, "{comparison}");
    assert_eq!(comparison["counts"]["new_tests"], 0, "{comparison}");
    assert_eq!(comparison["counts"]["removed_tests"], 0, "{comparison}");
    assert!(
        comparison["base"].to_string().contains("GitHub"),
        "the base names where it came from: {comparison}"
    );
    let runs = api.requests_to(
        "GET",
        &format!("/repos/{REPO}/actions/workflows/ci.yml/runs"),
    );
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].query_param("branch"), Some("main"));
    assert_no_credentials(&storage);
    validate_github(
        &api,
        &[
            ("actions/list-workflow-runs", runs_body()),
            ("actions/list-workflow-run-artifacts", artifacts_body(false)),
        ],
    );
}
