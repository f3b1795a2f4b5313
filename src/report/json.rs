//! `report --format json` (a contract: its keys are documented in the README).

use serde::Serialize;

use super::model::{Notice, Problem, ShardRow, Shards, Summary, Totals};

#[derive(Serialize)]
struct Doc<'a> {
    totals: &'a Totals,
    failures: Vec<Failure<'a>>,
    shards: &'a Shards,
    /// Per shard: predicted wall (with fixed costs) vs measured, the error in %, resources.
    shard_rows: &'a [ShardRow],
    problems: &'a [Problem],
    /// Warnings and notices that leave the report complete.
    notices: &'a [Notice],
    complete: bool,
    /// Planned files in which pytest collected no test.
    collected_nothing: &'a [String],
    /// Planned node ids that matched no test.
    not_found: &'a [String],
    /// Where the plan's timings came from (`plan`'s `timings_source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    timings_source: Option<&'a crate::timings::Provenance>,
    /// Failures a quarantine entry covers (`outcome: "quarantined"`); absent without a quarantine.
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantined: Option<Vec<Quarantined<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantine: Option<QuarantineDoc<'a>>,
    /// The shards' combined coverage; absent without coverage data.
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<&'a super::coverage::CoverageReport>,
    /// `--fail-on` as applied: `new` only with a base.
    fail_on: super::compare::FailOn,
    /// Whether the job passes (exit 0).
    passes: bool,
    /// Against `--base`; `null` without one.
    comparison: Option<Comparison<'a>>,
}

#[derive(Serialize)]
struct Quarantined<'a> {
    id: &'a str,
    file: Option<&'a str>,
    line: Option<u64>,
    /// Always `quarantined`; `was` keeps pytest's outcome (`failed`, `error`).
    outcome: &'static str,
    was: crate::junit::Outcome,
    message: &'a str,
    shard: Option<u32>,
    /// The entry that covers it.
    entry: &'a super::quarantine::Entry,
}

#[derive(Serialize)]
struct QuarantineDoc<'a> {
    entries: &'a [super::quarantine::Entry],
    /// Quarantined failures (also listed under `quarantined`).
    failed: usize,
    /// Tests an entry covers that passed in this run (the entry may go).
    passed: Vec<&'a str>,
    /// Entries past their date: they make the report red.
    expired: Vec<&'a super::quarantine::Entry>,
}

/// Ids listed per comparison list; `counts` has every list's full length.
const COMPARISON_IDS: usize = 1000;

#[derive(Serialize)]
struct Comparison<'a> {
    base: &'a super::compare::BaseInfo,
    new_failures: &'a [String],
    still_failing: &'a [String],
    fixed: &'a [String],
    new_tests: &'a [String],
    removed_tests: &'a [String],
    slower: &'a [super::compare::Slower],
    counts: Counts,
    test_seconds: super::compare::Change,
    wall_seconds: Option<super::compare::Change>,
    coverage_percent: Option<super::compare::Change>,
}

#[derive(Serialize)]
struct Counts {
    new_failures: usize,
    still_failing: usize,
    fixed: usize,
    new_tests: usize,
    removed_tests: usize,
    slower: usize,
}

fn comparison(c: &super::compare::Comparison) -> Comparison<'_> {
    let first = |ids| super::compare::first(ids, COMPARISON_IDS).0;
    Comparison {
        base: &c.base,
        new_failures: first(&c.new_failures),
        still_failing: first(&c.still_failing),
        fixed: first(&c.fixed),
        new_tests: first(&c.new_tests),
        removed_tests: first(&c.removed_tests),
        slower: super::compare::first(&c.slower, COMPARISON_IDS).0,
        counts: Counts {
            new_failures: c.new_failures.len(),
            still_failing: c.still_failing.len(),
            fixed: c.fixed.len(),
            new_tests: c.new_tests.len(),
            removed_tests: c.removed_tests.len(),
            slower: c.slower.len(),
        },
        test_seconds: c.test_seconds,
        wall_seconds: c.wall_seconds,
        coverage_percent: c.coverage_percent,
    }
}

#[derive(Serialize)]
struct Failure<'a> {
    id: &'a str,
    file: Option<&'a str>,
    line: Option<u64>,
    outcome: crate::junit::Outcome,
    message: &'a str,
    shard: Option<u32>,
}

