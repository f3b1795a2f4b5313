//! The GitHub API of a repository (`o/r`) whose default branch `main` has one successful run
//! with the report artifact, as the timings chain reads it: shared by the chain's own tests
//! (`history.rs`) and the action's end-to-end run under act (`act.rs`). The artifact download
//! answers with a 302 to a second mock, the storage host, which must never see a credential;
//! every recorded GitHub request is checked against GitHub's own OpenAPI operations
//! (`../shared/github-api/schemas.json`: path, query and the mock's answers). The store the
//! artifact carries comes from a real run of the `timings-chain` suite.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use parallel_pytest::publish::history;
use serde_json::{Value, json};

use crate::harness::{Cmd, fixture_copy, python, repo_root, tool};
use crate::mock_http::{MockServer, Recorded, Reply};

pub const TOKEN: &str = "ghs_SECRET_history_token";
pub const REPO: &str = "o/r";
pub const RUN_ID: u64 = 101;
pub const ARTIFACT_ID: u64 = 555;
pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The required fields of GitHub's schemas with placeholders (see the fixture's
/// `make_minimal.py`), overlaid with what a test sets.
pub fn minimal(kind: &str, set: Value) -> Value {
    let path = crate::harness::fixtures().join("timings-chain-api/minimal.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = doc[kind].clone();
    for (k, v) in set.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

pub fn runs_body() -> Value {
    json!({
        "total_count": 1,
        "workflow_runs": [minimal("run", json!({
            "id": RUN_ID, "name": "ci", "head_branch": "main", "head_sha": SHA,
            "status": "completed", "conclusion": "success",
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:05:00Z",
            "html_url": format!("https://github.com/{REPO}/actions/runs/{RUN_ID}"),
            "run_number": 7, "event": "push", "workflow_id": 3
        }))]
    })
}

pub fn artifacts_body(expired: bool) -> Value {
    json!({
        "total_count": 1,
        "artifacts": [minimal("artifact", json!({
            "id": ARTIFACT_ID, "node_id": "MDg6QXJ0aWZhY3Q1NTU=", "name": history::DEFAULT_ARTIFACT,
            "size_in_bytes": 900, "expired": expired,
            "url": format!("https://api.github.com/repos/{REPO}/actions/artifacts/{ARTIFACT_ID}"),
            "archive_download_url": format!("https://api.github.com/repos/{REPO}/actions/artifacts/{ARTIFACT_ID}/zip"),
            "created_at": "2026-12-01T10:04:00Z", "expires_at": "2027-03-01T10:04:00Z",
            "updated_at": "2026-12-01T10:04:00Z", "digest": null,
            "workflow_run": {"id": RUN_ID, "repository_id": 1, "head_repository_id": 1, "head_branch": "main", "head_sha": SHA}
        }))]
    })
}

/// The GitHub API of a repository whose `main` has one successful run with the report
/// artifact, served through a redirect to `storage`.
pub fn github_routes(api: &MockServer, storage: &MockServer, zip: Vec<u8>) {
    api.on(
        "GET",
        &format!("/repos/{REPO}/actions/workflows/ci.yml/runs"),
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
        [Reply::empty(302).header(
            "Location",
            &format!("{}/blob/artifact-555.zip?sig=signed", storage.url()),
        )],
    );
    storage.on(
        "GET",
        "/blob/artifact-555.zip",
        [Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/zip".into())],
            body: zip,
        }],
    );
}

/// Which OpenAPI operation a recorded request is, by method and path template.
pub fn operation_of<'a>(doc: &'a Value, req: &Recorded) -> Option<(&'a str, &'a Value)> {
    doc["operations"]
        .as_object()?
        .iter()
        .find(|(_, op)| {
            op["method"] == req.method.as_str() && {
                let tpl: Vec<&str> = op["path"].as_str().unwrap_or("").split('/').collect();
                let got: Vec<&str> = req.path.split('/').collect();
                tpl.len() == got.len()
                    && tpl
                        .iter()
                        .zip(&got)
                        .all(|(t, g)| (t.starts_with('{') && !g.is_empty()) || t == g)
            }
        })
        .map(|(k, v)| (k.as_str(), v))
}

