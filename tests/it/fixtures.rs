//! The fixture suites' declared expectations (`tests/fixtures/*/expected.toml`) against a real
//! run: `parallel-pytest run` with 2 pytest-xdist workers, one shard, then the JUnit it wrote,
//! test by test. Other modules rely on these tables; this keeps the tables true.

use std::collections::BTreeSet;

use crate::harness::{Cmd, expected, fixture_copy, junit_outcomes, python};

/// Run `fixture` as one shard and compare every test's outcome with its `expected.toml`.
fn check(fixture: &str, exit_code: i32) {
    let want = expected(fixture);
    let dir = fixture_copy(fixture);
    let out = dir.path().join("out");
    Cmd::new()
        .current_dir(dir.path())
        .arg("run")
        .arg("--python")
        .arg(python())
        .args(["--workers", "2", "--out-dir"])
        .arg(&out)
        .expect_code(exit_code);
    let (outcomes, attempts) = junit_outcomes(&out.join("junit-1-of-1.xml"));
    assert_eq!(outcomes, want.outcomes, "outcomes of `{fixture}`");
    let rerun: BTreeSet<String> = attempts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        rerun, want.rerun,
        "tests of `{fixture}` with more than one attempt"
    );
    let serial = std::fs::read_to_string(out.join("serial-1-of-1.txt")).unwrap_or_default();
    let serial: BTreeSet<String> = serial.lines().map(str::to_owned).collect();
    assert_eq!(serial, want.serial, "serial phase of `{fixture}`");
}

#[test]
fn processes_outcomes() {
    check("processes", 0);
}

#[test]
fn report_suite_outcomes() {
    check("report-suite", 1);
}

#[test]
fn isolation_outcomes() {
    check("isolation", 0);
}

#[test]
fn plan_split_outcomes() {
    check("plan-split", 0);
}

#[test]
fn compare_suite_outcomes() {
    check("compare-suite", 1);
}
