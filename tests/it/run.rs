//! `parallel-pytest run` against real pytest + pytest-xdist (latest and 7.4) on the fixture
//! suites `tests/fixtures/run-*`. Plans are written by hand here (`run --plan`) so each test
//! pins the exact selection it exercises: split files, deselects, stale node ids, empty shards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use parallel_pytest::junit::node_id::to_junit_names;
use parallel_pytest::junit::reader::{Limits, read_path};
use parallel_pytest::pytest::Manifest;
use serde_json::json;

use crate::harness::{Cmd, collected_ids, fixture_copy, python, python7};

/// One shard row: (files, node_ids, deselect, workers).
type Row<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], u32);

fn write_plan(dir: &Path, rows: &[Row<'_>]) -> PathBuf {
    let shards: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, (files, node_ids, deselect, workers))| {
            json!({
                "index": i + 1,
                "predicted_seconds": 1.0,
                "workers": workers,
                "files": files,
                "node_ids": node_ids,
                "deselect": deselect,
            })
        })
        .collect();
    let plan = json!({
        "version": "test",
        "fingerprint": "hand-written",
        "shards_total": rows.len(),
        "lower_bound_seconds": 1.0,
        "predicted_makespan_seconds": 1.0,
        "unknown_tests": 0,
        "shards": shards,
    });
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    path
}

fn run_cmd(dir: &Path, py: &Path, plan: &Path, shard: &str) -> Cmd {
    Cmd::new()
        .current_dir(dir)
        .arg("run")
        .arg("--plan")
        .arg(plan)
        .arg("--shard")
        .arg(shard)
        .arg("--python")
        .arg(py)
}

/// (classname, name) of every testcase in a JUnit file.
fn junit_keys(path: &Path) -> Vec<(String, String)> {
    let report = read_path(path, &Limits::default()).expect("readable JUnit");
    assert!(
        report.truncated.is_none(),
        "{} is truncated",
        path.display()
    );
    report
        .cases
        .into_iter()
        .map(|c| (c.classname, c.name))
        .collect()
}

