//! Every file of the shared JUnit corpus (`../shared/junit-corpus`, see its README) through our
//! reader: no panics, the right per-file errors, and totals that agree with the corpus's
//! expectations. Deliberate differences are listed in `DIFFERENCES` with the reason.

use parallel_pytest::junit::reader::{Limits, ReadError, read_path};
use parallel_pytest::junit::{FileReport, Outcome};
use serde_json::Value;

use crate::harness::junit_corpus;

/// Files where we differ from the corpus's expectation on purpose.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "enricomi-publish-unit-test-result-action/python/test/files/junit-xml/no-attributes.xml",
        "nameless testcases with <skipped>/<failure>/<error>: upstream drops all four; we drop \
         only the passing one and keep the others as `(unnamed testcase)` (never hide a failure)",
    ),
    (
        "enricomi-publish-unit-test-result-action/python/test/files/junit-xml/no-attributes.junit-xml",
        "same file as `no-attributes.xml`, same reason",
    ),
    (
        "enricomi-publish-unit-test-result-action/python/test/files/xunit/mstest/jenkinsci/testcase6.junit-xml",
        "its only testcase has an empty name and classname and a <failure>: upstream drops it (0 \
         cases); we keep it as `(unnamed testcase)` because dropping it would hide a failure",
    ),
    (
        "mikepenz-action-junit-report/test_results/junit-web-test/expected.xml",
        "an unescaped `<` inside an attribute value: not well-formed XML, but quick-xml reads the \
         value unambiguously, so we keep the file's results instead of rejecting it",
    ),
    (
        "enricomi-publish-unit-test-result-action/python/test/files/junit-xml/pytest/corrupt-xml.xml",
        "upstream rejects the truncated file as a whole; we keep its complete testcases and mark \
         it truncated (which makes the report red), as the issue asks",
    ),
];

struct Counts {
    cases: u64,
    passed: u64,
    failure: u64,
    error: u64,
    skipped: u64,
}

fn count(report: &FileReport) -> Counts {
    let mut c = Counts {
        cases: 0,
        passed: 0,
        failure: 0,
        error: 0,
        skipped: 0,
    };
    for case in &report.cases {
        c.cases += 1;
        match case.outcome {
            Outcome::Passed | Outcome::Xpassed => c.passed += 1,
            Outcome::Failed => c.failure += 1,
            Outcome::Error => c.error += 1,
            Outcome::Skipped | Outcome::Xfailed => c.skipped += 1,
        }
    }
    c
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn every_corpus_file_parses_without_panic_and_totals_agree() {
    let Some(root) = junit_corpus() else { return };
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
            .unwrap();
    let limits = Limits::default();
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for entry in &manifest {
        let rel = entry["path"].as_str().unwrap();
        let path = root.join(rel);
        // Never panics, whatever the file (the test would abort here otherwise).
        let result = read_path(&path, &limits);
        let tags: Vec<&str> = entry["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let expect = entry["upstream_expected"]["expect"].as_str();
        let wellformed = entry["wellformed"].as_bool().unwrap_or(true);
        let non_junit = tags.iter().any(|t| t.starts_with("non-junit-root:"));
        let difference = DIFFERENCES.iter().find(|(p, _)| *p == rel);

        if non_junit || expect == Some("reject-not-junit") {
            // Well-formed, but not JUnit: a per-file "not a JUnit report" error.
            match &result {
                Err(ReadError::NotJunit { root, .. }) => {
                    assert!(!root.is_empty());
                }
                other => mismatches.push(format!("{rel}: expected NotJunit, got {other:?}")),
            }
            checked += 1;
            continue;
        }
        if expect == Some("error") || !wellformed {
            match (&result, difference) {
                (Err(_), _) => {}
                // A JUnit root followed by broken XML: partial result, marked truncated.
                (Ok(r), _) if r.truncated.is_some() => {}
                (Ok(_), Some(_)) => {}
                (Ok(r), None) => mismatches.push(format!(
                    "{rel}: malformed input read as complete ({} cases)",
                    r.cases.len()
                )),
            }
            checked += 1;
            continue;
        }
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                mismatches.push(format!("{rel}: unexpected error {e}"));
                continue;
            }
        };
        if report.truncated.is_some() {
            mismatches.push(format!(
                "{rel}: well-formed file reported truncated: {:?}",
                report.truncated
            ));
        }
        let got = count(&report);
        // Our reader drops passing testcases with neither name nor classname (as upstream
        // does): add them back for the element-count comparison.
        if let Some(counted) = entry.get("counted") {
            let disabled = u(counted, "status_disabled");
            let want = (
                u(counted, "cases"),
                // `status="disabled"` without a result element: counted passed by the corpus,
                // skipped by us (it did not run).
                u(counted, "passed") - disabled,
                u(counted, "failure"),
                u(counted, "error"),
                u(counted, "skipped") + disabled,
            );
            let have = (
                got.cases + u64::from(report.nameless_cases),
                got.passed + u64::from(report.nameless_cases),
                got.failure,
                got.error,
                got.skipped,
            );
            if want != have {
                mismatches.push(format!("{rel}: counted {want:?} != ours {have:?}"));
            }
        }
        // EnricoMi's per-case results (after dropping nameless testcases, as upstream does).
        if let Some(by) = entry["upstream_expected"]["results"].get("cases_by_result") {
            let want = (
                u(by, "success") + u(by, "disabled"),
                u(by, "failure"),
                u(by, "error"),
                u(by, "skipped"),
            );
            let have = (got.passed, got.failure, got.error, got.skipped);
            let want_adj = (
                want.0 - u(by, "disabled"),
                want.1,
                want.2,
                want.3 + u(by, "disabled"),
            );
            if want_adj != have && difference.is_none() {
                mismatches.push(format!(
                    "{rel}: upstream cases {want_adj:?} != ours {have:?}"
                ));
            }
        }
        // dorny: passed / failed (failures + errors) / skipped.
        let up = &entry["upstream_expected"];
        if up.get("passed").is_some() {
            let want = (u(up, "passed"), u(up, "failed"), u(up, "skipped"));
            // dorny counts the nameless passing testcase we drop.
            let have = (
                got.passed + u64::from(report.nameless_cases),
                got.failure + got.error,
                got.skipped,
            );
            if want != have {
                mismatches.push(format!("{rel}: dorny {want:?} != ours {have:?}"));
            }
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} corpus files checked");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
