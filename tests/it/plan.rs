//! `parallel-pytest plan` on real fixture layouts, checked against real pytest: discovery must
//! find exactly the files `pytest --collect-only` collects, and for split plans every collected
//! test must be selected by exactly one shard (checked by running each shard's selection through
//! `pytest --collect-only`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use parallel_pytest::plan::{Plan, ShardPlan};

use crate::harness::{Cmd, fixture_copy, python};

/// Node ids pytest collects in `dir` with these args (`-p no:cacheprovider` keeps fixtures clean).
fn pytest_collect(dir: &Path, args: &[String]) -> Vec<String> {
    let plugin_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    let out = Command::new(python())
        .current_dir(dir)
        .env("PYTHONPATH", plugin_dir)
        .args(["-m", "pytest", "--collect-only", "-p", "no:cacheprovider"])
        .args(args)
        // Last, so it beats a `-q` in the fixture's addopts.
        .arg("--verbosity=-1")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(5),
        "pytest --collect-only {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.contains("::"))
        .map(str::to_owned)
        .collect()
}

fn plan_json(dir: &Path, extra: &[&str]) -> Plan {
    let (stdout, _) = Cmd::new()
        .current_dir(dir)
        .args(["plan", "--format", "json", "--workers", "1"])
        .args(extra)
        .expect_code(0);
    serde_json::from_str(&stdout).expect("plan JSON")
}

fn files_of(ids: &[String]) -> BTreeSet<String> {
    ids.iter()
        .map(|i| i.split_once("::").map_or(i.as_str(), |(f, _)| f).to_owned())
        .collect()
}

#[test]
fn discovery_matches_pytest_on_every_layout() {
    for layout in [
        "tests-folder",
        "src-layout",
        "beside-code",
        "testpaths",
        "custom-python-files",
    ] {
        let dir = fixture_copy(&format!("layouts/{layout}"));
        let expected = files_of(&pytest_collect(dir.path(), &[]));
        assert!(!expected.is_empty(), "{layout}: pytest collected nothing");
        let plan = plan_json(dir.path(), &["--shards", "1"]);
        let planned: BTreeSet<String> = plan.shards[0].files.iter().cloned().collect();
        assert_eq!(
            planned, expected,
            "layout `{layout}`: discovered files differ from pytest's"
        );
    }
}

#[test]
fn explicit_paths_and_ignores_after_double_dash_match_pytest() {
    let dir = fixture_copy("layouts/testpaths");
    // Explicit paths replace `testpaths`; `--ignore` after `--` adds to the config's.
    let args: Vec<String> = ["unit", "other", "--ignore=unit/a"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let expected = files_of(&pytest_collect(dir.path(), &args));
    let plan = plan_json(
        dir.path(),
        &["--shards", "1", "--", "unit", "other", "--ignore=unit/a"],
    );
    let planned: BTreeSet<String> = plan.shards[0].files.iter().cloned().collect();
    assert_eq!(planned, expected);
    assert!(planned.contains("other/test_outside_testpaths.py"));
}

/// The ids one shard's selection collects through the selection plugin `run` uses (exact
/// deselects, stale node ids skipped), with its files as pytest's paths.
fn collect_shard(dir: &Path, shard: &ShardPlan, index: u32) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for p in shard.files.iter().map(String::as_str).chain(
        shard
            .node_ids
            .iter()
            .map(|n| n.split("::").next().unwrap_or(n)),
    ) {
        if !paths.iter().any(|q| q == p) {
            paths.push(p.to_owned());
        }
    }
    if paths.is_empty() {
        return Vec::new();
    }
    let selection = serde_json::json!({
        "files": shard.files,
        "node_ids": shard.node_ids,
        "deselect": shard.deselect,
    });
    let file = dir.join(format!(".selection-{index}.json"));
    std::fs::write(&file, selection.to_string()).unwrap();
    let mut args = vec![
        "-p".to_owned(),
        "parallel_pytest_plugin.selection".to_owned(),
        format!("--parallel-pytest-selection={}", file.display()),
    ];
    args.extend(paths);
    pytest_collect(dir, &args)
}