fn manifest(dir: &Path, stem: &str) -> Manifest {
    let path = dir.join(format!(".parallel-pytest/shard-{stem}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const ALPHA_PARAM: &str = "tests/test_alpha.py::test_param";
const ALPHA_GROUP: &str = "tests/test_alpha.py::TestGroup";

/// Four shards over `run-basic`: a file split across shards (its owner deselects the ids placed
/// elsewhere), a class and a parametrized base id as single node ids, a stale id that no longer
/// exists, and an empty shard. Every collected test must run exactly once.
fn exactly_once_by_hand(py: &Path, xdist_shard: usize) {
    let dir = fixture_copy("run-basic");
    let w = |i: usize| if i == xdist_shard { 2 } else { 1 };
    let plan = write_plan(
        dir.path(),
        &[
            (
                &["tests/test_beta.py"],
                &[ALPHA_PARAM, "tests/test_delta.py::test_gone_since_timings"],
                &[],
                w(1),
            ),
            (
                &["tests/test_alpha.py", "tests/pkg/test_gamma.py"],
                &[],
                // The planner's prefixes, matched like pytest's `--deselect`.
                &[
                    "tests/test_alpha.py::test_param[",
                    "tests/test_alpha.py::TestGroup::",
                ],
                w(2),
            ),
            (&["tests/test_delta.py"], &[ALPHA_GROUP], &[], w(3)),
            (&[], &[], &[], 2),
        ],
    );
    let mut seen: Vec<(String, String)> = Vec::new();
    for i in 1..=4 {
        let stem = format!("{i}-of-4");
        let (stdout, stderr) = run_cmd(dir.path(), py, &plan, &format!("{i}/4")).expect_code(0);
        let m = manifest(dir.path(), &stem);
        assert_eq!(m.shard_index, i);
        assert_eq!(m.fingerprint, "hand-written");
        assert_eq!(m.junit_file, format!("junit-{stem}.xml"));
        if i == 4 {
            assert!(!m.pytest_started);
            assert_eq!(m.exit_code, None);
            assert_eq!(
                stderr.trim(),
                "parallel-pytest: shard 4/4 has nothing to run (the plan gave it no tests); pytest was not started"
            );
            assert!(!stdout.contains("test session starts"));
        } else {
            assert!(m.pytest_started);
            assert_eq!(m.exit_code, Some(0));
            assert_eq!(m.workers, w(i as usize));
            assert_eq!(m.dist.is_some(), w(i as usize) > 1);
            assert!(m.python.pytest.is_some() && m.python.version.is_some());
            // pytest's own output streamed through unchanged.
            assert!(stdout.contains("test session starts"), "{stdout}");
            if w(i as usize) > 1 {
                assert!(stdout.contains("2 workers"), "{stdout}");
            }
        }
        seen.extend(junit_keys(
            &dir.path()
                .join(format!(".parallel-pytest/junit-{stem}.xml")),
        ));
    }
    let expected: Vec<(String, String)> = collected_ids(dir.path(), py)
        .iter()
        .map(|id| to_junit_names(id))
        .collect();
    assert_eq!(expected.len(), 29, "fixture size changed: {expected:?}");
    assert_once(&expected, &seen);
}

/// `seen` holds every expected key exactly once and nothing else.
fn assert_once(expected: &[(String, String)], seen: &[(String, String)]) {
    let mut counts: BTreeMap<&(String, String), usize> = BTreeMap::new();
    for k in seen {
        *counts.entry(k).or_default() += 1;
    }
    let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "ran more than once: {dupes:?}");
    let want: BTreeSet<_> = expected.iter().collect();
    let got: BTreeSet<_> = seen.iter().collect();
    let lost: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "lost {lost:?}, extra {extra:?}"
    );
}

#[test]
fn hand_plan_runs_every_test_exactly_once_latest() {
    exactly_once_by_hand(&python(), 2);
}

#[test]
fn hand_plan_runs_every_test_exactly_once_pytest7() {
    exactly_once_by_hand(&python7(), 1);
}

#[test]
fn dry_run_prints_row_and_a_command_that_runs_as_is() {
    let dir = fixture_copy("run-basic");
    let plan = write_plan(
        dir.path(),
        &[
            (&["tests/test_delta.py"], &[ALPHA_GROUP], &[], 2),
            (&[], &[], &[], 2),
        ],
    );
    let (stdout, _) = run_cmd(dir.path(), &python(), &plan, "1/2")
        .arg("--dry-run")
        .expect_code(0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "shard 1/2: predicted 1.0 s, 1 file, 1 single test, 0 deselected, 2 workers"
    );
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[1].contains(" -m pytest -p _parallel_pytest_selection "));
    assert!(lines[1].contains(" -n 2 --dist=load "));
    assert!(lines[1].contains(" -o junit_family=xunit1 "));
    assert!(
        !dir.path()
            .join(".parallel-pytest/junit-1-of-2.xml")
            .exists(),
        "dry run ran pytest"
    );

    let (printed, _) = run_cmd(dir.path(), &python(), &plan, "1/2")
        .arg("--print-command")
        .expect_code(0);
    // The same command, except that it does not split off `serial` tests into a second
    // phase (a script runs one command; see README "Tests that must not run in parallel").
    let one_phase = lines[1]
        .split(' ')
        .filter(|w| {
            !w.starts_with("--parallel-pytest-phase=")
                && !w.starts_with("--parallel-pytest-serial-out=")
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(printed.trim(), one_phase);
    // The printed command, run by a shell, is the shard.
    let out = Command::new("sh")
        .arg("-c")
        .arg(printed.trim())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let keys = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-2.xml"));
    assert_eq!(keys.len(), 5 + 3, "{keys:?}");

    // An empty shard prints no command at all.
    let (printed, stderr) = run_cmd(dir.path(), &python(), &plan, "2/2")
        .arg("--print-command")
        .expect_code(0);
    assert_eq!(printed, "");
    assert!(stderr.contains("nothing to run"), "{stderr}");
}

#[test]
fn crashed_workers_fail_and_are_recorded() {
    let dir = fixture_copy("run-crash");
    let plan = write_plan(dir.path(), &[(&["tests/test_crash.py"], &[], &[], 2)]);
    let (_, stderr) = run_cmd(dir.path(), &python(), &plan, "1/1").expect_code(1);
    let m = manifest(dir.path(), "1-of-1");
    assert_eq!(m.exit_code, Some(1));
    assert_eq!(m.signal, None);
    let mut crashed: Vec<_> = m
        .crashed_workers
        .iter()
        .map(|c| c.test.clone().unwrap_or_default())
        .collect();
    crashed.sort();
    assert_eq!(
        crashed,
        [
            "tests/test_crash.py::test_exit",
            "tests/test_crash.py::test_segfault"
        ]
    );
    assert!(
        stderr.contains("crashed while running `tests/test_crash.py::test_exit`"),
        "{stderr}"
    );
    let report = read_path(
        &dir.path().join(".parallel-pytest/junit-1-of-1.xml"),
        &Limits::default(),
    )
    .unwrap();
    let bad: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.outcome.is_bad())
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert_eq!(report.cases.len(), 4);
}

#[test]
fn collection_error_fails_the_shard() {
    for py in [python(), python7()] {
        let dir = fixture_copy("run-collect-error");
        let plan = write_plan(
            dir.path(),
            &[(&["tests/test_fine.py", "tests/test_broken.py"], &[], &[], 1)],
        );
        let out = run_cmd(dir.path(), &py, &plan, "1/1").output();
        let code = out.status.code();
        assert!(
            matches!(code, Some(c) if c != 0 && c != 5),
            "collection error must fail: {code:?}"
        );
        let m = manifest(dir.path(), "1-of-1");
        assert_eq!(m.exit_code, code);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("module_that_does_not_exist"), "{stdout}");
    }
}

