//! Quarantine (`[[tool.parallel-pytest.quarantine]]`) against real pytest: a failing
//! quarantined test keeps the shard and the report green and shows up as quarantined in every
//! output; an expired entry turns the report red and names itself; a bad entry is a usage error
//! naming its line.

use std::path::Path;

use crate::harness::{Cmd, fixture_copy, python};

const FAILING: &str = "tests/test_flaky.py::test_network_download";

fn pyproject(dir: &Path, expires: &str) {
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            r#"[tool.parallel-pytest]
workers = 1

[[tool.parallel-pytest.quarantine]]
id = "tests/test_flaky.py"
reason = "the mirror times out"
expires = "{expires}"
owner = "@alice"
"#
        ),
    )
    .unwrap();
}

fn run(dir: &Path, shard: &str, code: i32) -> String {
    Cmd::new()
        .current_dir(dir)
        .args(["run", "--shard", shard, "--python"])
        .arg(python())
        .expect_code(code)
        .1
}

#[test]
fn a_failing_quarantined_test_leaves_the_job_green_and_shows_everywhere() {
    let dir = fixture_copy("quarantine-suite");
    pyproject(dir.path(), "2999-12-31");
    let stderr = run(dir.path(), "1/2", 0);
    let stderr2 = run(dir.path(), "2/2", 0);
    let both = stderr + &stderr2;
    assert!(
        both.contains("every failure of this shard is quarantined") && both.contains(FAILING),
        "{both}"
    );

    let summary = dir.path().join("summary.md");
    let cq = dir.path().join("cq.json");
    let json = dir.path().join("report.json");
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["report", "--expect-shards", "2", "--summary"])
        .arg(&summary)
        .arg("--codequality-out")
        .arg(&cq)
        .arg("--json-out")
        .arg(&json)
        .env("GITHUB_ACTIONS", "true")
        .expect_code(0);
    // Terminal, with the annotation as a warning, not an error.
    assert!(
        stdout.contains(&format!("QUARANTINED {FAILING}")),
        "{stdout}"
    );
    assert!(stdout.contains("1 quarantined"), "{stdout}");
    assert!(
        stdout.contains("::warning") && stdout.contains("failed (quarantined)"),
        "{stdout}"
    );
    assert!(!stdout.contains("::error"), "{stdout}");
    // The one that passed says so: the list may shrink.
    assert!(
        stdout.contains("PASSED tests/test_flaky.py::test_network_upload (quarantined, passed"),
        "{stdout}"
    );
    // Job summary (also the PR comment and MR note).
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("### 🔒 Quarantine"), "{md}");
    assert!(md.contains("1 quarantined test failed"), "{md}");
    assert!(md.starts_with("## ✅"), "{md}");
    // JSON contract.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["totals"]["failed"], 0, "{doc}");
    assert_eq!(doc["failures"].as_array().unwrap().len(), 0, "{doc}");
    let q = &doc["quarantined"][0];
    assert_eq!(q["id"], FAILING, "{doc}");
    assert_eq!(q["outcome"], "quarantined", "{doc}");
    assert_eq!(q["was"], "failed", "{doc}");
    assert_eq!(q["entry"]["owner"], "@alice", "{doc}");
    assert_eq!(
        doc["quarantine"]["passed"][0],
        "tests/test_flaky.py::test_network_upload"
    );
    // Code Quality: severity info.
    let cq: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cq).unwrap()).unwrap();
    assert_eq!(cq.as_array().unwrap().len(), 1, "{cq}");
    assert_eq!(cq[0]["severity"], "info", "{cq}");
    assert_eq!(cq[0]["check_name"], "pytest-quarantined", "{cq}");
}

#[test]
fn an_expired_entry_turns_the_report_red_naming_it() {
    let dir = fixture_copy("quarantine-suite");
    pyproject(dir.path(), "2020-01-31");
    // Expired: it quarantines nothing, so the shard fails as pytest did.
    run(dir.path(), "1/1", 1);
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["report", "--expect-shards", "1"])
        .expect_code(1);
    assert!(
        stdout.contains(
            "quarantine entry `tests/test_flaky.py` expired on 2020-01-31, owner @alice (pyproject.toml:4)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("FAILED {FAILING}")), "{stdout}");
}

#[test]
fn an_expired_entry_is_red_even_when_its_tests_pass() {
    let dir = fixture_copy("quarantine-suite");
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[[tool.parallel-pytest.quarantine]]\nid = \"tests/test_ok.py::test_plain\"\nreason = \"was flaky\"\nexpires = 2021-05-01\n",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("tests/test_flaky.py")).unwrap();
    run(dir.path(), "1/1", 0);
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["report", "--format", "json"])
        .expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        doc["quarantine"]["expired"][0]["id"],
        "tests/test_ok.py::test_plain"
    );
    assert_eq!(doc["quarantine"]["expired"][0]["expires"], "2021-05-01");
}

#[test]
fn bad_entries_are_usage_errors_naming_the_line() {
    let dir = fixture_copy("quarantine-suite");
    for (body, line, says) in [
        (
            "id = \"a\"\nreason = \"r\"\n",
            "pyproject.toml:2",
            "has no `expires`",
        ),
        (
            "id = \"a\"\nreason = \"r\"\nexpires = \"2026-02-30\"\n",
            "pyproject.toml:5",
            "2026-02-30",
        ),
        (
            "id = \"a\"\nreason = \"r\"\nexpires = \"2026-12-31\"\nonwer = \"x\"\n",
            "pyproject.toml:6",
            "unknown quarantine key `onwer`",
        ),
    ] {
        std::fs::write(
            dir.path().join("pyproject.toml"),
            format!("[tool.parallel-pytest]\n[[tool.parallel-pytest.quarantine]]\n{body}"),
        )
        .unwrap();
        for command in ["run", "report"] {
            let mut cmd = Cmd::new().current_dir(dir.path()).arg(command);
            if command == "run" {
                cmd = cmd.arg("--python").arg(python());
            }
            let (_, stderr) = cmd.expect_code(2);
            assert!(
                stderr.contains(line) && stderr.contains(says),
                "{command}: {stderr}"
            );
        }
    }
}

#[test]
fn a_quarantine_file_is_read_and_named() {
    let dir = fixture_copy("quarantine-suite");
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.parallel-pytest]\nquarantine-file = \"ci/quarantine.toml\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("ci")).unwrap();
    std::fs::write(
        dir.path().join("ci/quarantine.toml"),
        "[[quarantine]]\nid = \"tests/test_flaky.py::test_network_download\"\nreason = \"r\"\nexpires = \"2999-01-01\"\n\n[[quarantine]]\nid = \"x\"\nreason = \"r\"\nexpires = \"2999-01-01\"\nwhen = 1\n",
    )
    .unwrap();
    let (_, stderr) = Cmd::new()
        .current_dir(dir.path())
        .arg("report")
        .expect_code(2);
    assert!(
        stderr.contains("ci/quarantine.toml:10") && stderr.contains("`when`"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("ci/quarantine.toml"),
        "[[quarantine]]\nid = \"tests/test_flaky.py::test_network_download\"\nreason = \"r\"\nexpires = \"2999-01-01\"\n",
    )
    .unwrap();
    run(dir.path(), "1/1", 0);
    Cmd::new()
        .current_dir(dir.path())
        .arg("report")
        .expect_code(0);
}
