//! The human plan and the GitHub matrix, rendered from a [`Planned`] (pure).

use std::fmt::Write as _;

use super::{CostTable, Plan, Planned};
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
    let bound = plan
        .lower_bound_wall_seconds
        .unwrap_or(plan.lower_bound_seconds);
    let makespan = plan.wall_makespan();
    let ratio = if bound > 0.0 { makespan / bound } else { 1.0 };
    let _ = writeln!(
        out,
        "lower bound {bound:.1} s · predicted makespan {makespan:.1} s ({ratio:.3} × bound) · tests alone: bound {:.1} s, makespan {:.1} s",
        plan.lower_bound_seconds, plan.predicted_makespan_seconds
    );
    let _ = writeln!(out, "{}", fixed_costs_line(plan));
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
    if let Some(table) = planned
        .cost_table
        .as_ref()
        .filter(|t| t.target_seconds.is_some())
    {
        out.push_str(&cost_table(table));
    }
    out
}

/// Where the fixed costs in the predictions come from.
fn fixed_costs_line(plan: &Plan) -> String {
    let estimated = plan
        .shards
        .iter()
        .any(|s| s.cost.as_ref().is_some_and(|c| c.estimated));
    if estimated {
        format!(
            "fixed costs: estimated (nothing or not everything learned yet: {} s start-up + {} s per xdist worker, {} s per file collected, until `report --timings-out` learns them)",
            super::cost::DEFAULT_STARTUP_SECONDS,
            super::cost::DEFAULT_STARTUP_PER_WORKER_SECONDS,
            super::cost::DEFAULT_COLLECT_SECONDS,
        )
    } else {
        "fixed costs: learned from the timings store (start-up per worker count, collection per file)".to_owned()
    }
}

/// For each shard count, the predicted wall and the runner time; the chosen count marked.
pub fn cost_table(table: &CostTable) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cost of N: each shard job pays {:.1} s start-up outside pytest (`--shard-startup-seconds`){}{}",
        table.job_startup_seconds,
        table
            .target_seconds
            .map(|t| format!(" · target {t} s"))
            .unwrap_or_default(),
        table
            .max_runner_seconds
            .map(|b| format!(" · runner budget {:.1} min", b / 60.0))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        out,
        "{:>6} {:>14} {:>16} {:>13}",
        "shards", "predicted wall", "with job start", "runner time"
    );
    for row in &table.rows {
        let with_start = row.wall_seconds + table.job_startup_seconds;
        let mut marks: Vec<&str> = Vec::new();
        if row.chosen {
            marks.push("← chosen");
        }
        if table.target_seconds.is_some_and(|t| with_start > t) {
            marks.push("misses the target");
        }
        if table
            .max_runner_seconds
            .is_some_and(|b| row.runner_seconds > b)
        {
            marks.push("over budget");
        }
        let line = format!(
            "{:>6} {:>12.1} s {:>14.1} s {:>9.1} min  {}",
            row.shards,
            row.wall_seconds,
            with_start,
            row.runner_seconds / 60.0,
            marks.join(", ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn shard_rows(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "{:<9} {:>11} {:>9} {:>9} {:>9} {:>6} {:>9} {:>9}",
        "shard", "predicted", "start-up", "collect", "tests", "files", "node ids", "deselect"
    );
    let makespan = plan.wall_makespan();
    for s in &plan.shards {
        let bar_len = if makespan > 0.0 {
            (s.predicted_wall() / makespan * BAR_WIDTH).round() as usize
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
        let cost = s.cost.clone().unwrap_or_default();
        let part = |x: f64| format!("{x:.1} s");
        let _ = writeln!(
            out,
            "{:<9} {:>9.1} s {:>9} {:>9} {:>9} {:>6} {:>9} {:>9}  {}{}",
            label,
            s.predicted_wall(),
            part(cost.startup_seconds),
            part(cost.collection_seconds),
            part(if s.cost.is_some() {
                cost.tests_seconds
            } else {
                s.predicted_seconds
            }),
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
