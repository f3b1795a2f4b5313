//! `report --format json` (contract, issue 5).

use serde::Serialize;

use super::model::{Problem, Shards, Summary, Totals};

#[derive(Serialize)]
struct Doc<'a> {
    totals: &'a Totals,
    failures: Vec<Failure<'a>>,
    shards: &'a Shards,
    problems: &'a [Problem],
    complete: bool,
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
        complete: summary.complete(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}
