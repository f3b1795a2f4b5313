//! The GitLab component's shard and report jobs: exactly one set of jobs publishes test
//! reports (GitLab adds up every job's `reports:junit`), and Code Quality paths are relative to
//! the repository (`CI_PROJECT_DIR`), not to `working_directory`.

use std::path::Path;
use std::process::Command;

use parallel_pytest::publish::gitlab_child::{self, COMPONENT_TEMPLATE};
use parallel_pytest::publish::history;
use serde_yaml_ng::Value;

use crate::harness::Cmd;

/// The component's jobs with the inputs given by `PARALLEL_PYTEST_INPUT_*` names.
fn jobs(inputs: &[(&str, &str)]) -> Value {
    let component = gitlab_child::parse_component(COMPONENT_TEMPLATE).unwrap();
    let resolved = gitlab_child::resolve_inputs(&component.inputs, |var| {
        inputs
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    gitlab_child::interpolate(&component.body, &resolved).unwrap()
}

/// Runs the shard job's test script (its last `script` entry) in `dir` with a stand-in binary
/// that writes one shard's JUnit with one test and exits 1, as a failing shard does; returns
/// the exit code and the testcases in the files the job's `reports:junit` glob matches.
fn shard_job_reports(report: &str, dir: &Path) -> (Option<i32>, usize) {
    let jobs = jobs(&[("PARALLEL_PYTEST_INPUT_REPORT", report)]);
    let shard = &jobs["parallel-pytest-shard"];
    let script = shard["script"].as_sequence().unwrap().last().unwrap();
    let fake = dir.join("fake-parallel-pytest");
    std::fs::write(
        &fake,
        "#!/bin/sh\nmkdir -p .parallel-pytest\nprintf '<testsuites><testsuite><testcase classname=\"t\" name=\"a\"/></testsuite></testsuites>\\n' > .parallel-pytest/junit-1-of-2.xml\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script.as_str().unwrap())
        .current_dir(dir)
        .env("PARALLEL_PYTEST_BIN", &fake)
        .env("CI_NODE_INDEX", "1")
        .env("CI_NODE_TOTAL", "2")
        .output()
        .unwrap();
    let glob = shard["artifacts"]["reports"]["junit"].as_str().unwrap();
    let pattern = glob.trim_start_matches("./");
    let (folder, name) = pattern.rsplit_once('/').unwrap();
    assert_eq!(name, "*.xml", "{glob}");
    let folder = dir.join(folder.trim_start_matches("./"));
    let mut cases = 0;
    for entry in std::fs::read_dir(&folder).into_iter().flatten() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        cases += text.matches("<testcase").count();
    }
    (out.status.code(), cases)
}

#[test]
fn only_one_set_of_jobs_publishes_test_reports() {
    let jobs_on = jobs(&[]);
    assert!(
        jobs_on["parallel-pytest-report"]["artifacts"]["reports"]["junit"]
            .as_str()
            .unwrap()
            .ends_with(".parallel-pytest-report/junit.xml")
    );
    // With the report job (the default), the shards publish no testcase; without it, theirs.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(shard_job_reports("true", dir.path()), (Some(1), 0));
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(shard_job_reports("false", dir.path()), (Some(1), 1));
}

#[test]
fn code_quality_paths_are_relative_to_the_repository() {
    let repo = tempfile::tempdir().unwrap();
    let project = repo.path().join("sub");
    std::fs::create_dir_all(project.join(".parallel-pytest")).unwrap();
    std::fs::write(
        project.join(".parallel-pytest/junit-1-of-1.xml"),
        r#"<testsuites><testsuite name="pytest"><testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" line="3" time="0.1"><failure message="assert 0">boom</failure></testcase></testsuite></testsuites>"#,
    )
    .unwrap();
    let quality = |project_dir: Option<&Path>| {
        let mut cmd =
            Cmd::new()
                .current_dir(&project)
                .args(["report", "--codequality-out", "cq.json"]);
        if let Some(dir) = project_dir {
            cmd = cmd.env("CI_PROJECT_DIR", dir);
        }
        cmd.expect_code(1);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(project.join("cq.json")).unwrap())
                .unwrap();
        doc[0]["location"]["path"].as_str().unwrap().to_owned()
    };
    assert_eq!(quality(Some(repo.path())), "sub/tests/test_a.py");
    // The project at the repository's root, or no GitLab checkout known: as the report has it.
    assert_eq!(quality(Some(&project)), "tests/test_a.py");
    assert_eq!(quality(None), "tests/test_a.py");
}

/// The timings cache: every job restores this branch's entry, else the default branch's, else
/// the one shared key earlier revisions saved; only the report job writes, and only its own
/// branch's key (so a branch cannot skew another's plan), even when tests failed.
#[test]
fn timings_cache_falls_back_to_the_default_branch_and_each_branch_writes_its_own() {
    let want_keys = |job: &Value| {
        let cache = &job["cache"];
        assert_eq!(
            cache["key"].as_str(),
            Some("parallel-pytest-timings-$CI_COMMIT_REF_SLUG-$CI_COMMIT_REF_PROTECTED"),
            "{cache:?}"
        );
        let fallback: Vec<&str> = cache["fallback_keys"]
            .as_sequence()
            .unwrap_or_else(|| panic!("no fallback_keys: {cache:?}"))
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(
            fallback,
            [
                "parallel-pytest-timings-$CI_DEFAULT_BRANCH-true",
                "parallel-pytest-timings"
            ]
        );
        // GitLab takes at most five fallback keys.
        assert!(fallback.len() <= 5);
        assert_eq!(
            cache["paths"][0].as_str(),
            Some("./.parallel-pytest-cache/"),
            "{cache:?}"
        );
        cache["policy"].as_str().unwrap().to_owned()
    };
    let fixed = jobs(&[]);
    assert_eq!(want_keys(&fixed["parallel-pytest-shard"]), "pull");
    assert_eq!(want_keys(&fixed["parallel-pytest-report"]), "pull-push");
    assert_eq!(
        fixed["parallel-pytest-report"]["cache"]["when"].as_str(),
        Some("always")
    );
    let auto = jobs(&[("PARALLEL_PYTEST_INPUT_TARGET_SECONDS", "60")]);
    assert_eq!(want_keys(&auto["parallel-pytest-plan"]), "pull");
    // Nothing in the template decides the policy by branch any more.
    assert!(!COMPONENT_TEMPLATE.contains("PARALLEL_PYTEST_CACHE_POLICY"));
}

/// Auto mode and the timings chain: `GET /projects/:id/jobs/artifacts/<ref>/raw/...?job=
/// parallel-pytest-report` searches the latest successful pipeline of the ref and then its child
/// pipelines, parent first. In auto mode the parent pipeline has no job of that name (its
/// report job is ruled out, so GitLab never creates it) and the child has exactly one, which
/// keeps the store at the path the chain asks for.
#[test]
fn auto_mode_report_job_is_found_by_name_in_the_child_pipeline_only() {
    let lookup =
        |var: &str| (var == "PARALLEL_PYTEST_INPUT_TARGET_SECONDS").then(|| "60".to_owned());
    let parent = jobs(&[("PARALLEL_PYTEST_INPUT_TARGET_SECONDS", "60")]);
    let rule = &parent[history::GITLAB_REPORT_JOB]["rules"][0];
    assert_eq!(
        rule["if"].as_str(),
        Some(r#""true" != "true" || "60" != "0""#)
    );
    assert_eq!(rule["when"].as_str(), Some("never"));
    assert!(parent["parallel-pytest-child"]["trigger"]["strategy"].as_str() == Some("depend"));

    let child: Value =
        serde_yaml_ng::from_str(&gitlab_child::render_from_lookup(3, lookup).unwrap()).unwrap();
    let report = &child[history::GITLAB_REPORT_JOB];
    assert_eq!(
        report["rules"][0]["if"].as_str(),
        Some(r#""true" != "true" || "0" != "0""#)
    );
    assert_eq!(report["rules"][1]["when"].as_str(), Some("always"));
    assert_eq!(
        report["artifacts"]["paths"][0].as_str(),
        Some(format!("./{}/", history::GITLAB_REPORT_DIR).as_str())
    );
    let script = report["script"][0].as_str().unwrap();
    assert!(
        script.contains(&format!(
            "--timings-out {}/{}",
            history::GITLAB_REPORT_DIR,
            history::STORE_FILE
        )),
        "{script}"
    );
    for parent_only in ["parallel-pytest-plan", "parallel-pytest-child"] {
        assert!(
            child.get(parent_only).is_none(),
            "{parent_only} in the child"
        );
    }
}
