//! The project's own CI workflow (`.github/workflows/ci.yml`): it runs exactly `.ci/run` on
//! Linux, macOS and Windows and pins every action to a commit; the action's self-test runs on
//! the same three systems. (actionlint, zizmor and the workflow
//! schema run over every workflow in `action.rs`.)

use std::path::PathBuf;

use crate::harness::repo_root;

fn ci_yml() -> PathBuf {
    repo_root().join(".github/workflows/ci.yml")
}

#[test]
fn runs_ci_run_on_linux_macos_and_windows_with_pinned_actions() {
    let text = std::fs::read_to_string(ci_yml()).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let job = &doc["jobs"]["check"];
    let oses: Vec<&str> = job["strategy"]["matrix"]["os"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(oses, ["ubuntu-latest", "macos-latest", "windows-latest"]);
    assert_eq!(
        job["defaults"]["run"]["shell"], "bash",
        "Git Bash on Windows"
    );
    let steps = job["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.contains(&"bash .ci/run"), "{runs:?}");
    for step in steps {
        if let Some(uses) = step["uses"].as_str() {
            let (_, reference) = uses.split_once('@').unwrap();
            assert!(
                reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
                "`{uses}` must be pinned to a full commit SHA"
            );
        }
    }
}

/// The action's self-test: build, 3 shards and the report on each runner system, every `run:`
/// in bash (Git Bash on Windows), each system's report fetching only its own artifacts.
#[test]
fn selftest_runs_the_action_on_all_three_systems() {
    let path = repo_root().join(".github/workflows/selftest.yml");
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["defaults"]["run"]["shell"], "bash");
    for job in ["build", "test", "report"] {
        let oses: Vec<&str> = doc["jobs"][job]["strategy"]["matrix"]["os"]
            .as_sequence()
            .unwrap_or_else(|| panic!("job `{job}` has no os matrix"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            oses,
            ["ubuntu-latest", "macos-latest", "windows-latest"],
            "{job}"
        );
        assert_eq!(doc["jobs"][job]["runs-on"], "${{ matrix.os }}", "{job}");
    }
    let shards = &doc["jobs"]["test"]["strategy"]["matrix"]["shard"];
    assert_eq!(shards, &serde_yaml_ng::Value::from(vec![1, 2, 3]));
    for job in ["test", "report"] {
        let action = doc["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["uses"] == "./")
            .unwrap();
        assert_eq!(
            action["with"]["artifact-name"], "selftest-${{ matrix.os }}",
            "{job}"
        );
    }
}
