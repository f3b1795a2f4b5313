//! The human plan and the GitHub matrix, rendered from a [`Planned`] (pure).

use std::fmt::Write as _;

use super::{Plan, Planned};
use crate::text::count;

/// Width of the longest shard's bar, in characters.
const BAR_WIDTH: f64 = 30.0;

/// `{"shard": ["1/3", "2/3", "3/3"]}` for `strategy: { matrix: ${{ fromJSON(...) }} }`.
pub fn matrix_json(plan: &Plan) -> String {
    let shards: Vec<String> = (1..=plan.shards_total)
        .map(|i| format!("{i}/{}", plan.shards_total))
        .collect();
    serde_json::json!({ "shard": shards }).to_string()
}

/// The human summary: one row per shard with a bar, the bound, timings and rootdir.
pub fn text(planned: &Planned) -> String {
    let plan = &planned.plan;
    let mut out = String::new();
    let workers = plan.shards.first().map_or(1, |s| s.workers);
    let _ = writeln!(
        out,
        "plan: {} × {} · {} · fingerprint {}",
        count(u64::from(plan.shards_total), "shard", "shards"),
        count(u64::from(workers), "worker", "workers"),
        count(planned.files as u64, "test file", "test files"),
        plan.fingerprint
    );
    shard_rows(&mut out, plan);
    let ratio = if plan.lower_bound_seconds > 0.0 {
        plan.predicted_makespan_seconds / plan.lower_bound_seconds
    } else {
        1.0
    };
    let _ = writeln!(
        out,
        "lower bound {:.1} s · predicted makespan {:.1} s ({ratio:.3} × bound)",
        plan.lower_bound_seconds, plan.predicted_makespan_seconds
    );
    let _ = writeln!(out, "{}", timings_line(planned));
    let _ = writeln!(
        out,
        "rootdir: `{}`{}",
        planned.rootdir.display(),
        planned
            .config_file
            .as_ref()
            .map(|c| format!(" · config `{}`", c.display()))
            .unwrap_or_default()
    );
    out
}

fn shard_rows(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "{:<9} {:>11} {:>6} {:>9} {:>9}",
        "shard", "predicted", "files", "node ids", "deselect"
    );
    for s in &plan.shards {
        let bar_len = if plan.predicted_makespan_seconds > 0.0 {
            (s.predicted_seconds / plan.predicted_makespan_seconds * BAR_WIDTH).round() as usize
        } else {
            0
        };
        let label = format!("{}/{}", s.index, plan.shards_total);
        let note = if s.is_empty() {
            "  (empty)"
        } else if s.estimated {
            "  (estimated from test counts)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<9} {:>9.1} s {:>6} {:>9} {:>9}  {}{}",
            label,
            s.predicted_seconds,
            s.files.len(),
            s.node_ids.len(),
            s.deselect.len(),
            "█".repeat(bar_len),
            note
        );
    }
}

/// `timings: `a.xml` (12 tests timed); 3 tests without timing: <rule>`.
fn timings_line(planned: &Planned) -> String {
    let (one, many) = if planned.estimate.unknown_are_files {
        ("file", "files")
    } else {
        ("test", "tests")
    };
    // Without a timings source no test is timed, whatever collection named.
    let sources = if planned.timings_sources.is_empty() {
        "none found".to_owned()
    } else {
        let files = planned
            .timings_sources
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{files} ({} timed)",
            count(planned.known_tests as u64, "test", "tests")
        )
    };
    let filtered = if planned.filtered_tests > 0 {
        format!(
            "; {} the `-k`/`-m` filter deselects by their stored markers and keywords (still planned, weighing nothing)",
            count(planned.filtered_tests as u64, "timed test", "timed tests")
        )
    } else {
        String::new()
    };
    format!(
        "timings: {sources}; {} without timing: {}{filtered}",
        count(planned.plan.unknown_tests, one, many),
        planned.estimate.rule
    )
}