#[test]
fn keyword_and_marker_arguments_pass_through() {
    let dir = fixture_copy("run-basic");
    let plan = write_plan(
        dir.path(),
        &[(&["tests/test_alpha.py", "tests/test_beta.py"], &[], &[], 1)],
    );
    run_cmd(dir.path(), &python(), &plan, "1/1")
        .args(["--", "-m", "slow"])
        .expect_code(0);
    let mut names: Vec<_> = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    names.sort();
    assert_eq!(names, ["test_beta_marked", "test_marked"]);

    run_cmd(dir.path(), &python7(), &plan, "1/1")
        .args(["--", "-k", "keyword or in_class"])
        .expect_code(0);
    let mut names: Vec<_> = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    names.sort();
    assert_eq!(names, ["test_in_class", "test_keyword_match"]);
}

#[test]
fn user_junitxml_is_kept_and_copied_for_report() {
    let dir = fixture_copy("run-basic");
    let plan = write_plan(dir.path(), &[(&["tests/test_delta.py"], &[], &[], 1)]);
    run_cmd(dir.path(), &python(), &plan, "1/1")
        .args(["--", "--junitxml", "mine.xml"])
        .expect_code(0);
    let mine = junit_keys(&dir.path().join("mine.xml"));
    let ours = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    assert_eq!(mine.len(), 5);
    assert_eq!(mine, ours);
}

#[test]
fn runs_from_a_subdirectory_with_root() {
    let dir = fixture_copy("run-basic");
    let plan = write_plan(dir.path(), &[(&["tests/pkg/test_gamma.py"], &[], &[], 1)]);
    Cmd::new()
        .current_dir(dir.path().join("tests/pkg"))
        .args(["--root", "../.."])
        .arg("run")
        .arg("--plan")
        .arg(&plan)
        .arg("--python")
        .arg(python())
        .expect_code(0);
    let keys = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter()
            .all(|(c, _)| c.starts_with("tests.pkg.test_gamma")),
        "{keys:?}"
    );
}

/// 100,000 node ids on pytest 7.4 (which has no `@argsfile`): as argv they would be ~4 MB, over
/// Linux's 2 MiB limit. They travel in the selection file; `--collect-only` keeps the run cheap.
#[test]
fn hundred_thousand_node_ids_never_touch_argv_pytest7() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pytest.ini"), "[pytest]\n").unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let mut ids = Vec::new();
    for f in 0..10 {
        std::fs::write(
            dir.path().join(format!("tests/test_gen_{f}.py")),
            "import pytest\n\n\n@pytest.mark.parametrize(\"i\", range(10000))\ndef test_gen(i):\n    pass\n",
        )
        .unwrap();
        for i in 0..10_000 {
            ids.push(format!("tests/test_gen_{f}.py::test_gen[{i}]"));
        }
    }
    // Keep every other id: the plugin must select exactly these 50,000 of 100,000 collected,
    // from a 100,000-id selection whose other half no longer exists.
    let keep: Vec<String> = ids.iter().step_by(2).cloned().collect();
    let mut selection: Vec<String> = keep.clone();
    selection.extend(
        (0..50_000).map(|i| format!("tests/test_gen_0.py::test_gen_renamed_since_timings[{i}]")),
    );
    let id_refs: Vec<&str> = selection.iter().map(String::as_str).collect();
    let plan = write_plan(dir.path(), &[(&[], &id_refs, &[], 1)]);
    let (stdout, _) = run_cmd(dir.path(), &python7(), &plan, "1/1")
        .args(["--", "--collect-only", "-q"])
        .expect_code(0);
    let listed: Vec<&str> = stdout.lines().filter(|l| l.contains("::")).collect();
    assert_eq!(listed.len(), 50_000);
    assert_eq!(listed, keep.iter().map(String::as_str).collect::<Vec<_>>());
}

