//! What a shard selects, compared with plain pytest on `tests/fixtures/select-suite`: a module
//! that fills a registry at import and a later file that clears it (pytest's order), lint-like
//! items with `::` in their names and two items sharing one node id, a marker filter that
//! empties a shard, an empty test file, a non-strict XPASS, and our out dir under a
//! `norecursedirs` that no longer skips it. Real pytest and xdist, latest and 7.4.

use std::path::Path;
use std::process::Command;

use parallel_pytest::junit::reader::{Limits, read_path};

use crate::harness::{Cmd, fixture_copy, python, python7};

const FIXTURE: &str = "select-suite";

/// Plain pytest in `dir`; its exit code.
fn plain(dir: &Path, py: &Path, args: &[&str], env: &[(&str, &str)]) -> i32 {
    let out = Command::new(py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("spawn pytest");
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    out.status.code().unwrap_or(-1)
}

fn run(dir: &Path, py: &Path, shard: &str, out: &str, extra: &[&str]) -> Cmd {
    Cmd::new()
        .current_dir(dir)
        .args(["run", "--timings", ".test_durations", "--workers", "1"])
        .arg("--python")
        .arg(py)
        .args(["--shard", shard, "--out-dir", out])
        .args(extra)
}

/// (classname, name, outcome) of every testcase in a JUnit file, sorted.
fn cases(path: &Path) -> Vec<(String, String, String)> {
    let report = read_path(path, &Limits::default()).expect("readable JUnit");
    let mut out: Vec<_> = report
        .cases
        .into_iter()
        .map(|c| (c.classname, c.name, c.outcome.as_str().to_owned()))
        .collect();
    out.sort();
    out
}

fn report_json(dir: &Path, out: &str, code: i32) -> serde_json::Value {
    let (stdout, _) = Cmd::new()
        .current_dir(dir)
        .args(["report", out, "--format", "json"])
        .expect_code(code);
    serde_json::from_str(&stdout).unwrap()
}

fn order_case(py: &Path, xdist: bool) {
    let dir = fixture_copy(FIXTURE);
    assert_eq!(plain(dir.path(), py, &[], &[]), 0, "plain pytest");
    if xdist {
        assert_eq!(plain(dir.path(), py, &["-n", "2"], &[]), 0, "pytest -n 2");
    }
    // The timings make the clearing file the heaviest: a heaviest-first order would run it
    // before the file whose test needs the registry.
    for collect in [false, true] {
        let flag: &[&str] = if collect { &["--collect"] } else { &[] };
        let out = format!("out-{collect}");
        run(dir.path(), py, "1/1", &out, flag).expect_code(0);
        run(dir.path(), py, "1/2", &out, flag).expect_code(0);
        run(dir.path(), py, "2/2", &out, flag).expect_code(0);
    }
}

#[test]
fn pytests_order_not_the_plans_latest() {
    order_case(&python(), true);
}

#[test]
fn pytests_order_not_the_plans_pytest7() {
    order_case(&python7(), false);
}

/// Items named `ruff` and `ruff::format`, and two items both called `twin` (the second fails):
/// every shard count runs exactly what plain pytest runs, each item once, with its outcome.
fn items_case(py: &Path) {
    let dir = fixture_copy(FIXTURE);
    let fail = [("FAIL_TWIN", "1")];
    let junit = dir.path().join("plain.xml");
    let junit_arg = format!("--junitxml={}", junit.display());
    assert_eq!(plain(dir.path(), py, &[&junit_arg], &fail), 1);
    let expected = cases(&junit);
    assert_eq!(expected.iter().filter(|c| c.1 == "twin").count(), 2);
    for n in 1..=3 {
        let out = format!("out-{n}");
        let mut seen = Vec::new();
        for i in 1..=n {
            let shard = format!("{i}/{n}");
            let code = run(dir.path(), py, &shard, &out, &["--collect"])
                .env("FAIL_TWIN", "1")
                .output()
                .status
                .code();
            assert!(matches!(code, Some(0 | 1)), "shard {shard}: {code:?}");
            seen.extend(cases(
                &dir.path().join(&out).join(format!("junit-{i}-of-{n}.xml")),
            ));
        }
        seen.sort();
        assert_eq!(seen, expected, "N = {n}");
        let json = report_json(dir.path(), &out, 1);
        let totals = &json["totals"];
        assert_eq!(totals["failed"], 1, "{json}");
        assert_eq!(totals["passed"], 9, "{json}");
        assert_eq!(totals["xpassed"], 1, "{json}");
        assert_eq!(json["complete"], true, "{json}");
    }
}

#[test]
fn items_are_selected_as_pytest_selects_them_latest() {
    items_case(&python());
}

#[test]
fn items_are_selected_as_pytest_selects_them_pytest7() {
    items_case(&python7());
}

/// `-m "not slow"` deselects the slow file, which fills a shard of its own: every shard exits
/// 0, the report counts the deselected tests apart, tells the empty file from a lost one and
/// stays complete. A filter that deselects everything is still a failed run.
#[test]
fn a_filter_that_empties_a_shard_is_not_a_failure_latest() {
    filter_case(&python());
}

#[test]
fn a_filter_that_empties_a_shard_is_not_a_failure_pytest7() {
    filter_case(&python7());
}

fn filter_case(py: &Path) {
    let dir = fixture_copy(FIXTURE);
    // Without the plugin-collected `.lint` file, which the net hands to a shard by the hash of
    // its path: the slow file's shard must be the one that is left with nothing to run.
    std::fs::remove_file(dir.path().join("tests/checks.lint")).unwrap();
    // Slow tests heavy enough that each fills a shard of its own whichever way the plan moves
    // them: those shards are left with nothing once the filter deselects them.
    let timings = dir.path().join(".test_durations");
    let text = std::fs::read_to_string(&timings)
        .unwrap()
        .replace("test_slow_1\": 4.0", "test_slow_1\": 20.0")
        .replace("test_slow_2\": 4.0", "test_slow_2\": 20.0");
    std::fs::write(&timings, text).unwrap();
    // Every test of the slow file can move, so its two tests may fill one shard or two: the
    // shards left with nothing to run say so, and together they name both deselected tests.
    let mut said_deselected = 0;
    for i in 1..=3 {
        let (stdout, stderr) = run(
            dir.path(),
            py,
            &format!("{i}/3"),
            "out",
            &["--", "-m", "not slow"],
        )
        .expect_code(0);
        let text = format!("{stdout}{stderr}");
        if let Some((_, rest)) = text.split_once("no test to run: your filters deselected ") {
            let n: u32 = rest.split_whitespace().next().unwrap().parse().unwrap();
            said_deselected += n;
        }
    }
    assert_eq!(
        said_deselected, 2,
        "the shards the filter emptied say why they ran nothing"
    );
    let json = report_json(dir.path(), "out", 0);
    let totals = &json["totals"];
    assert_eq!(
        (
            &totals["passed"],
            &totals["deselected"],
            &totals["xpassed"],
            &totals["xfailed"]
        ),
        // Plain `pytest -m "not slow"` on this copy: 4 passed, 2 deselected, 1 xfailed,
        // 1 xpassed.
        (&4.into(), &2.into(), &1.into(), &1.into()),
        "{json}"
    );
    assert_eq!(json["complete"], true, "{json}");
    assert_eq!(
        json["collected_nothing"],
        serde_json::json!(["tests/test_empty.py"])
    );

    for i in 1..=2 {
        run(
            dir.path(),
            py,
            &format!("{i}/2"),
            "none",
            &["--", "-k", "no_such_test"],
        )
        .expect_code(0);
    }
    let json = report_json(dir.path(), "none", 1);
    assert_eq!(json["complete"], false, "{json}");
    assert!(
        json["problems"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("no tests ran"),
        "{json}"
    );
}

/// `norecursedirs = build` replaces pytest's default that skips dot folders, and `--out-dir
/// out` is no dot folder anyway; with `--doctest-modules`, collecting our plugin folder would
/// import our modules a second time ("import file mismatch"). Run twice in the same tree.
#[test]
fn our_out_dir_is_never_collected() {
    let dir = fixture_copy(FIXTURE);
    let ini = dir.path().join("pytest.ini");
    let text = std::fs::read_to_string(&ini)
        .unwrap()
        .replace("testpaths = tests\n", "");
    std::fs::write(&ini, text + "addopts = --doctest-modules\n").unwrap();
    let py = python();
    let junit = dir.path().join("plain.xml");
    assert_eq!(
        plain(
            dir.path(),
            &py,
            &[&format!("--junitxml={}", junit.display())],
            &[]
        ),
        0
    );
    let expected = cases(&junit);
    std::fs::remove_file(&junit).unwrap();
    for round in 0..2 {
        let mut seen = Vec::new();
        for i in 1..=2 {
            run(dir.path(), &py, &format!("{i}/2"), "out", &["--collect"]).expect_code(0);
            seen.extend(cases(&dir.path().join(format!("out/junit-{i}-of-2.xml"))));
        }
        seen.sort();
        assert_eq!(seen, expected, "round {round}");
    }
}