pub fn render(summary: &Summary) -> String {
    let doc = Doc {
        totals: &summary.totals,
        failures: summary
            .failures
            .iter()
            .map(|f| Failure {
                id: &f.id,
                file: f.file.as_deref(),
                line: f.line,
                outcome: f.outcome,
                message: &f.message,
                shard: f.shard,
            })
            .collect(),
        shards: &summary.shards,
        shard_rows: &summary.shard_rows,
        problems: &summary.problems,
        notices: &summary.notices,
        complete: summary.complete(),
        collected_nothing: &summary.collected_nothing,
        not_found: &summary.not_found,
        timings_source: summary.timings_source.as_ref(),
        quarantined: quarantined(summary),
        quarantine: quarantine_doc(summary),
        coverage: summary.coverage.as_ref(),
        fail_on: summary.fail_on_applied(),
        passes: summary.passes_job(),
        comparison: summary.comparison.as_ref().map(comparison),
    };
    let text =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    // GitHub's runner matches the legacy `##[command]` anywhere in a log line, and this JSON
    // may be echoed to a log. `#` only occurs inside JSON strings, where `\u0023` is the same
    // character to every JSON reader but breaks the match.
    text.replace("##[", "#\\u0023[") + "\n"
}

fn quarantined(summary: &Summary) -> Option<Vec<Quarantined<'_>>> {
    let q = &summary.quarantine;
    (!q.is_empty()).then(|| {
        q.failed
            .iter()
            .map(|f| Quarantined {
                id: &f.failure.id,
                file: f.failure.file.as_deref(),
                line: f.failure.line,
                outcome: "quarantined",
                was: f.failure.outcome,
                message: &f.failure.message,
                shard: f.failure.shard,
                entry: &q.entries[f.entry],
            })
            .collect()
    })
}

fn quarantine_doc(summary: &Summary) -> Option<QuarantineDoc<'_>> {
    let q = &summary.quarantine;
    (!q.is_empty()).then(|| QuarantineDoc {
        entries: &q.entries,
        failed: q.failed.len(),
        passed: q.passed.iter().map(|(id, _)| id.as_str()).collect(),
        expired: q.expired.iter().map(|&i| &q.entries[i]).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_lists_ids_and_counts_them() {
        use crate::report::compare::{FailOn, sample_summary};
        let doc: serde_json::Value =
            serde_json::from_str(&render(&sample_summary(FailOn::New))).unwrap();
        let c = &doc["comparison"];
        assert_eq!(c["new_failures"].as_array().unwrap().len(), 25);
        assert_eq!(c["counts"]["new_failures"], 25);
        assert_eq!(c["still_failing"], serde_json::json!(["t.py::test_old"]));
        assert_eq!(c["fixed"], serde_json::json!(["t.py::test_fixed"]));
        assert_eq!(c["removed_tests"], serde_json::json!(["t.py::test_gone"]));
        assert_eq!(
            c["slower"],
            serde_json::json!([{"id": "t.py::test_slow", "base_seconds": 0.5, "seconds": 2.5}])
        );
        assert_eq!(c["base"]["path"], "base/results.json");
        assert_eq!(c["base"]["ref"], "refs/heads/<main>");
        assert_eq!(c["base"]["complete"], false);
        assert_eq!(
            c["test_seconds"],
            serde_json::json!({"base": 30.0, "here": 35.5})
        );
        // New failures fail the job even under `new`.
        assert_eq!(
            (&doc["fail_on"], &doc["passes"]),
            (&"new".into(), &false.into())
        );
        let kinds: Vec<&str> = doc["notices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["base_incomplete", "still_failing"]);
    }

    #[test]
    fn without_a_base_the_comparison_is_null() {
        let doc: serde_json::Value = serde_json::from_str(&render(&Summary::default())).unwrap();
        assert_eq!(doc["comparison"], serde_json::Value::Null);
        assert_eq!(doc["fail_on"], "all");
    }

    #[test]
    fn legacy_commands_cannot_form_in_json() {
        let mut s = Summary::default();
        s.problems.push(Problem::new(
            super::super::model::ProblemKind::Unreadable,
            "x ##[error]y",
        ));
        let text = render(&s);
        assert!(!text.contains("##["), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["problems"][0]["message"], "x ##[error]y");
    }
}
