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
    };
    let text =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    // GitHub's runner matches the legacy `##[command]` anywhere in a log line, and this JSON
    // may be echoed to a log. `#` only occurs inside JSON strings, where `\u0023` is the same
    // character to every JSON reader but breaks the match.
    text.replace("##[", "#\\u0023[") + "\n"
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
