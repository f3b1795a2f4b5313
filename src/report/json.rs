//! `report --format json` (a contract: its keys are documented in the README).

use serde::Serialize;

use super::model::{Notice, Problem, Shards, Summary, Totals};

#[derive(Serialize)]
struct Doc<'a> {
    totals: &'a Totals,
    failures: Vec<Failure<'a>>,
    shards: &'a Shards,
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
        problems: &summary.problems,
        notices: &summary.notices,
        complete: summary.complete(),
        collected_nothing: &summary.collected_nothing,
        not_found: &summary.not_found,
        timings_source: summary.timings_source.as_ref(),
        quarantined: quarantined(summary),
        quarantine: quarantine_doc(summary),
        coverage: summary.coverage.as_ref(),
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
