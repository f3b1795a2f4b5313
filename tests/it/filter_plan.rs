//! Filter-aware planning without `--collect`: a first run stores each test's markers and
//! keywords; a plan under `-m "not slow"` then gives the deselected tests no weight, so the
//! shards balance on what will actually run, and every selected test still runs exactly once
//! (a test new since the store included).

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{Cmd, fixture_copy, junit_outcomes, python, python7};

const FILTER: [&str; 3] = ["--", "-m", "not slow"];

fn plan_json(dir: &Path, pytest_args: &[&str]) -> serde_json::Value {
    let (stdout, _) = Cmd::new()
        .current_dir(dir)
        .args([
            "plan",
            "--shards",
            "2",
            "--workers",
            "1",
            "--format",
            "json",
        ])
        .args(pytest_args)
        .expect_code(0);
    serde_json::from_str(&stdout).unwrap()
}

/// Files per shard and predicted seconds.
fn shards(plan: &serde_json::Value) -> Vec<(Vec<String>, f64)> {
    plan["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let files = s["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (files, s["predicted_seconds"].as_f64().unwrap())
        })
        .collect()
}

/// `test_slow` in `tests/fixtures/filter-plan/tests/test_slow.py`: its `parametrize` decorator
/// is on line 7 (1-based), which is where Python starts a decorated function; pytest's
/// location is 0-based.
const LINE_OF_TEST_SLOW: u64 = 6;

#[test]
fn a_marker_filter_is_balanced_on_what_runs_and_runs_everything_selected_once() {
    balanced_under_filter(&python());
}

/// The plugin reads markers and `-k` names through pytest's own matcher, on 7.x too.
#[test]
fn a_marker_filter_is_balanced_under_pytest_7() {
    balanced_under_filter(&python7());
}

fn balanced_under_filter(python: &Path) {
    let dir = fixture_copy("filter-plan");
    let d = dir.path();
    // First run, unfiltered (an out-dir of its own, as a previous pipeline's artifacts): the
    // report learns durations, markers and keywords.
    Cmd::new()
        .current_dir(d)
        .args([
            "run",
            "--shard",
            "1/1",
            "--workers",
            "1",
            "--out-dir",
            "first",
            "--python",
        ])
        .arg(python)
        .expect_code(0);
    let store_path = d.join(".parallel-pytest/timings.json");
    Cmd::new()
        .current_dir(d)
        .args(["report", "first", "--timings-out"])
        .arg(&store_path)
        .expect_code(0);
    let mut store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    let tests = store["tests"].as_object_mut().unwrap();
    assert_eq!(tests.len(), 14, "{tests:?}");
    let slow = &tests["tests/test_slow.py::test_slow[0]"];
    assert_eq!(
        slow["markers"],
        serde_json::json!(["parametrize", "slow"]),
        "{slow}"
    );
    // Where the test sits in its file, for the plan's replay of xdist's order: pytest's
    // 0-based location of the function, shared by its parametrized cases.
    assert_eq!(slow["line"], serde_json::json!(LINE_OF_TEST_SLOW), "{slow}");
    assert_eq!(
        tests["tests/test_slow.py::test_slow[3]"]["line"],
        slow["line"]
    );
    // The module's node name is `test_slow.py` on pytest 8+, `tests/test_slow.py` on 7.
    let keywords = slow["keywords"].as_array().unwrap();
    for k in ["test_slow[0]", "test_slow.py", "slow"] {
        assert!(
            keywords.iter().any(|n| n.as_str().unwrap().ends_with(k)),
            "{slow}"
        );
    }
    // Durations are set here so the balance does not hang on milliseconds of noise; the
    // markers and keywords stay as the run recorded them.
    for entry in tests.values_mut() {
        let is_slow = entry["markers"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("slow"));
        entry["seconds"] = serde_json::json!(if is_slow { 5.0 } else { 2.0 });
    }
    std::fs::write(&store_path, serde_json::to_string(&store).unwrap()).unwrap();
    // A test new since the store: nothing stored, so it stays planned.
    std::fs::write(d.join("tests/test_new.py"), "def test_new():\n    pass\n").unwrap();

    // Without a filter the slow file (20 s) fills a shard of its own, and under the filter
    // that shard would run one test while the other runs ten.
    let unfiltered = shards(&plan_json(d, &[]));
    assert!(
        unfiltered.iter().any(
            |(files, _)| files.contains(&"tests/test_slow.py".to_owned())
                && !files.iter().any(|f| f.contains("fast"))
        ),
        "{unfiltered:?}"
    );
    // With it the slow tests weigh nothing: each shard gets one fast file (10 s), the new
    // test (2 s, the median) goes to one of them.
    let filtered = shards(&plan_json(d, &FILTER));
    for (files, seconds) in &filtered {
        assert_eq!(
            files.iter().filter(|f| f.contains("fast")).count(),
            1,
            "{filtered:?}"
        );
        assert!((10.0..=12.1).contains(seconds), "{filtered:?}");
    }
    // `-k` weighs the same tests by name (a case-insensitive substring of the test's, its
    // module's or its markers' names).
    let by_name = shards(&plan_json(d, &["--", "-k", "not SLOW and not nothing"]));
    assert_eq!(by_name, filtered, "-k balances as -m does");
    let all: Vec<&String> = filtered.iter().flat_map(|(f, _)| f).collect();
    assert!(all.contains(&&"tests/test_new.py".to_owned()), "{all:?}");
    assert!(
        all.contains(&&"tests/test_slow.py".to_owned()),
        "still planned: {all:?}"
    );

    // Both shards run under the filter: every selected test exactly once.
    let mut ran: BTreeMap<String, usize> = BTreeMap::new();
    for shard in ["1/2", "2/2"] {
        Cmd::new()
            .current_dir(d)
            .args(["run", "--shard", shard, "--workers", "1", "--python"])
            .arg(python)
            .args(FILTER)
            .expect_code(0);
        let junit = d.join(format!(
            ".parallel-pytest/junit-{}.xml",
            shard.replace('/', "-of-")
        ));
        let (outcomes, attempts) = junit_outcomes(&junit);
        assert!(outcomes.values().all(|o| o == "passed"), "{outcomes:?}");
        let fast = outcomes.keys().filter(|id| id.contains("fast")).count();
        assert_eq!(fast, 5, "each shard runs one fast file: {outcomes:?}");
        for (id, n) in attempts {
            *ran.entry(id).or_default() += n;
        }
    }
    assert_eq!(ran.len(), 11, "{ran:?}");
    assert!(ran.values().all(|&n| n == 1), "{ran:?}");
    assert!(ran.contains_key("tests/test_new.py::test_new"), "{ran:?}");
    assert!(!ran.keys().any(|id| id.contains("slow")), "{ran:?}");
    let (stdout, _) = Cmd::new()
        .current_dir(d)
        .args(["report", "--format", "json"])
        .expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["complete"], true, "{doc}");
    assert_eq!(doc["totals"]["passed"], 11, "{doc}");
    assert_eq!(doc["totals"]["deselected"], 4, "{doc}");
}