/// More file paths than the argv budget: the top folders go on argv and the plugin keeps
/// collection to the selected files (packages and conftests intact), on both pytest lines.
#[test]
fn too_many_paths_for_argv_fall_back_to_top_folders() {
    for py in [python(), python7()] {
        top_folders_case(&py);
    }
}

fn top_folders_case(py: &Path) {
    let dir = fixture_copy("run-basic");
    let plan = write_plan(
        dir.path(),
        &[(
            &["tests/pkg/test_gamma.py", "tests/test_delta.py"],
            &[ALPHA_GROUP],
            &["tests/test_delta.py::test_delta_plain"],
            1,
        )],
    );
    let (stdout, _) = run_cmd(dir.path(), py, &plan, "1/1")
        .env("PARALLEL_PYTEST_ARGV_BUDGET", "1")
        .arg("--dry-run")
        .expect_code(0);
    assert!(stdout.trim_end().ends_with(" tests"), "{stdout}");
    run_cmd(dir.path(), py, &plan, "1/1")
        .env("PARALLEL_PYTEST_ARGV_BUDGET", "1")
        .expect_code(0);
    let keys = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    // gamma 3 + delta 5 - 1 deselected + TestGroup 3.
    assert_eq!(keys.len(), 10, "{keys:?}");
    // pytest's own order (its walk of the top folder), not the plan's.
    let selected: BTreeSet<&(String, String)> = keys.iter().collect();
    let pytest_order: Vec<(String, String)> = collected_ids(dir.path(), py)
        .iter()
        .map(|id| to_junit_names(id))
        .filter(|k| selected.contains(k))
        .collect();
    assert_eq!(keys, pytest_order);
}

// Unix signals; the Windows console events and exit statuses are unit-tested in
// `pytest::process`, and run for real on the windows-latest CI job.
#[cfg(unix)]
#[test]
fn sigterm_is_forwarded_and_pytest_writes_its_report() {
    let dir = fixture_copy("run-signals");
    let started = dir.path().join("started");
    let plan = write_plan(
        dir.path(),
        &[(
            &[],
            &[
                "tests/test_signals.py::test_quick",
                "tests/test_signals.py::test_wait_for_cancel",
            ],
            &[],
            1,
        )],
    );
    // A generous grace period: a loaded CI machine must not turn this into a SIGTERM test.
    let child = run_cmd(dir.path(), &python(), &plan, "1/1")
        .args(["--grace-seconds", "60"])
        .env("RUN_SIGNALS_STARTED", &started)
        .into_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the waiting test never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    // pytest's own "interrupted" code: it stopped on the forwarded SIGINT and reported.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(dir.path(), "1-of-1");
    assert_eq!(m.interrupted_by.as_deref(), Some("SIGTERM"));
    assert_eq!(m.exit_code, Some(2));
    assert_eq!(m.signal, None);
    let names: Vec<_> = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert!(names.contains(&"test_quick".to_string()), "{names:?}");
}

// Unix signals; the Windows console events and exit statuses are unit-tested in
// `pytest::process`, and run for real on the windows-latest CI job.
#[cfg(unix)]
#[test]
fn death_by_sigkill_is_named_and_points_at_memory() {
    let dir = fixture_copy("run-signals");
    let plan = write_plan(
        dir.path(),
        &[(&[], &["tests/test_signals.py::test_killed"], &[], 1)],
    );
    let (_, stderr) = run_cmd(dir.path(), &python(), &plan, "1/1").expect_code(137);
    assert!(
        stderr.contains("pytest was killed by SIGKILL (signal 9)") && stderr.contains("memory"),
        "{stderr}"
    );
    let m = manifest(dir.path(), "1-of-1");
    assert_eq!(m.signal.as_deref(), Some("SIGKILL"));
    assert_eq!(m.exit_code, None);
    assert!(m.pytest_started);
}