/// The multiset of ids all shards select, by running each shard's selection through pytest.
fn selected_by_shards(dir: &Path, plan: &Plan) -> BTreeMap<String, u32> {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for shard in &plan.shards {
        for id in collect_shard(dir, shard, shard.index) {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn split_plans_select_every_test_exactly_once() {
    let dir = fixture_copy("plan-split");
    let all: BTreeSet<String> = pytest_collect(dir.path(), &[]).into_iter().collect();
    assert_eq!(all.len(), 22, "fixture changed? see its expected.toml");
    let python = python().display().to_string();
    let mut split_seen = [false, false];
    for (mode, collect) in [("timings only", false), ("--collect", true)] {
        for n in 1..=8u32 {
            let mut extra = vec!["--shards".to_owned(), n.to_string()];
            if collect {
                extra.extend([
                    "--collect".to_owned(),
                    "--python".to_owned(),
                    python.clone(),
                ]);
            }
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let plan = plan_json(dir.path(), &extra);
            assert_eq!(plan.shards.len(), n as usize);
            let again = plan_json(dir.path(), &extra);
            assert_eq!(plan, again, "{mode}, N={n}: plan is not deterministic");
            if plan.shards.iter().any(|s| !s.node_ids.is_empty()) {
                split_seen[usize::from(collect)] = true;
                assert!(
                    plan.shards.iter().any(|s| !s.deselect.is_empty()),
                    "{mode}, N={n}: a split file needs an owner with deselects"
                );
            }
            let seen = selected_by_shards(dir.path(), &plan);
            let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
            assert!(
                twice.is_empty(),
                "{mode}, N={n}: run twice: {twice:?}\n{plan:#?}"
            );
            let selected: BTreeSet<String> = seen.into_keys().collect();
            let lost: Vec<_> = all.difference(&selected).collect();
            assert!(lost.is_empty(), "{mode}, N={n}: lost: {lost:?}\n{plan:#?}");
            assert_eq!(selected, all, "{mode}, N={n}");
        }
    }
    assert_eq!(
        split_seen,
        [true, true],
        "the heavy file was never split: the test would not exercise deselects"
    );
}

#[test]
fn text_output_shows_bound_unknowns_fingerprint_and_this_job() {
    let dir = fixture_copy("plan-split");
    let (stdout, stderr) = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--shards", "3", "--workers", "2", "--shard", "2/3"])
        .expect_code(0);
    assert!(stdout.contains("3 shards × 2 workers"), "{stdout}");
    assert!(stdout.contains("lower bound"), "{stdout}");
    assert!(stdout.contains("fingerprint "), "{stdout}");
    assert!(stdout.contains("1 file without timing"), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
    // The command shown is exactly the one `run` starts for this shard.
    let (run, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "--workers", "2", "--shard", "2/3"])
        .expect_code(0);
    let command = run.lines().nth(1).expect("row, then the command");
    assert!(command.contains(" -n 2 "), "{run}");
    assert!(
        stdout.contains(&format!("this job (shard 2/3): {command}\n")),
        "{stdout}\n---\n{run}"
    );
}

#[test]
fn more_shards_than_files_gives_empty_shards_not_errors() {
    let dir = fixture_copy("layouts/src-layout");
    let plan = plan_json(dir.path(), &["--shards", "7"]);
    assert_eq!(plan.shards.len(), 7);
    assert!(plan.shards.iter().filter(|s| s.is_empty()).count() >= 5);
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--shards", "7", "--workers", "1"])
        .expect_code(0);
    assert!(stdout.contains("(empty)"), "{stdout}");
}

#[test]
fn matrix_and_target_seconds() {
    let dir = fixture_copy("plan-split");
    let target = |seconds: &str| {
        Cmd::new()
            .current_dir(dir.path())
            .args(["plan", "--format", "matrix", "--workers", "1"])
            .args(["--target-seconds", seconds, "--shard-startup-seconds", "10"])
            .expect_code(0)
    };
    let (stdout, stderr) = target("80");
    assert!(stderr.is_empty(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let shards = v["shard"].as_array().unwrap();
    let n = shards.len();
    assert!(n >= 2, "{stdout}");
    assert_eq!(shards[0], format!("1/{n}"));
    assert_eq!(shards[n - 1], format!("{n}/{n}"));
    // The chosen count meets the target and one fewer does not.
    let plan = plan_json(dir.path(), &["--shards", &n.to_string()]);
    assert!(plan.predicted_makespan_seconds + 10.0 <= 80.0, "{plan:#?}");
    let fewer = plan_json(dir.path(), &["--shards", &(n - 1).to_string()]);
    assert!(fewer.predicted_makespan_seconds + 10.0 > 80.0, "{fewer:#?}");
    // Every timed test can move: the longest single test (10 s) is the floor.
    let (stdout, stderr) = target("19");
    assert!(
        stderr.contains("no shard count up to 256 meets the target"),
        "{stderr}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(&stdout).is_ok());
}

#[test]
fn bad_inputs_name_the_culprit() {
    let dir = fixture_copy("layouts/tests-folder");
    let d = dir.path();
    std::fs::write(d.join("garbage.json"), "{ not json").unwrap();
    std::fs::write(d.join("page.xml"), "<html></html>").unwrap();
    std::fs::write(d.join("notes.txt"), "hello").unwrap();
    for (file, needle) in [
        ("garbage.json", "is not valid JSON"),
        ("page.xml", "is not valid JUnit XML"),
        (
            "notes.txt",
            "is not JUnit XML, `.test_durations` or a parallel-pytest store",
        ),
        ("missing.json", "does not exist"),
    ] {
        let (_, stderr) = Cmd::new()
            .current_dir(d)
            .args(["plan", "--timings", file])
            .expect_code(2);
        assert!(
            stderr.contains(file) && stderr.contains(needle),
            "{file}: {stderr}"
        );
    }
    let (_, stderr) = Cmd::new()
        .current_dir(d)
        .args(["plan", "tests/nope.py"])
        .expect_code(2);
    assert!(stderr.contains("`tests/nope.py`"), "{stderr}");
    std::fs::write(
        d.join("pytest.ini"),
        "[pytest]\naddopts = -q\nbroken line\n",
    )
    .unwrap();
    let (_, stderr) = Cmd::new().current_dir(d).args(["plan"]).expect_code(2);
    assert!(
        stderr.contains("pytest.ini") && stderr.contains("line 3"),
        "{stderr}"
    );
}

#[test]
fn negative_and_nan_durations_warn_and_are_estimated() {
    let dir = fixture_copy("layouts/tests-folder");
    std::fs::write(
        dir.path().join(".test_durations"),
        r#"{"tests/test_api.py::test_one": NaN, "tests/test_api.py::test_two": -3, "tests/unit/test_models.py::test_one": 2.0}"#,
    )
    .unwrap();
    let (stdout, stderr) = Cmd::new()
        .current_dir(dir.path())
        .args([
            "plan",
            "--format",
            "json",
            "--shards",
            "2",
            "--workers",
            "1",
        ])
        .expect_code(0);
    assert_eq!(
        stderr.matches("warning: ignored duration").count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("tests/test_api.py::test_two"), "{stderr}");
    let plan: Plan = serde_json::from_str(&stdout).unwrap();
    // test_api.py has no valid timing left: estimated (2 tests × median 2 s), never free.
    assert_eq!(plan.unknown_tests, 2);
    assert!(
        plan.shards.iter().all(|s| s.predicted_seconds > 0.0),
        "{plan:#?}"
    );
}

/// JUnit from real pytest runs (xunit2 default and xunit1, through pytest-xdist) names every
/// collected test with its exact node id, whether read as a file, a folder or a glob.
#[test]
fn junit_timings_from_real_xdist_runs_name_every_test() {
    let dir = fixture_copy("plan-split");
    let d = dir.path();
    std::fs::remove_file(d.join(".test_durations")).unwrap();
    let all: BTreeSet<String> = pytest_collect(d, &[]).into_iter().collect();
    std::fs::create_dir_all(d.join("junit")).unwrap();
    for (name, family) in [("x2.xml", "xunit2"), ("x1.xml", "xunit1")] {
        let out = Command::new(python())
            .current_dir(d)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"])
            .args(["-o", &format!("junit_family={family}")])
            .arg(format!("--junitxml=junit/{name}"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for spec in ["junit/x2.xml", "junit/x1.xml", "junit", "junit/*.xml"] {
        let (stdout, stderr) = Cmd::new()
            .current_dir(d)
            .args(["plan", "--shards", "2", "--workers", "1", "--timings", spec])
            .expect_code(0);
        assert!(stderr.is_empty(), "{spec}: {stderr}");
        assert!(
            stdout.contains(&format!(
                "({} tests timed); 0 files without timing",
                all.len()
            )),
            "{spec}: {stdout}"
        );
    }
    // The timings are keyed by the same node ids pytest collects.
    let ids: BTreeSet<String> = {
        use parallel_pytest::junit::node_id::NodeIdMapper;
        let files: Vec<String> = files_of(&all.iter().cloned().collect::<Vec<_>>())
            .into_iter()
            .collect();
        let t = parallel_pytest::timings::load(
            &[d.join("junit/x2.xml")],
            &parallel_pytest::timings::mapper_now(NodeIdMapper::with_files(&files)),
        )
        .unwrap();
        t.tests.into_map().into_keys().collect()
    };
    assert_eq!(ids, all);
}

/// Every file of the shared JUnit corpus either reads (complete testcases kept) or fails with
/// an error naming the file; none panics, and a well-formed JUnit file always reads.
#[test]
fn junit_corpus_reads_as_timings_or_fails_cleanly() {
    let Some(corpus) = crate::harness::junit_corpus() else {
        return;
    };
    let manifest: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("manifest.json")).unwrap())
            .unwrap();
    let mapper =
        parallel_pytest::timings::mapper_now(parallel_pytest::junit::node_id::NodeIdMapper::new());
    let mut read = 0;
    for entry in &manifest {
        let path = corpus.join(entry["path"].as_str().unwrap());
        let junit_root = matches!(entry["root"].as_str(), Some("testsuites" | "testsuite"));
        let result = parallel_pytest::timings::load(std::slice::from_ref(&path), &mapper);
        match result {
            Ok(t) => {
                read += 1;
                let cases = entry["counted"]["cases"].as_u64().unwrap_or(u64::MAX);
                let tests = t.tests.into_map();
                assert!(tests.len() as u64 <= cases, "{}", path.display());
                assert!(tests.values().all(|s| s.is_finite() && *s >= 0.0));
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(entry["path"].as_str().unwrap()),
                    "error does not name the file: {message}"
                );
                assert!(
                    !(junit_root && entry["wellformed"] == true),
                    "well-formed JUnit `{}` was rejected: {message}",
                    path.display()
                );
            }
        }
    }
    assert!(read >= 200, "only {read} corpus files read");
}

/// `plan --collect` finds its interpreter as `run` does: `python3`, then `python`, on `PATH`
/// (a bare `python3` alone would miss a machine that only has `python`), and names the
/// lookup when there is none.
#[test]
fn collect_finds_the_interpreter_as_run_does() {
    let dir = fixture_copy("plan-split");
    let bin = tempfile::tempdir().unwrap();
    let wrapper = bin.path().join("python");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", python().display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .env("PATH", bin.path())
        .args(["plan", "--format", "json", "--workers", "1", "--collect"])
        .expect_code(0);
    let plan: Plan = serde_json::from_str(&stdout).expect("plan JSON");
    assert!(plan.shards[0].predicted_seconds > 0.0, "{stdout}");

    let empty = tempfile::tempdir().unwrap();
    let (_, stderr) = Cmd::new()
        .current_dir(dir.path())
        .env("PATH", empty.path())
        .args(["plan", "--collect"])
        .expect_code(2);
    assert!(stderr.contains("python3"), "{stderr}");
}

/// Node ids from a timings store are untrusted: in a GitHub log no line `plan` prints can be a
/// workflow command, and bidi overrides are neutralised.
#[test]
fn timings_node_ids_stay_inert_in_a_github_log() {
    let dir = crate::harness::fixture_copy("plan-split");
    std::fs::write(
        dir.path().join(".test_durations"),
        r#"{"tests/test_a.py::ok": 1.0, "tests/x.py::t\n::error::pwned ##[error]legacy": -5, "tests/y.py::\u202eevil": -1}"#,
    )
    .unwrap();
    let (stdout, stderr) = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--timings", ".test_durations", "--shards", "2"])
        .env("GITHUB_ACTIONS", "true")
        .expect_code(0);
    assert!(stderr.contains("pwned"), "{stderr}");
    for line in stderr.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line:?}");
        assert!(
            !line.contains("##[") && !line.contains('\u{202e}'),
            "{line:?}"
        );
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let token = lines[0].strip_prefix("::stop-commands::").expect(&stdout);
    assert_eq!(lines.last(), Some(&format!("::{token}::").as_str()));

    let (json, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--timings", ".test_durations", "--format", "json"])
        .env("GITHUB_ACTIONS", "true")
        .expect_code(0);
    assert!(!json.contains("##["), "{json}");
    serde_json::from_str::<serde_json::Value>(&json).unwrap();
}

/// Inputs written on Windows (CRLF line ends, `\` in the node ids of `.test_durations`, a CRLF
/// `pyproject.toml` and `pytest.ini`) plan exactly like their Unix twins, with `/` paths.
#[test]
fn windows_written_inputs_plan_like_unix_ones() {
    let durations = [
        ("tests/test_api.py::test_one", 3.0),
        ("tests/test_api.py::test_two", 1.0),
        ("tests/unit/test_models.py::test_one", 2.0),
    ];
    let write = |dir: &Path, windows: bool| {
        let eol = if windows { "\r\n" } else { "\n" };
        let entries: Vec<String> = durations
            .iter()
            .map(|(id, s)| {
                let id = if windows {
                    id.replace('/', "\\\\")
                } else {
                    (*id).to_owned()
                };
                format!("  \"{id}\": {s}")
            })
            .collect();
        let json = format!("{{{eol}{}{eol}}}{eol}", entries.join(&format!(",{eol}")));
        std::fs::write(dir.join(".test_durations"), json).unwrap();
        let config = format!("[tool.parallel-pytest]{eol}shards = 2{eol}");
        std::fs::write(dir.join("pyproject.toml"), config).unwrap();
        let ini = std::fs::read_to_string(dir.join("pytest.ini")).unwrap();
        std::fs::write(dir.join("pytest.ini"), ini.replace('\n', eol)).unwrap();
    };
    let unix = fixture_copy("layouts/tests-folder");
    write(unix.path(), false);
    let windows = fixture_copy("layouts/tests-folder");
    write(windows.path(), true);
    let (a, b) = (plan_json(unix.path(), &[]), plan_json(windows.path(), &[]));
    assert_eq!(a.shards_total, 2);
    assert_eq!(b.unknown_tests, a.unknown_tests);
    assert_eq!(b.predicted_makespan_seconds, a.predicted_makespan_seconds);
    assert_eq!(b.shards, a.shards);
    let all: Vec<&String> = b
        .shards
        .iter()
        .flat_map(|s| s.files.iter().chain(&s.node_ids))
        .collect();
    assert!(all.iter().all(|p| !p.contains('\\')), "{all:?}");
}

/// One parametrized function is ~85 % of the timed work and no `--collect` is given: its
/// cases spread over the shards, the prediction stays near the true bound, and every test
/// collected today (a case and a function added since the timings, one case gone) runs in
/// exactly one shard, for N = 1..8.
#[test]
fn a_dominant_parametrized_function_spreads_without_collect() {
    let dir = fixture_copy("plan-param-dominates");
    let all: BTreeSet<String> = pytest_collect(dir.path(), &[]).into_iter().collect();
    assert_eq!(all.len(), 45, "fixture changed?");
    for n in 1..=8u32 {
        let (stdout, _) = Cmd::new()
            .current_dir(dir.path())
            .args(["plan", "--format", "json", "--workers", "2"])
            .args(["--shards", &n.to_string()])
            .expect_code(0);
        let plan: Plan = serde_json::from_str(&stdout).expect("plan JSON");
        // 46 s timed over N × 2 workers, the longest test 2 s.
        let bound = (46.0 / f64::from(2 * n)).max(2.0);
        assert!(
            (plan.lower_bound_seconds - bound).abs() < 0.01,
            "N={n}: {plan:#?}"
        );
        assert!(
            plan.predicted_makespan_seconds <= 1.3 * bound,
            "N={n}: {} s against a bound of {bound} s\n{plan:#?}",
            plan.predicted_makespan_seconds
        );
        let seen = selected_by_shards(dir.path(), &plan);
        let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "N={n}: run twice: {twice:?}\n{plan:#?}");
        let selected: BTreeSet<String> = seen.into_keys().collect();
        assert_eq!(selected, all, "N={n}\n{plan:#?}");
    }
}

/// Seconds guessed from test counts are not shown as if measured: the plan, `run`'s summary
/// line and the manifest say so; a shard whose tests have timings keeps "predicted".
#[test]
fn shards_without_timings_say_their_seconds_are_a_guess() {
    let dir = fixture_copy("layouts/src-layout");
    let plan = plan_json(dir.path(), &["--shards", "1"]);
    assert!(plan.shards[0].estimated, "{plan:#?}");
    let (text, _) = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--shards", "1", "--workers", "1"])
        .expect_code(0);
    assert!(text.contains("(estimated from test counts)"), "{text}");
    let (_, stderr) = Cmd::new()
        .current_dir(dir.path())
        .args(["run", "--shard", "1/1", "--workers", "1", "--python"])
        .arg(python())
        .expect_code(0);
    assert!(
        stderr.contains(" (estimated from test counts: "),
        "{stderr}"
    );
    let manifest = std::fs::read_to_string(dir.path().join(".parallel-pytest/shard-1-of-1.json"))
        .expect("manifest");
    assert!(manifest.contains("\"estimated\": true"), "{manifest}");

    let timed = fixture_copy("plan-split");
    let plan = plan_json(timed.path(), &["--shards", "1"]);
    assert!(!plan.shards[0].estimated, "{plan:#?}");
    let (text, _) = Cmd::new()
        .current_dir(timed.path())
        .args(["plan", "--shards", "1", "--workers", "1"])
        .expect_code(0);
    assert!(!text.contains("estimated from test counts"), "{text}");
}

/// splitmix64: a seeded sequence that no dependency update can change.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random suite from a fixed seed: 160 files of 1 to 24 tests (plain, parametrized, in a
/// class), a few without timings, some in `xdist_group`s or marked serial, and a
/// `.test_durations` listing the ids shuffled across files, with ids and a file that are gone.
fn write_seeded_suite(dir: &Path) {
    let mut rng = Seeded(11);
    std::fs::write(
        dir.join("pyproject.toml"),
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
    )
    .unwrap();
    let mut timed: Vec<(String, u64)> = Vec::new();
    for i in 0..160 {
        let folder = dir.join(format!("tests/d{}", i % 7));
        std::fs::create_dir_all(&folder).unwrap();
        let path = format!("tests/d{}/test_f{i}.py", i % 7);
        let mut body = String::from("import pytest\n\n");
        // Every 40th file far heavier than a shard's share and free of constraints: the plan
        // splits it by id.
        let heavy = i % 40 == 3;
        match rng.below(12) + u64::from(heavy) * 12 {
            0 => body.push_str("pytestmark = pytest.mark.xdist_group(\"g1\")\n\n"),
            1 => body.push_str("pytestmark = pytest.mark.xdist_group(\"g2\")\n\n"),
            2 => body.push_str("@pytest.mark.serial\ndef test_serial():\n    pass\n\n"),
            _ => {}
        }
        let untimed = rng.below(10) == 0 && !heavy;
        for k in 0..1 + rng.below(24) {
            let (def, ids): (String, Vec<String>) = match rng.below(4) {
                0 => (
                    format!(
                        "@pytest.mark.parametrize(\"x\", range(3))\ndef test_{k}(x):\n    pass\n\n"
                    ),
                    (0..3).map(|x| format!("{path}::test_{k}[{x}]")).collect(),
                ),
                1 => (
                    format!("class TestC{k}:\n    def test_m(self):\n        pass\n\n"),
                    vec![format!("{path}::TestC{k}::test_m")],
                ),
                _ => (
                    format!("def test_{k}():\n    pass\n\n"),
                    vec![format!("{path}::test_{k}")],
                ),
            };
            body.push_str(&def);
            if !untimed {
                // Milliseconds, heavy-tailed: most tests short, a few long.
                let factor = if heavy { 3000 } else { 1 };
                timed.extend(
                    ids.into_iter()
                        .map(|id| (id, factor * (1 + rng.below(1000).pow(3) / 40_000))),
                );
            }
        }
        if !untimed && rng.below(8) == 0 {
            timed.push((format!("{path}::test_gone_since"), 500 + rng.below(5000)));
        }
        std::fs::write(dir.join(&path), body).unwrap();
    }
    timed.push(("tests/d0/test_removed.py::test_x".to_string(), 3000));
    // Shuffled, so a file's ids are not listed together (Fisher-Yates).
    for i in (1..timed.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        timed.swap(i, j);
    }
    let entries: Vec<String> = timed
        .iter()
        .map(|(id, ms)| format!("{}: {}.{:03}", serde_json::json!(id), ms / 1000, ms % 1000))
        .collect();
    std::fs::write(
        dir.join(".test_durations"),
        format!("{{\n{}\n}}\n", entries.join(",\n")),
    )
    .unwrap();
}

/// The plan of a seeded random suite (`write_seeded_suite`), discovery, timings, markers and
/// estimates included, is the one recorded in `tests/fixtures/plan-seeded.json` by the
/// planner before its speed work (issue 11: interned maps, overlapped marker scan): a faster
/// planner must plan the same. Leaves out what differs by machine or release (`version`,
/// the timings file's absolute path).
#[test]
fn plan_of_a_seeded_random_suite_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    write_seeded_suite(dir.path());
    let strip = |text: &str| {
        let mut plan: serde_json::Value = serde_json::from_str(text).unwrap();
        let fields = plan.as_object_mut().unwrap();
        fields.remove("version");
        fields.remove("timings_source");
        plan
    };
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .args([
            "plan",
            "--format",
            "json",
            "--shards",
            "7",
            "--workers",
            "3",
        ])
        .expect_code(0);
    if let Some(keep) = std::env::var_os("PARALLEL_PYTEST_TEST_KEEP_SEEDED") {
        // How the recorded plan was made: the suite written where the old binary can plan it.
        write_seeded_suite(Path::new(&keep));
    }
    let recorded = include_str!("../fixtures/plan-seeded.json");
    assert_eq!(strip(&stdout), strip(recorded), "{stdout}");
}
