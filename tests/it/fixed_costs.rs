//! Fixed costs, measured, learned and planned (fixture `tests/fixtures/fixed-costs`: a conftest
//! that sleeps at start-up, two test modules whose import sleeps 2.5 s and 1.5 s, two light
//! ones): a learning run teaches the store each file's collection and the shard start-up, and
//! the next plan predicts each shard's wall from them. Also the cost of N (`plan --format cost`)
//! against the plan's own predictions.

use std::path::Path;

use parallel_pytest::pytest::Manifest;

use crate::harness::{Cmd, fixture_copy, python};

const SHARDS: u32 = 2;

fn run_shards(dir: &Path, timings: Option<&str>) -> Vec<Manifest> {
    (1..=SHARDS)
        .map(|i| {
            let mut cmd = Cmd::new()
                .current_dir(dir)
                .arg("run")
                .arg("--python")
                .arg(python())
                .args(["--workers", "2", "--shard", &format!("{i}/{SHARDS}")]);
            if let Some(t) = timings {
                cmd = cmd.args(["--timings", t]);
            }
            cmd.expect_code(0);
            let text = std::fs::read_to_string(
                dir.join(format!(".parallel-pytest/shard-{i}-of-{SHARDS}.json")),
            )
            .unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

fn report(dir: &Path) -> serde_json::Value {
    let (stdout, _) = Cmd::new()
        .current_dir(dir)
        .args(["report", "--format", "json", "--timings-out", "store.json"])
        .args(["--summary", "summary.md"])
        .expect_code(0);
    serde_json::from_str(&stdout).unwrap()
}

/// After a learning run (run every shard, `report --timings-out`), the next plan predicts
/// every shard's wall within ±20 % of what it measures (one more learning run is allowed when
/// the machine's load changed between the two). The fixture's costs are sleeps, so the
/// figures hold on a busy machine too; the start-up is real interpreter work, learned as it is.
#[test]
fn a_learning_run_predicts_each_shard_within_20_percent() {
    let dir = fixture_copy("fixed-costs");
    let first = run_shards(dir.path(), None);
    for m in &first {
        let costs = m.fixed_costs.as_ref().expect("fixed costs measured");
        let predicted = m.predicted_cost.as_ref().expect("predicted cost");
        assert!(predicted.estimated, "nothing learned yet: {predicted:?}");
        assert!(costs.tests_seconds.unwrap() > 0.5, "{costs:?}");
        assert!(
            costs.startup_seconds > 0.3,
            "the conftest sleeps 0.4 s: {costs:?}"
        );
        assert_eq!(costs.collection.len(), m.selection.files.len(), "{costs:?}");
    }
    let json = report(dir.path());
    for row in json["shard_rows"].as_array().unwrap() {
        assert_eq!(row["wall_estimated"], true, "{row}");
        assert!(row["error_percent"].is_number(), "{row}");
    }
    let store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("store.json")).unwrap())
            .unwrap();
    assert_eq!(store["version"], 2);
    let heavy = store["collection"]["tests/test_heavy_a.py"]["seconds"]
        .as_f64()
        .unwrap();
    // Its import sleeps 2.5 s in every worker that collects it.
    assert!((2.4..4.0).contains(&heavy), "{store}");
    assert!(
        store["startup"]["2"]["seconds"].as_f64().unwrap() > 0.3,
        "{store}"
    );
    assert_eq!(
        store["shard_errors"].as_object().unwrap().len(),
        2,
        "{store}"
    );

    // CI runs tests side by side, so one run can meet a busier machine than the run it learned
    // from: a miss gets one more run to learn from (the store smooths both), and must hold then.
    for attempt in 1..=2 {
        let runs = run_shards(dir.path(), Some("store.json"));
        let mut errors = Vec::new();
        for m in &runs {
            let predicted = m.predicted_cost.as_ref().unwrap();
            assert!(!predicted.estimated, "{predicted:?}");
            let error = (predicted.wall_seconds - m.wall_seconds) / m.wall_seconds;
            eprintln!(
                "run {attempt}, shard {}: predicted {:.2} s ({predicted:?}), measured {:.2} s ({:?}), error {:+.1}%",
                m.shard_index,
                predicted.wall_seconds,
                m.wall_seconds,
                m.fixed_costs,
                error * 100.0
            );
            errors.push((m.shard_index, error));
        }
        if errors.iter().all(|(_, e)| e.abs() <= 0.20) {
            break;
        }
        assert!(attempt < 2, "errors after two learning runs: {errors:?}");
        Cmd::new()
            .current_dir(dir.path())
            .args([
                "report",
                "--timings",
                "store.json",
                "--timings-out",
                "store.json",
            ])
            .expect_code(0);
    }
    let json = report(dir.path());
    for row in json["shard_rows"].as_array().unwrap() {
        assert!(row.get("wall_estimated").is_none(), "{row}");
        assert!(
            row["error_percent"].as_f64().unwrap().abs() <= 20.0,
            "{row}"
        );
    }
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        md.contains("| Shard | Predicted | Actual | Error |"),
        "{md}"
    );
}

/// A store whose fixed costs are known exactly, so the cost table can be checked against
/// `plan --shards N` for every N.
fn store_with_costs(dir: &Path) {
    let mut tests = serde_json::Map::new();
    for (file, seconds) in [
        ("test_heavy_a", 0.4),
        ("test_heavy_b", 0.4),
        ("test_light_c", 0.6),
        ("test_light_d", 0.6),
    ] {
        for t in ["test_one", "test_two", "test_three"] {
            tests.insert(
                format!("tests/{file}.py::{t}"),
                serde_json::json!({"seconds": seconds, "runs": 1}),
            );
        }
    }
    let store = serde_json::json!({
        "format": "parallel-pytest-timings", "version": 2, "tests": tests,
        "collection": {
            "tests/test_heavy_a.py": {"seconds": 1.5, "runs": 1},
            "tests/test_heavy_b.py": {"seconds": 0.8, "runs": 1},
            "tests/test_light_c.py": {"seconds": 0.0, "runs": 1},
            "tests/test_light_d.py": {"seconds": 0.0, "runs": 1}
        },
        "startup": {"2": {"seconds": 2.0, "runs": 1}}
    });
    std::fs::write(dir.join("store.json"), store.to_string()).unwrap();
}