#[test]
fn bad_plan_and_shard_are_usage_errors() {
    let dir = fixture_copy("run-basic");
    let plan = write_plan(dir.path(), &[(&["tests/test_delta.py"], &[], &[], 1)]);
    let (_, stderr) = run_cmd(dir.path(), &python(), &plan, "2/3").expect_code(2);
    assert!(
        stderr.contains("`--shard 2/3` does not match the plan, which has 1 shard"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    let (_, stderr) = run_cmd(dir.path(), &python(), Path::new("bad.json"), "1/1").expect_code(2);
    assert!(
        stderr.contains("bad.json") && stderr.contains("not a plan"),
        "{stderr}"
    );
}

/// Timings recorded before `tests/test_delta.py` existed and before `test_alpha.py::test_two`
/// was added (a test new in a timed file), naming a test that is gone since (`test_removed`)
/// and a whole file that is gone; `tests/test_alpha.py` far heavier than the rest so the
/// planner splits it (its parametrized `test_param` by case) across shards.
const BASIC_TIMINGS: &str = r#"{
  "tests/test_alpha.py::test_one": 0.5,
  "tests/test_alpha.py::test_marked": 0.5,
  "tests/test_alpha.py::test_removed": 3.5,
  "tests/test_alpha.py::test_param[1]": 3.0,
  "tests/test_alpha.py::test_param[2]": 3.0,
  "tests/test_alpha.py::test_param[3]": 3.0,
  "tests/test_alpha.py::test_param[a b]": 3.0,
  "tests/test_alpha.py::test_param[x::y]": 3.0,
  "tests/test_alpha.py::TestGroup::test_in_class": 4.0,
  "tests/test_alpha.py::TestGroup::test_class_param[0]": 4.0,
  "tests/test_alpha.py::TestGroup::test_class_param[1]": 4.0,
  "tests/test_beta.py::test_many[0]": 0.2,
  "tests/test_beta.py::test_keyword_match": 0.2,
  "tests/test_beta.py::test_beta_marked": 0.2,
  "tests/test_removed_file.py::test_gone": 2.0,
  "tests/pkg/test_gamma.py::test_nested_a": 0.3,
  "tests/pkg/test_gamma.py::TestNested::test_method": 0.3
}"#;
const REMOVED: &str = "tests/test_alpha.py::test_removed";
const ADDED: &str = "tests/test_alpha.py::test_two";

/// One shard of a planned run, as the tests below check it.
struct ShardSeen {
    manifest: Manifest,
    stderr: String,
    cases: Vec<(String, String)>,
}

/// `run --shard i/n` for every shard over the same timings (`--collect` when `collect`), each
/// exiting 0; workers 2 for a single shard, else 1 (cheap; xdist is covered at N = 1).
fn run_every_shard(dir: &Path, py: &Path, n: u32, collect: bool, user: &[&str]) -> Vec<ShardSeen> {
    run_every_shard_with(dir, py, n, collect, None, user)
}

/// [`run_every_shard`]; `Some(w)`: with `--launcher processes --workers w`.
fn run_every_shard_with(
    dir: &Path,
    py: &Path,
    n: u32,
    collect: bool,
    processes: Option<u32>,
    user: &[&str],
) -> Vec<ShardSeen> {
    let out = dir.join(format!(
        "out-{n}-{}-{}-{processes:?}",
        if collect { "collect" } else { "timings" },
        py == python7()
    ));
    let workers = match processes {
        Some(w) => w.to_string(),
        None => (if n == 1 { "2" } else { "1" }).to_string(),
    };
    (1..=n)
        .map(|i| {
            let mut cmd = Cmd::new()
                .current_dir(dir)
                .args(["run", "--timings", ".test_durations", "--python"])
                .arg(py)
                .args(["--workers", workers.as_str()])
                .arg("--shard")
                .arg(format!("{i}/{n}"))
                .arg("--out-dir")
                .arg(&out);
            if collect {
                cmd = cmd.arg("--collect");
            }
            if processes.is_some() {
                cmd = cmd.args(["--launcher", "processes"]);
            }
            let (_, stderr) = cmd.args(user).expect_code(0);
            let manifest: Manifest = serde_json::from_str(
                &std::fs::read_to_string(out.join(format!("shard-{i}-of-{n}.json"))).unwrap(),
            )
            .unwrap();
            let cases = junit_keys(&out.join(format!("junit-{i}-of-{n}.xml")));
            ShardSeen {
                manifest,
                stderr,
                cases,
            }
        })
        .collect()
}

/// What one mode (with or without `--collect`) showed over all its shard counts, so each test
/// can insist its cases were really exercised.
#[derive(Default)]
struct Exercised {
    /// `test_param`'s cases ran on more than one shard.
    param_spread: bool,
    /// The removed id was planned on some shard (and noted there as not found).
    removed_planned: bool,
}

/// Checks one planned run of `run-basic` against invariant 2 and the rules for tests added and
/// removed since the timings.
fn check_shards(
    expected: &[(String, String)],
    shards: &[ShardSeen],
    collect: bool,
    seen_so_far: &mut Exercised,
) {
    let n = shards.len();
    let all: Vec<(String, String)> = shards.iter().flat_map(|s| s.cases.clone()).collect();
    eprintln!("N = {n}, collect = {collect}: {} testcases", all.len());
    assert_once(expected, &all);
    let added = to_junit_names(ADDED);
    let removed = to_junit_names(REMOVED);
    let mut param_shards = BTreeSet::new();
    for s in shards {
        let sel = &s.manifest.selection;
        let shard = s.manifest.shard_index;
        // The removed test never runs; where the plan still names it, the shard skips it with a
        // note in its manifest and on stderr, and its run stays green (expect_code(0) above).
        assert!(
            !s.cases.contains(&removed),
            "shard {shard}/{n} ran {REMOVED}"
        );
        let names_removed = sel
            .node_ids
            .iter()
            .chain(&sel.deselect)
            .any(|i| i == REMOVED);
        if names_removed {
            seen_so_far.removed_planned = true;
            assert!(
                s.manifest.collected.not_found.iter().any(|i| i == REMOVED),
                "shard {shard}/{n}: {:?}",
                s.manifest.collected
            );
            assert!(
                s.stderr
                    .contains("planned id matched no test, renamed or deleted (not lost)")
                    && s.stderr.contains(&format!("`{REMOVED}`")),
                "shard {shard}/{n}: {}",
                s.stderr
            );
        } else {
            assert!(
                !s.manifest.collected.not_found.iter().any(|i| i == REMOVED),
                "shard {shard}/{n}"
            );
        }
        // `--collect` knows the suite: nothing gone is planned at all.
        if collect {
            assert!(
                !names_removed,
                "shard {shard}/{n} plans {REMOVED} under --collect"
            );
            assert!(
                s.manifest.collected.not_found.is_empty(),
                "{:?}",
                s.manifest.collected
            );
        }
        assert!(
            !sel.files.iter().any(|f| f == "tests/test_removed_file.py"),
            "shard {shard}/{n}: {sel:?}"
        );
        // The added test runs where its file runs: without `--collect` only the owner of
        // `test_alpha.py` can run it (no plan knows its id).
        if s.cases.contains(&added) {
            let by_id = sel.node_ids.iter().any(|i| i == ADDED);
            assert!(
                collect || !by_id,
                "shard {shard}/{n} selected {ADDED} by id"
            );
            assert!(
                by_id || sel.files.iter().any(|f| f == "tests/test_alpha.py"),
                "shard {shard}/{n} ran {ADDED} without its file: {sel:?}"
            );
        }
        if s.cases
            .iter()
            .any(|(_, name)| name.starts_with("test_param["))
        {
            param_shards.insert(shard);
        }
    }
    seen_so_far.param_spread |= param_shards.len() > 1;
}

/// Invariant 2 through the real planner, from the timings alone: for N = 1..8 every collected
/// test runs exactly once across the N shards — a file new since the timings
/// (`test_delta.py`), a test added to a timed file that the planner splits
/// (`test_alpha.py::test_two`, run by the file's owner only), a timed test that is gone
/// (`test_removed`: skipped with a note where planned, never counted, never red) and a file
/// that is gone. `test_alpha.py`'s parametrized `test_param` is split by case. Shard counts
/// 1..8 with one worker each past N = 1; N = 3 once more on pytest 7.4, where the user also
/// names a folder after `--` that overlaps the shard's files (pytest 7 collects such files
/// twice).
#[test]
fn every_test_runs_exactly_once_for_one_to_eight_shards() {
    let dir = fixture_copy("run-basic");
    std::fs::write(dir.path().join(".test_durations"), BASIC_TIMINGS).unwrap();
    let expected = expected_keys(dir.path());
    let mut seen = Exercised::default();
    for n in 1..=8 {
        check_shards(
            &expected,
            &run_every_shard(dir.path(), &python(), n, false, &[]),
            false,
            &mut seen,
        );
    }
    let shards = run_every_shard(dir.path(), &python7(), 3, false, &["--", "tests"]);
    check_shards(&expected, &shards, false, &mut seen);
    assert!(
        seen.param_spread,
        "the planner never split test_param: the test lost its point"
    );
    assert!(
        seen.removed_planned,
        "no plan named {REMOVED}: the note went untested"
    );
}

/// The same with `--collect` (each shard collects, then plans from exact ids), N = 1..8: every
/// test once, the added test planned like any other, the removed ones never planned. About
/// 25 s here (a collection per shard costs a Python start), the test above about 19 s.
#[test]
fn every_test_runs_exactly_once_with_collect() {
    let dir = fixture_copy("run-basic");
    std::fs::write(dir.path().join(".test_durations"), BASIC_TIMINGS).unwrap();
    let expected = expected_keys(dir.path());
    let mut seen = Exercised::default();
    for n in 1..=8 {
        check_shards(
            &expected,
            &run_every_shard(dir.path(), &python(), n, true, &[]),
            true,
            &mut seen,
        );
    }
    assert!(
        seen.param_spread,
        "the planner never split test_param: the test lost its point"
    );
}

/// The same under `--launcher processes` (each shard `W` plain pytest processes, planned as
/// `N·W` one-process sub-shards), N = 1..4 × W = 2, 3, from the timings alone: every test once,
/// added and removed tests as above, and each shard records one process per planned sub-shard.
#[test]
fn every_test_runs_exactly_once_with_processes() {
    processes_case(false);
}

/// [`every_test_runs_exactly_once_with_processes`] with `--collect`.
#[test]
fn every_test_runs_exactly_once_with_processes_and_collect() {
    processes_case(true);
}

fn processes_case(collect: bool) {
    let dir = fixture_copy("run-basic");
    std::fs::write(dir.path().join(".test_durations"), BASIC_TIMINGS).unwrap();
    let expected = expected_keys(dir.path());
    let mut seen = Exercised::default();
    for w in [2, 3] {
        for n in 1..=4 {
            let shards = run_every_shard_with(dir.path(), &python(), n, collect, Some(w), &[]);
            for s in &shards {
                let m = &s.manifest;
                if m.pytest_started {
                    assert_eq!(m.launcher.as_deref(), Some("processes"));
                    assert_eq!(m.workers, w, "shard {}/{n}", m.shard_index);
                    assert!(!m.processes.is_empty() && m.processes.len() <= w as usize);
                    // 5: a process planned only ids that are gone (noted as not found, as a
                    // shard under xdist would be); the shard still exits 0 above.
                    assert!(
                        m.processes
                            .iter()
                            .all(|p| matches!(p.exit_code, Some(0 | 5))),
                        "{:?}",
                        m.processes
                    );
                }
            }
            check_shards(&expected, &shards, collect, &mut seen);
        }
    }
    assert!(
        seen.param_spread,
        "the planner never split test_param: the test lost its point"
    );
    assert!(
        collect || seen.removed_planned,
        "no plan named {REMOVED}: the note went untested"
    );
}

/// Every test pytest collects in `dir`, as JUnit names; `run-basic` has 29.
fn expected_keys(dir: &Path) -> Vec<(String, String)> {
    let expected: Vec<(String, String)> = collected_ids(dir, &python())
        .iter()
        .map(|id| to_junit_names(id))
        .collect();
    assert_eq!(expected.len(), 29, "fixture size changed: {expected:?}");
    expected
}

/// A src layout (`pythonpath = ["src"]` in pyproject.toml) run from a subdirectory without
/// `--root`: pytest's rootdir is the project (above the cwd), pytest starts in the cwd as plain
/// pytest would, and exactly the tests plain pytest would run there run, once.
#[test]
fn src_layout_from_a_subdirectory_without_root() {
    let dir = fixture_copy("run-src-layout");
    let sub = dir.path().join("tests/unit");
    let expected: Vec<(String, String)> = collected_ids(&sub, &python())
        .iter()
        .map(|id| to_junit_names(id))
        .collect();
    assert_eq!(expected.len(), 3, "{expected:?}");
    let mut seen = Vec::new();
    for i in 1..=2 {
        Cmd::new()
            .current_dir(&sub)
            .args(["run", "--workers", "1", "--python"])
            .arg(python())
            .arg("--shard")
            .arg(format!("{i}/2"))
            .expect_code(0);
        let junit = sub.join(format!(".parallel-pytest/junit-{i}-of-2.xml"));
        seen.extend(junit_keys(&junit));
    }
    assert_once(&expected, &seen);
    // From the project root with `--root`, the whole suite.
    Cmd::new()
        .current_dir(dir.path().join("src"))
        .args(["--root", ".."])
        .args(["run", "--workers", "1", "--python"])
        .arg(python())
        .expect_code(0);
    let keys = junit_keys(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    assert_eq!(keys.len(), 5, "{keys:?}");
}

/// A crash loop ends: xdist stops replacing workers after `--max-worker-restart` (2 × workers),
/// the shard fails, and `run` says that queued tests did not run.
#[test]
fn crash_loop_is_bounded_and_reported() {
    let dir = fixture_copy("run-crash");
    let plan = write_plan(dir.path(), &[(&["tests/test_crash_loop.py"], &[], &[], 2)]);
    let (_, stderr) = run_cmd(dir.path(), &python(), &plan, "1/1").expect_code(1);
    let m = manifest(dir.path(), "1-of-1");
    assert_eq!(m.max_worker_restart, Some(4));
    // The restart budget (4) is exceeded by the 5th crash; with 2 workers, the other worker
    // may crash in the same instant before xdist shuts down, so 6 is also a bounded loop.
    let crashed = m.crashed_workers.len();
    assert!((5..=6).contains(&crashed), "{:?}", m.crashed_workers);
    assert!(
        stderr.contains(&format!(
            "xdist stopped after {crashed} crashed workers (`--max-worker-restart 4`)"
        )),
        "{stderr}"
    );
}

/// Forge tokens never reach pytest: not at collection, not in the xdist workers. The fixture's
/// tests look for them at import and inside a test; other variables pass through.
#[test]
fn forge_tokens_are_kept_out_of_pytests_environment() {
    let dir = fixture_copy("run-secrets");
    let out = dir.path().join("out");
    let (stdout, stderr) = Cmd::new()
        .current_dir(dir.path())
        .arg("run")
        .arg("--python")
        .arg(python())
        .args(["--workers", "2", "--out-dir"])
        .arg(&out)
        .env("GITHUB_TOKEN", "ghs_secret")
        .env("PARALLEL_PYTEST_GITHUB_TOKEN", "ghp_secret")
        .env("PARALLEL_PYTEST_GITLAB_TOKEN", "glpat-secret")
        .env("PARALLEL_PYTEST_TOKEN_VARIABLE", "MY_GITLAB_TOKEN")
        .env("MY_GITLAB_TOKEN", "glpat-named")
        .env("HARMLESS_SETTING", "kept")
        .expect_code(0);
    assert!(!stdout.contains("secret") && !stderr.contains("secret"));
    let (outcomes, _) = crate::harness::junit_outcomes(&out.join("junit-1-of-1.xml"));
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(outcomes.values().all(|o| o == "passed"), "{outcomes:?}");
}

/// With two workers, pytest's workers get `OMP_NUM_THREADS` & co. = max(1, CPUs / 2), the
/// user's `MKL_NUM_THREADS` stays theirs, `--dry-run` and the manifest show the values, and
/// `--no-thread-limits` leaves the variables unset.
#[test]
fn workers_get_their_share_of_thread_pools_unless_the_user_set_them() {
    let dir = fixture_copy("run-threads");
    let (env_json, _) = Cmd::new().args(["env", "--format", "json"]).expect_code(0);
    let env: serde_json::Value = serde_json::from_str(&env_json).unwrap();
    let cpus = env["cpus"]["effective"].as_u64().unwrap();
    let expected = (cpus / 2).max(1).to_string();
    let vars = [
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    ];
    let run = |extra: &[&str], expect: &str| {
        let mut cmd = Cmd::new()
            .current_dir(dir.path())
            .args(["run", "--workers", "2", "--python"])
            .arg(python())
            .args(extra)
            .env("MKL_NUM_THREADS", "7")
            .env("EXPECT_THREADS", expect)
            .into_command();
        for var in vars {
            cmd.env_remove(var);
        }
        cmd.output().unwrap()
    };
    let out = run(&["--dry-run"], &expected);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for var in vars {
        assert!(stdout.contains(&format!("{var}={expected} ")), "{stdout}");
    }
    assert!(!stdout.contains("MKL_NUM_THREADS"), "{stdout}");

    let out = run(&[], &expected);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let m = manifest(dir.path(), "1-of-1");
    assert_eq!(m.workers, 2);
    let shown: Vec<(&str, &str)> = m
        .thread_limits
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut want: Vec<(&str, &str)> = vars.iter().map(|v| (*v, expected.as_str())).collect();
    want.sort();
    assert_eq!(shown, want);

    let out = run(&["--no-thread-limits"], "unset");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(manifest(dir.path(), "1-of-1").thread_limits.is_empty());
}
