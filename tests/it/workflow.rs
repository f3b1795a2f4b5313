//! The project's own CI workflow (`.github/workflows/ci.yml`): it runs exactly `.ci/run` on
//! Linux and macOS and pins every action to a commit. (actionlint, zizmor and the workflow
//! schema run over every workflow in `action.rs`.)

use std::path::PathBuf;

use crate::harness::repo_root;

fn ci_yml() -> PathBuf {
    repo_root().join(".github/workflows/ci.yml")
}

#[test]
fn runs_ci_run_on_linux_and_macos_with_pinned_actions() {
    let text = std::fs::read_to_string(ci_yml()).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let job = &doc["jobs"]["check"];
    let oses: Vec<&str> = job["strategy"]["matrix"]["os"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(oses, ["ubuntu-latest", "macos-latest"]);
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
