//! Exactly once on real layouts: for each fixture suite under `tests/fixtures/parity-*`, the
//! union of every shard's JUnit testcases equals one plain `pytest --junitxml` run's (as a
//! multiset: nothing lost, nothing doubled), and `report`'s totals equal that run's terminal
//! summary. Real pytest and pytest-xdist, N = 1..5 for every layout (and 2 shards × 2 workers
//! for the layout that exercises the net most, plugin-collected YAML files).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::harness::{Cmd, fixture_copy, python};

/// One layout: its fixture, the pytest args given to both runs, the shard counts to try and
/// the xdist workers per shard.
struct Layout {
    fixture: &'static str,
    pytest_args: &'static [&'static str],
    shards: &'static [u32],
    workers: u32,
    /// Extra args of ours for `run` (for example `--timings`).
    run_args: &'static [&'static str],
    /// Whether discovery cannot see some files and the net must run them; otherwise the
    /// report must not warn, so discovery alone is exact.
    net_catches: bool,
}

impl Layout {
    const fn new(fixture: &'static str) -> Layout {
        Layout {
            fixture,
            pytest_args: &[],
            shards: &[1, 2, 3, 4, 5],
            workers: 1,
            run_args: &[],
            net_catches: false,
        }
    }
}

/// (classname, name) of every testcase, sorted, duplicates kept.
fn cases(junit: &Path) -> Vec<(String, String)> {
    let report = parallel_pytest::junit::reader::read_path(junit, &Default::default())
        .unwrap_or_else(|e| panic!("read `{}`: {e}", junit.display()));
    let mut out: Vec<(String, String)> = report
        .cases
        .iter()
        .map(|c| (c.classname.clone(), c.name.clone()))
        .collect();
    out.sort();
    out
}

/// `1 failed, 9 passed, 2 skipped in 0.05s` → {failed: 1, passed: 9, skipped: 2}.
fn terminal_totals(stdout: &str) -> BTreeMap<String, u64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" in ") && l.chars().any(|c| c.is_ascii_digit()))
        .unwrap_or_default();
    let counts = line.trim_matches(|c| c == '=' || c == ' ');
    let counts = counts.split(" in ").next().unwrap_or_default();
    counts
        .split(", ")
        .filter_map(|part| {
            let (n, word) = part.trim().split_once(' ')?;
            let word = match word {
                "error" => "errors",
                w => w,
            };
            Some((word.to_owned(), n.parse().ok()?))
        })
        .filter(|(w, _)| {
            [
                "passed", "failed", "errors", "skipped", "xfailed", "xpassed",
            ]
            .contains(&w.as_str())
        })
        .collect()
}

fn plain_run(
    dir: &Path,
    py: &Path,
    args: &[&str],
) -> (Vec<(String, String)>, BTreeMap<String, u64>) {
    let out_dir = tempfile::tempdir().unwrap();
    let junit = out_dir.path().join("plain.xml");
    let out = Command::new(py)
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-o",
            "junit_family=xunit1",
        ])
        .arg(format!("--junitxml={}", junit.display()))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn pytest");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "plain pytest failed to run\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cases(&junit), terminal_totals(&stdout))
}

/// `run` for shard `i/n` with `workers`, artifacts in `out_dir`.
fn run_shard(dir: &Path, out_dir: &Path, (i, n, workers): (u32, u32, u32), args: &[&str]) {
    Cmd::new()
        .current_dir(dir)
        .args(["run", "--shard", &format!("{i}/{n}"), "--workers"])
        .arg(workers.to_string())
        .arg("--python")
        .arg(python())
        .arg("--out-dir")
        .arg(out_dir)
        .args(args)
        .output();
}

fn report_json(dir: &Path, out_dir: &Path) -> std::process::Output {
    Cmd::new()
        .current_dir(dir)
        .args(["report", "--format", "json", "--timings-out"])
        .arg(out_dir.join("store.json"))
        .arg(out_dir.join("*.xml"))
        .output()
}