fn plan_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let (stdout, _) = Cmd::new()
        .current_dir(dir)
        .args([
            "plan",
            "--workers",
            "2",
            "--timings",
            "store.json",
            "--format",
            "json",
        ])
        .args(args)
        .expect_code(0);
    serde_json::from_str(&stdout).unwrap()
}

/// `(shards, predicted wall, runner minutes, chosen)` per row of `plan --format cost`.
fn cost_rows(text: &str) -> Vec<(u32, f64, f64, bool)> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            let n = cells.first()?.parse().ok()?;
            Some((
                n,
                cells.get(1)?.parse().ok()?,
                cells.get(5)?.parse().ok()?,
                l.contains("← chosen"),
            ))
        })
        .collect()
}

#[test]
fn the_cost_table_is_the_plans_own_prediction_for_every_n() {
    let dir = fixture_copy("fixed-costs");
    store_with_costs(dir.path());
    let (text, _) = Cmd::new()
        .current_dir(dir.path())
        .args([
            "plan",
            "--workers",
            "2",
            "--timings",
            "store.json",
            "--format",
            "cost",
        ])
        .args(["--max-shards", "4", "--shard-startup-seconds", "10"])
        .expect_code(0);
    let rows = cost_rows(&text);
    assert_eq!(rows.len(), 4, "{text}");
    for (n, wall, runner_minutes, _) in &rows {
        let plan = plan_json(dir.path(), &["--shards", &n.to_string()]);
        let predicted = plan["predicted_wall_seconds"].as_f64().unwrap();
        assert!(
            (predicted - wall).abs() < 0.051,
            "N = {n}: {predicted} vs {text}"
        );
        // Runner time: every job's start-up plus every shard's own predicted wall.
        let walls: f64 = plan["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["cost"]["wall_seconds"].as_f64().unwrap_or(0.0))
            .sum();
        let runner = (f64::from(*n) * 10.0 + walls) / 60.0;
        assert!(
            (runner - runner_minutes).abs() < 0.051,
            "N = {n}: {runner} vs {text}"
        );
    }
    // One shard: 2 s start-up, both heavy imports (2.3 s), 6 s of tests on 2 workers.
    assert!((rows[0].1 - 7.3).abs() < 0.051, "{text}");
    assert!(
        rows[0].3,
        "without a target the plan's own count (1) is chosen: {text}"
    );
    // Splitting the heavy files apart pays: two shards are faster than one.
    assert!(rows[1].1 < rows[0].1, "{text}");
}

#[test]
fn a_runner_budget_picks_the_fastest_count_within_it() {
    let dir = fixture_copy("fixed-costs");
    store_with_costs(dir.path());
    let cost = |args: &[&str]| {
        let (text, stderr) = Cmd::new()
            .current_dir(dir.path())
            .args([
                "plan",
                "--workers",
                "2",
                "--timings",
                "store.json",
                "--format",
                "cost",
            ])
            .args(["--max-shards", "4", "--shard-startup-seconds", "10"])
            .args(args)
            .expect_code(0);
        (cost_rows(&text), stderr)
    };
    // Runner seconds and slowest wall of N shards, from the plan itself.
    let of = |n: u32| {
        let plan = plan_json(dir.path(), &["--shards", &n.to_string()]);
        let walls: f64 = plan["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["cost"]["wall_seconds"].as_f64().unwrap_or(0.0))
            .sum();
        (
            f64::from(n) * 10.0 + walls,
            plan["predicted_wall_seconds"].as_f64().unwrap(),
        )
    };
    let ((runner1, wall1), (runner2, wall2)) = (of(1), of(2));
    assert!(wall2 < wall1 && runner1 < runner2);
    // A target two shards meet and one does not, without a budget: the fewest meeting it.
    let target = wall2 + 10.0 + 0.01;
    let target_arg = format!("{target:.2}");
    let (rows, _) = cost(&["--target-seconds", &target_arg]);
    let chosen = rows.iter().find(|r| r.3).unwrap().0;
    assert_eq!(chosen, 2, "{rows:?}");
    // A budget below two shards' runner time: the target is out of reach within it, so the
    // fastest count within the budget (one shard), with a warning.
    let budget = format!("{:.4}", (runner1 + runner2) / 2.0 / 60.0);
    let (rows, stderr) = cost(&[
        "--target-seconds",
        &target_arg,
        "--max-runner-minutes",
        &budget,
    ]);
    assert_eq!(rows.iter().find(|r| r.3).unwrap().0, 1, "{rows:?}");
    assert!(stderr.contains("runner budget"), "{stderr}");
    // A budget too small for even one shard: one shard, and it says so.
    let (rows, stderr) = cost(&[
        "--target-seconds",
        &target_arg,
        "--max-runner-minutes",
        "0.01",
    ]);
    assert_eq!(rows.iter().find(|r| r.3).unwrap().0, 1, "{rows:?}");
    assert!(stderr.contains("even one shard"), "{stderr}");
    // A budget without a target is a usage error naming the flag.
    let (_, stderr) = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--max-runner-minutes", "5"])
        .expect_code(2);
    assert!(stderr.contains("--max-runner-minutes"), "{stderr}");
}