/// Each request is a documented operation with documented query parameters (and enum values),
/// and what the mock answered for it matches the operation's response schema.
pub fn validate_github(api: &MockServer, answers: &[(&str, Value)]) {
    // Beside the checkout, or beside the folder of worktrees.
    let schemas = ["../shared", "../../shared"]
        .iter()
        .map(|d| repo_root().join(d).join("github-api/schemas.json"))
        .find(|p| p.exists())
        .unwrap_or_else(|| repo_root().join("../shared/github-api/schemas.json"));
    if !schemas.exists() {
        eprintln!(
            "skipping GitHub schema validation: `{}` not found",
            schemas.display()
        );
        return;
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&schemas).unwrap()).unwrap();
    let requests = api.requests();
    assert!(!requests.is_empty(), "no GitHub requests recorded");
    for req in &requests {
        let (name, op) = operation_of(&doc, req)
            .unwrap_or_else(|| panic!("{} {} is no GitHub operation", req.method, req.path));
        let params = op["query"].as_array().cloned().unwrap_or_default();
        for pair in req.query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let param = params
                .iter()
                .find(|p| p["name"] == k)
                .unwrap_or_else(|| panic!("{name}: unknown query parameter `{k}`"));
            if let Some(allowed) = param["schema"]["enum"].as_array() {
                assert!(
                    allowed.iter().any(|a| a == v),
                    "{name}: `{k}={v}` not allowed"
                );
            }
            if param["schema"]["type"] == "integer" {
                assert!(v.parse::<u64>().is_ok(), "{name}: `{k}={v}` not an integer");
            }
        }
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(req.header("x-github-api-version"), Some("2022-11-28"));
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, (op, body)) in answers.iter().enumerate() {
        let mut schema = doc["operations"][*op]["response"].clone();
        assert!(schema.is_object(), "no response schema for {op}");
        schema["$schema"] = doc["dialect"].clone();
        let schema_path = dir.path().join(format!("schema-{i}.json"));
        let body_path = dir.path().join(format!("body-{i}.json"));
        std::fs::write(&schema_path, schema.to_string()).unwrap();
        std::fs::write(&body_path, body.to_string()).unwrap();
        let out = std::process::Command::new(tool("check-jsonschema"))
            .arg("--schemafile")
            .arg(&schema_path)
            .arg(&body_path)
            .output()
            .expect("run check-jsonschema");
        assert!(
            out.status.success(),
            "the mock's {op} answer does not match GitHub's schema:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// No request to the storage host carries any credential.
pub fn assert_no_credentials(storage: &MockServer) {
    let sent = storage.requests();
    assert!(!sent.is_empty(), "the storage host was never asked");
    for req in sent {
        for h in ["authorization", "private-token", "job-token", "cookie"] {
            assert_eq!(req.header(h), None, "{h} sent to the storage host");
        }
        assert!(!format!("{:?}", req.headers).contains(TOKEN));
    }
}

/// "main": one real run (one worker) of the `timings-chain` suite copied into `main`, and
/// `report --timings-out` writes the store the artifact carries: the tests' times and the
/// fixed costs (start-up, each file's collection) the run measured. When `main` already holds
/// a store from an earlier call, this is main's next run: it plans from that store and the
/// report smooths the new measurements into it. Also writes `results.json` beside it.
pub fn learn_on_main(main: &Path) -> Vec<u8> {
    let earlier = main.join(STORE_OUT).is_file();
    let mut run = Cmd::new()
        .current_dir(main)
        .env("PARALLEL_PYTEST_PYTHON", python())
        .args(["run", "--workers", "1", "--no-timings-fetch"]);
    let mut report = Cmd::new().current_dir(main).args([
        "report",
        "--timings-out",
        STORE_OUT,
        "--results-out",
        RESULTS_OUT,
    ]);
    if earlier {
        run = run.args(["--timings", STORE_OUT]);
        report = report.args(["--timings", STORE_OUT]);
    }
    run.expect_code(0);
    report.arg(".parallel-pytest").expect_code(0);
    std::fs::read(main.join(STORE_OUT)).unwrap()
}

/// Where [`learn_on_main`] writes the store and the results file, under `main`.
pub const STORE_OUT: &str = "store.json";
pub const RESULTS_OUT: &str = "results.json";

/// [`learn_on_main`] once, in a copy of the suite of its own.
pub fn store_from_a_real_run() -> Vec<u8> {
    let main = fixture_copy("timings-chain");
    learn_on_main(main.path())
}