fn report_totals(dir: &Path, out_dir: &Path) -> (BTreeMap<String, u64>, serde_json::Value) {
    let out = report_json(dir, out_dir);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report JSON: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let totals = [
        "passed", "failed", "errors", "skipped", "xfailed", "xpassed",
    ]
    .iter()
    .filter_map(|k| {
        let n = doc["totals"][k].as_u64()?;
        (n > 0).then(|| ((*k).to_owned(), n))
    })
    .collect();
    (totals, doc)
}

fn check(layout: &Layout) {
    let py = python();
    let dir = fixture_copy(layout.fixture);
    let (expected, plain_totals) = plain_run(dir.path(), &py, layout.pytest_args);
    assert!(
        !expected.is_empty(),
        "{}: plain pytest ran nothing",
        layout.fixture
    );
    for &n in layout.shards {
        let out = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        let args: Vec<&str> = layout
            .run_args
            .iter()
            .chain(&["--"])
            .chain(layout.pytest_args)
            .copied()
            .collect();
        for i in 1..=n {
            run_shard(dir.path(), out.path(), (i, n, layout.workers), &args);
            let junit = out.path().join(format!("junit-{i}-of-{n}.xml"));
            seen.extend(cases(&junit));
        }
        seen.sort();
        assert_eq!(
            seen, expected,
            "{} with {n} shards: the shards' tests differ from a plain run's",
            layout.fixture
        );
        let (totals, doc) = report_totals(dir.path(), out.path());
        assert_eq!(
            totals, plain_totals,
            "{} with {n} shards: report totals differ from pytest's summary\n{doc:#}",
            layout.fixture
        );
        let problems = doc["problems"].as_array().map_or(0, Vec::len);
        assert_eq!(problems, 0, "{} with {n} shards: {doc:#}", layout.fixture);
        let missed = doc["notices"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n["kind"] == "discovery_missed"));
        assert_eq!(
            missed, layout.net_catches,
            "{} with {n} shards: discovery_missed notice\n{doc:#}",
            layout.fixture
        );
    }
}

#[test]
fn doctest_text_files_by_default_glob() {
    check(&Layout::new("parity-doctest-txt"));
}

#[test]
fn doctest_modules_and_glob_from_addopts() {
    check(&Layout::new("parity-doctest-modules"));
}

#[test]
fn no_doctest_plugin() {
    check(&Layout::new("parity-no-doctest"));
}

#[test]
fn plugin_collected_yaml_files_run_once_through_the_net() {
    check(&Layout {
        net_catches: true,
        ..Layout::new("parity-yaml")
    });
    check(&Layout {
        shards: &[2],
        workers: 2,
        net_catches: true,
        ..Layout::new("parity-yaml")
    });
}

#[test]
fn collect_ignore_in_conftest() {
    check(&Layout::new("parity-collect-ignore"));
}

#[test]
fn testpaths_with_globs() {
    check(&Layout::new("parity-testpaths-glob"));
}

#[test]
fn packages_without_init_and_duplicate_basenames() {
    check(&Layout::new("parity-no-init"));
}

#[test]
fn config_file_and_rootdir_options() {
    check(&Layout {
        pytest_args: &["-c", "cfg/pytest.ini", "--rootdir=.", "suite"],
        ..Layout::new("parity-config-file")
    });
}

#[test]
fn a_test_file_added_after_the_timings_were_recorded() {
    check(&Layout {
        run_args: &["--timings", "timings.xml"],
        ..Layout::new("parity-added-later")
    });
}

/// Shards that were given tests and report none are never green (pytest's exit 5 meaning).
#[test]
fn nothing_ran_is_not_green() {
    let dir = fixture_copy("parity-doctest-txt");
    std::fs::write(
        dir.path().join("conftest.py"),
        "def pytest_collection_modifyitems(items):\n    items.clear()\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    for i in 1..=2 {
        run_shard(dir.path(), out.path(), (i, 2, 1), &[]);
    }
    let report = report_json(dir.path(), out.path());
    assert_eq!(report.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(doc["complete"], false, "{doc:#}");
    assert!(
        doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "no_results"),
        "{doc:#}"
    );
}
