//! Coverage across shards against real pytest, pytest-cov and coverage.py (pinned in
//! `requirements/pytest-latest.txt`): each shard keeps its data as `coverage-I-of-N.dat` beside
//! its manifest; `report` combines them to the total one unsharded run measures, writes
//! Cobertura XML and names a shard whose data is missing.

use std::path::Path;
use std::process::Command;

use crate::harness::{Cmd, fixture_copy, python};

const SUITE: &str = "coverage-suite";

/// pytest-cov and coverage are pinned with pytest; an interpreter without them cannot run these.
fn require_pytest_cov(py: &Path) {
    let ok = Command::new(py)
        .args(["-c", "import pytest_cov, coverage"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{}` lacks pytest-cov/coverage, which requirements/pytest-latest.txt pins: run \
         scripts/bootstrap.sh --pytest (or point PARALLEL_PYTEST_TEST_PYTHON at a venv with them)",
        py.display()
    );
}

/// The total of one plain, unsharded `pytest --cov` run.
fn unsharded_total(dir: &Path, py: &Path) -> f64 {
    let json = dir.join("single.json");
    let status = Command::new(py)
        .current_dir(dir)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov"])
        .arg(format!("--cov-report=json:{}", json.display()))
        .env("COVERAGE_FILE", dir.join("single.coverage"))
        .status()
        .unwrap();
    assert!(status.success());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    doc["totals"]["percent_covered"].as_f64().unwrap()
}

fn run_shard(dir: &Path, shard: &str, workers: u32, cov: bool) {
    let mut cmd = Cmd::new()
        .current_dir(dir)
        .args(["run", "--shard", shard, "--workers", &workers.to_string()])
        .arg("--python")
        .arg(python())
        .args(["--", "-p", "no:cacheprovider"]);
    if cov {
        cmd = cmd.arg("--cov");
    }
    cmd.expect_code(0);
}

fn report_json(dir: &Path, code: i32, extra: &[&str]) -> (serde_json::Value, String) {
    let json = dir.join("report.json");
    let (stdout, _) = Cmd::new()
        .current_dir(dir)
        .env("PARALLEL_PYTEST_PYTHON", python())
        .args(["report", "--expect-shards", "3", "--json-out"])
        .arg(&json)
        .args(extra)
        .expect_code(code);
    let doc = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (doc, stdout)
}

fn three_shards_equal_one_run(workers: u32) {
    let py = python();
    require_pytest_cov(&py);
    let dir = fixture_copy(SUITE);
    let single = unsharded_total(dir.path(), &py);
    for i in 1..=3 {
        run_shard(dir.path(), &format!("{i}/3"), workers, true);
    }
    let out = dir.path().join(".parallel-pytest");
    for i in 1..=3 {
        assert!(
            out.join(format!("coverage-{i}-of-3.dat")).is_file(),
            "shard {i} kept no data file"
        );
    }
    // Nothing hidden, nothing left where an artifact upload would miss it.
    assert!(!dir.path().join(".coverage").exists());
    let xml = dir.path().join("coverage.xml");
    let (doc, stdout) = report_json(dir.path(), 0, &["--coverage-xml", "coverage.xml"]);
    let combined = doc["coverage"]["percent"].as_f64().unwrap();
    assert!(
        (combined - single).abs() < 0.1,
        "combined {combined} vs unsharded {single} ({workers} workers)"
    );
    assert!(combined > 50.0 && combined < 100.0, "{combined}");
    assert_eq!(doc["coverage"]["shards"], serde_json::json!([1, 2, 3]));
    let files = doc["coverage"]["files"].as_array().unwrap();
    assert_eq!(files[0]["path"], "app/shapes.py", "lowest first: {files:?}");
    // GitLab's `coverage:` regex (README) matches the last line of the coverage section.
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("coverage: "))
        .unwrap_or_else(|| panic!("no total line in\n{stdout}"));
    assert!(
        line.starts_with(&format!("coverage: {combined:.2}% of ")),
        "{line}"
    );
    let xml = std::fs::read_to_string(xml).unwrap();
    assert!(
        xml.contains("<coverage ") && xml.contains("shapes.py"),
        "{xml}"
    );
    // The results file keeps the total; a later report compared with it shows the change.
    let base = dir.path().join("base-results.json");
    std::fs::copy(out.join("results.json"), &base).unwrap();
    let (doc, stdout) = report_json(dir.path(), 0, &["--base", "base-results.json"]);
    let change = &doc["comparison"]["coverage_percent"];
    assert_eq!(change["base"].as_f64(), Some(combined), "{doc}");
    assert_eq!(change["here"].as_f64(), Some(combined), "{doc}");
    assert!(
        stdout.contains(&format!(
            "coverage {combined:.2}% -> {combined:.2}% (+0.00)"
        )),
        "{stdout}"
    );
}

#[test]
fn three_shards_combine_to_the_unsharded_total() {
    three_shards_equal_one_run(1);
}

#[test]
fn three_shards_with_xdist_workers_combine_to_the_unsharded_total() {
    three_shards_equal_one_run(2);
}

#[test]
fn a_shard_without_coverage_data_is_a_problem_naming_it() {
    require_pytest_cov(&python());
    let dir = fixture_copy(SUITE);
    run_shard(dir.path(), "1/3", 1, true);
    run_shard(dir.path(), "2/3", 1, false);
    run_shard(dir.path(), "3/3", 1, true);
    // The classic trap: the data file did not make it into the artifact.
    std::fs::remove_file(dir.path().join(".parallel-pytest/coverage-3-of-3.dat")).unwrap();
    let (doc, stdout) = report_json(dir.path(), 1, &[]);
    let problems: Vec<String> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "missing_coverage")
        .map(|p| p["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(problems.len(), 2, "{doc}");
    assert!(
        problems[0].contains("shard 2/3 has no coverage data"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("shard 3/3's coverage data `coverage-3-of-3.dat`"),
        "{problems:?}"
    );
    assert_eq!(doc["complete"], false);
    assert!(stdout.contains("shard 3/3's coverage data"), "{stdout}");
}

#[test]
fn without_coverage_nothing_is_said() {
    let dir = fixture_copy(SUITE);
    for i in 1..=3 {
        run_shard(dir.path(), &format!("{i}/3"), 1, false);
    }
    let (doc, stdout) = report_json(dir.path(), 0, &["--coverage-xml", "coverage.xml"]);
    assert!(doc.get("coverage").is_none(), "{doc}");
    assert!(!stdout.to_lowercase().contains("coverage"), "{stdout}");
    assert!(!dir.path().join("coverage.xml").exists());
    let manifest =
        std::fs::read_to_string(dir.path().join(".parallel-pytest/shard-1-of-3.json")).unwrap();
    assert!(!manifest.contains("coverage"), "{manifest}");
}

/// Shards checked out at different paths (GitLab's `/builds/<runner>/<n>/…`, self-hosted
/// runners): each manifest records its project folder, which `report` maps onto its own.
#[test]
fn shards_run_in_different_folders_still_combine_to_the_unsharded_total() {
    let py = python();
    require_pytest_cov(&py);
    let dirs: Vec<_> = (0..3).map(|_| fixture_copy(SUITE)).collect();
    let single = unsharded_total(dirs[0].path(), &py);
    for (i, d) in dirs.iter().enumerate() {
        run_shard(d.path(), &format!("{}/3", i + 1), 1, true);
    }
    let inputs: Vec<String> = dirs
        .iter()
        .map(|d| d.path().join(".parallel-pytest").display().to_string())
        .collect();
    let json = dirs[0].path().join("report.json");
    Cmd::new()
        .current_dir(dirs[0].path())
        .env("PARALLEL_PYTEST_PYTHON", &py)
        .args(["report", "--expect-shards", "3", "--json-out"])
        .arg(&json)
        .args(&inputs)
        .expect_code(0);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let combined = doc["coverage"]["percent"].as_f64().unwrap();
    assert!(
        (combined - single).abs() < 0.1,
        "combined {combined} vs {single}"
    );
    let paths: Vec<&str> = doc["coverage"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 4, "one entry per file: {paths:?}");
}
