//! Isolation end to end on `tests/fixtures/isolation` (see its expected.toml): serial tests run
//! alone after the xdist phase, both phases land in the shard's one JUnit file and manifest,
//! the isolation variables reach the tests, resources are measured and advised on. The two
//! shards run once (`RUN`) and every test below asserts on that one run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use parallel_pytest::junit::{node_id, reader};
use parallel_pytest::pytest::Manifest;
use serde_json::json;

use crate::harness::{Cmd, fixture_copy, python};

const SHARD_1_FILES: &[&str] = &[
    "tests/test_resources.py",
    "tests/test_common_file.py",
    "tests/test_isolation_vars.py",
];
const SHARD_2_FILES: &[&str] = &[
    "tests/test_scoped.py",
    "tests/test_group_a.py",
    "tests/test_group_b.py",
];

struct ShardRun {
    stderr: String,
    manifest: Manifest,
    /// node id → outcome, from the shard's one JUnit file.
    outcomes: BTreeMap<String, String>,
    /// Testcases in the file (duplicates would make this larger than `outcomes`).
    cases: usize,
}

struct Run {
    dir: tempfile::TempDir,
    shards: Vec<ShardRun>,
}

impl Run {
    fn state(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(".state").join(file)).unwrap_or_default()
    }
}

fn plan_json() -> serde_json::Value {
    let shard = |index: u32, files: &[&str]| {
        json!({
            "index": index, "predicted_seconds": 3.0, "workers": 2,
            "files": files, "node_ids": [], "deselect": [],
        })
    };
    json!({
        "version": "test", "fingerprint": "isolation-test", "shards_total": 2,
        "lower_bound_seconds": 3.0, "predicted_makespan_seconds": 3.0, "unknown_tests": 0,
        "shards": [shard(1, SHARD_1_FILES), shard(2, SHARD_2_FILES)],
    })
}

fn read_junit(path: &Path) -> (BTreeMap<String, String>, usize) {
    let report = reader::read_path(path, &reader::Limits::default()).expect("read JUnit");
    assert!(report.truncated.is_none(), "{:?}", report.truncated);
    let outcomes = report
        .cases
        .iter()
        .map(|c| {
            (
                node_id::node_id(&c.classname, &c.name, c.file.as_deref()),
                c.outcome.as_str().to_string(),
            )
        })
        .collect();
    (outcomes, report.cases.len())
}

static RUN: LazyLock<Run> = LazyLock::new(|| {
    let dir = fixture_copy("isolation");
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, plan_json().to_string()).unwrap();
    let out = dir.path().join("out");
    let shards = (1..=2)
        .map(|i| {
            let (_, stderr) = Cmd::new()
                .current_dir(dir.path())
                .args(["run", "--plan", "plan.json", "--workers", "2", "--out-dir"])
                .arg(&out)
                .arg("--python")
                .arg(python())
                .arg("--shard")
                .arg(format!("{i}/2"))
                .expect_code(0);
            let manifest: Manifest = serde_json::from_str(
                &std::fs::read_to_string(out.join(format!("shard-{i}-of-2.json"))).unwrap(),
            )
            .unwrap();
            let (outcomes, cases) = read_junit(&out.join(&manifest.junit_file));
            ShardRun {
                stderr,
                manifest,
                outcomes,
                cases,
            }
        })
        .collect();
    Run { dir, shards }
});

const SERIAL: [&str; 2] = [
    "tests/test_common_file.py::test_serial_a",
    "tests/test_common_file.py::test_serial_b",
];

#[test]
fn serial_tests_run_alone_after_the_parallel_phase_and_pass() {
    let run = &*RUN;
    let shard = &run.shards[0];
    let serial = shard
        .manifest
        .serial
        .as_ref()
        .expect("serial phase recorded");
    assert_eq!(serial.node_ids, SERIAL);
    assert!(serial.started);
    assert_eq!(serial.exit_code, Some(0));
    assert!(serial.wall_seconds > 0.0);
    for id in SERIAL {
        assert_eq!(
            shard.outcomes.get(id).map(String::as_str),
            Some("passed"),
            "{id}"
        );
    }
    assert!(
        shard
            .stderr
            .contains("running 2 tests marked `serial` in one process"),
        "{}",
        shard.stderr
    );
    // The serial tests ran last, one after the other: `b` owned the file at the end.
    assert_eq!(run.state("shared.log"), "b start\nb end\n");
    // The shard without serial tests has no serial phase.
    assert_eq!(run.shards[1].manifest.serial, None);
}

#[test]
fn both_phases_land_in_one_junit_file_and_every_test_runs_exactly_once() {
    let run = &*RUN;
    let mut all = BTreeMap::new();
    for shard in &run.shards {
        assert_eq!(
            shard.cases,
            shard.outcomes.len(),
            "a test ran twice in one shard"
        );
        for (id, outcome) in &shard.outcomes {
            assert_eq!(outcome, "passed", "{id}");
            assert!(
                all.insert(id.clone(), ()).is_none(),
                "{id} ran in two shards"
            );
        }
        assert_eq!(shard.manifest.exit_code, Some(0));
    }
    // expected.toml: 24 tests in all.
    assert_eq!(all.len(), 24, "{:?}", all.keys().collect::<Vec<_>>());
    assert_eq!(run.shards[0].outcomes.len(), 11);
    assert!(
        !run.dir.path().join("out/junit-1-of-2.serial.xml").exists(),
        "the serial JUnit is merged, not left beside"
    );
}

#[test]
fn isolation_variables_reach_every_test() {
    let run = &*RUN;
    let vars = &run.shards[0].outcomes;
    for test in [
        "tests/test_isolation_vars.py::test_shard_variables_are_set_and_consistent",
        "tests/test_isolation_vars.py::test_xdist_worker_is_named_in_the_parallel_phase",
        "tests/test_isolation_vars.py::test_readme_recipe_names_this_shard_and_worker",
    ] {
        assert_eq!(vars.get(test).map(String::as_str), Some("passed"), "{test}");
    }
    // The README recipe: a database name per shard × worker.
    let slots = run.state("slots.log");
    assert!(slots.starts_with("myapp_test_s1_gw"), "{slots}");
    // Every state line names its shard.
    for line in run.state("group.log").lines() {
        assert!(line.contains(" 2/2 gw"), "{line}");
    }
}

#[test]
fn the_xdist_group_ran_in_one_shard_on_one_worker() {
    let run = &*RUN;
    let log = run.state("group.log");
    let places: std::collections::BTreeSet<&str> =
        log.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(log.lines().count(), 4, "{log}");
    // The plan's default `--dist load` may spread them over workers; the shard is one.
    assert!(places.iter().all(|p| p.starts_with("2/2 ")), "{log}");
}

#[test]
fn resources_are_measured_and_advised_on() {
    let run = &*RUN;
    let shard = &run.shards[0];
    let r = shard.manifest.resources.as_ref().expect("resources");
    assert!(r.parallel.measured, "{r:?}");
    assert!(r.parallel.samples >= 2, "{r:?}");
    const MIB: u64 = 1024 * 1024;
    // test_allocates_memory holds 160 MiB for 1.5 s in one worker; Python itself adds ~20 MiB.
    let worker_peak = r.peak_worker_rss_bytes.expect("per-worker peak");
    assert!(worker_peak >= 160 * MIB, "{r:?}");
    assert!(r.peak_rss_bytes >= worker_peak, "{r:?}");
    assert!(r.peak_rss_bytes < 2048 * MIB, "implausible peak: {r:?}");
    assert_eq!(r.parallel.workers.len(), 2, "{r:?}");
    assert!(r.parallel.cpu_seconds > 0.0, "{r:?}");
    // Mostly sleeping tests: far below the 60% line.
    let u = r.utilisation.expect("utilisation");
    assert!(u > 0.0 && u < 0.6, "{r:?}");
    let (kind, advice) = expected_advice(r);
    assert!(
        r.advice
            .iter()
            .any(|a| serde_json::to_value(a).unwrap()["kind"] == kind),
        "{r:?}"
    );
    let serial = r.serial.as_ref().expect("serial phase measured");
    assert!(serial.measured);
    assert_eq!(serial.workers.len(), 1);
    assert!(
        shard.stderr.contains(&format!("advice: {advice}")),
        "{}",
        shard.stderr
    );
}

/// Sleeping tests use little CPU: "mostly waiting", unless the machine was so busy that the
/// workers spent a quarter of their time waiting for a CPU (a loaded CI host or developer
/// box) — then low utilisation means starvation, and more workers would be the wrong advice.
/// Returns the advice's `kind` in the manifest and the start of its sentence.
fn expected_advice(r: &parallel_pytest::host::usage::Resources) -> (&'static str, &'static str) {
    let wait = r.parallel.cpu_wait_seconds.unwrap_or(0.0);
    let share = parallel_pytest::host::usage::advice::CPU_WAIT_SHARE;
    if wait / (r.parallel_wall_seconds * 2.0) >= share {
        (
            "waited-for-cpu",
            "CPU-starved: the workers waited for a CPU",
        )
    } else {
        ("mostly-waiting", "mostly waiting: CPU utilisation")
    }
}

/// The fixture is a real test of the feature: under plain `pytest -n 2` (serial tests mixed
/// into the xdist run) the serial tests see their siblings' writes and fail.
#[test]
fn without_the_serial_phase_the_serial_tests_fail() {
    let dir = fixture_copy("isolation");
    let out = std::process::Command::new(python())
        .current_dir(dir.path())
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "-o",
            "markers=serial: test",
            "tests/test_common_file.py",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED tests/test_common_file.py::test_serial_a"),
        "{stdout}"
    );
}

/// `--strict-markers` (in the fixture's `addopts`) with `serial` registered by nobody but us:
/// `--print-command` output still registers the marker and runs everything in one go.
#[test]
fn print_command_registers_the_marker_without_splitting_phases() {
    let dir = fixture_copy("isolation");
    std::fs::write(dir.path().join("plan.json"), plan_json().to_string()).unwrap();
    let (stdout, _) = Cmd::new()
        .current_dir(dir.path())
        .args([
            "run",
            "--plan",
            "plan.json",
            "--workers",
            "2",
            "--shard",
            "1/2",
        ])
        .arg("--python")
        .arg(python())
        .arg("--print-command")
        .expect_code(0);
    assert!(
        stdout.contains("-p _parallel_pytest_isolation --parallel-pytest-serial-marker=serial")
    );
    assert!(!stdout.contains("--parallel-pytest-phase"), "{stdout}");
    assert!(stdout.starts_with("PARALLEL_PYTEST_SHARD=1/2 "), "{stdout}");
}

fn plan_for(dir: &Path, shards: u32, dist: &str) -> (serde_json::Value, String) {
    let out = Cmd::new()
        .current_dir(dir)
        .args([
            "plan",
            "--workers",
            "2",
            "--timings",
            "durations.json",
            "--format",
            "json",
        ])
        .args(["--shards", &shards.to_string(), "--dist", dist])
        .output();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (serde_json::from_str(&stdout).expect("plan JSON"), stderr)
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

const GROUP_FILES: [&str; 2] = ["tests/test_group_a.py", "tests/test_group_b.py"];

#[test]
fn the_group_never_spans_shards_and_scopes_split_only_where_the_mode_allows() {
    let dir = fixture_copy("isolation");
    for dist in ["load", "loadgroup", "loadscope", "loadfile"] {
        for n in 1..=5u32 {
            let (plan, stderr) = plan_for(dir.path(), n, dist);
            let shards = plan["shards"].as_array().unwrap();
            assert_eq!(shards.len(), n as usize);
            // Every file is owned by exactly one shard (moved tests are deselected there).
            let mut owners: BTreeMap<String, usize> = BTreeMap::new();
            for (i, shard) in shards.iter().enumerate() {
                for f in strings(&shard["files"]) {
                    assert!(owners.insert(f.clone(), i).is_none(), "{f} twice: {plan:#}");
                }
            }
            assert_eq!(owners.len(), 6, "{plan:#}");
            let group_shards: std::collections::BTreeSet<usize> =
                GROUP_FILES.iter().map(|f| owners[*f]).collect();
            assert_eq!(group_shards.len(), 1, "{dist} {n}: {plan:#}");
            for (i, shard) in shards.iter().enumerate() {
                for id in strings(&shard["node_ids"]) {
                    let file = id.split("::").next().unwrap();
                    assert!(!GROUP_FILES.contains(&file), "group test moved: {plan:#}");
                    let owner = &shards[owners[file]];
                    assert_ne!(owners[file], i);
                    assert!(
                        strings(&owner["deselect"])
                            .iter()
                            .any(|d| d.starts_with(&id)),
                        "{id} is not deselected by its file's owner: {plan:#}"
                    );
                    match dist {
                        "loadfile" => panic!("loadfile split a file: {plan:#}"),
                        // Only tests of a class move (exact ids); the whole class goes
                        // to one shard, checked below.
                        "loadscope" => assert!(
                            id.starts_with("tests/test_scoped.py::TestFirst::")
                                || id.starts_with("tests/test_scoped.py::TestSecond::"),
                            "{id}: {plan:#}"
                        ),
                        _ => {}
                    }
                }
            }
            if dist == "loadscope" {
                // A class never spans shards: every test of it runs where its first one runs.
                for class in ["TestFirst", "TestSecond"] {
                    let prefix = format!("tests/test_scoped.py::{class}::");
                    let holders: std::collections::BTreeSet<usize> = shards
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| {
                            strings(&s["node_ids"])
                                .iter()
                                .any(|id| id.starts_with(&prefix))
                        })
                        .map(|(i, _)| i)
                        .collect();
                    assert!(holders.len() <= 1, "{class} split: {plan:#}");
                    if let Some(&i) = holders.iter().next() {
                        let owner = owners["tests/test_scoped.py"];
                        let moved = |s: &serde_json::Value, key: &str| {
                            strings(&s[key])
                                .into_iter()
                                .filter(|id| id.starts_with(&prefix))
                                .count()
                        };
                        // The fixture times three cases per class: all of them move.
                        assert_eq!(moved(&shards[i], "node_ids"), 3, "{class}: {plan:#}");
                        assert_eq!(
                            moved(&shards[owner], "deselect"),
                            3,
                            "{class} partly moved: {plan:#}"
                        );
                    }
                }
            }
            if n > 1 {
                assert!(
                    stderr.contains(
                        "note: xdist_group: `tests/test_group_a.py`, `tests/test_group_b.py` stay on one shard"
                    ),
                    "{stderr}"
                );
            }
            if dist == "loadfile" && n >= 3 {
                assert!(
                    strings(&plan["notes"]).contains(
                        &"`tests/test_scoped.py` is not split: `--dist loadfile` runs a file on one worker"
                            .to_string()
                    ),
                    "{plan:#}"
                );
            }
        }
    }
}

#[test]
fn serial_seconds_are_not_divided_by_the_workers() {
    let dir = fixture_copy("isolation");
    let (plan, _) = plan_for(dir.path(), 3, "load");
    let shard = plan["shards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| strings(&s["files"]).contains(&"tests/test_common_file.py".to_string()))
        .unwrap();
    // Two serial tests of 6 s run one after the other: at least 12 s, whatever W is; the
    // four 0.3 s siblings share 2 workers.
    let predicted = shard["predicted_seconds"].as_f64().unwrap();
    assert!(predicted >= 12.0, "{plan:#}");
}

/// Exactly once for real: every shard of a 3-shard `loadscope` plan collects its tests through
/// `run` (both phases), and the union is the suite, each test once.
#[test]
fn loadscope_plan_collects_every_test_exactly_once_across_both_phases() {
    let dir = fixture_copy("isolation");
    let (plan, _) = plan_for(dir.path(), 3, "loadscope");
    std::fs::write(dir.path().join("plan.json"), plan.to_string()).unwrap();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for i in 1..=3 {
        let (stdout, _) = Cmd::new()
            .current_dir(dir.path())
            .args([
                "run",
                "--plan",
                "plan.json",
                "--workers",
                "1",
                "--dist",
                "loadscope",
            ])
            .arg("--python")
            .arg(python())
            .arg("--shard")
            .arg(format!("{i}/3"))
            .args(["--", "--collect-only", "-q"])
            .expect_code(0);
        for line in stdout.lines().filter(|l| l.starts_with("tests/")) {
            *seen.entry(line.to_string()).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 24, "{seen:#?}");
    assert!(seen.values().all(|&c| c == 1), "{seen:#?}");
}

/// The report's shard table shows CPU utilisation and peak memory against the limit, and the
/// advice the run gave (terminal and Markdown).
#[test]
fn report_shows_resources_and_advice() {
    let run = &*RUN;
    let out = run.dir.path().join("out");
    let summary = run.dir.path().join("summary.md");
    let (stdout, stderr) = Cmd::new()
        .current_dir(run.dir.path())
        .arg("report")
        .arg(&out)
        .arg("--summary")
        .arg(&summary)
        .arg("--timings-out")
        .arg(run.dir.path().join("timings.json"))
        .expect_code(0);
    let text = format!("{stdout}{stderr}");
    assert!(text.contains("shard 1/2: 11 tests in"), "{text}");
    let line = text.lines().find(|l| l.starts_with("shard 1/2:")).unwrap();
    assert!(line.contains("% used, peak memory "), "{line}");
    assert!(line.contains(" / "), "peak against the limit: {line}");
    let (_, advice) = expected_advice(run.shards[0].manifest.resources.as_ref().unwrap());
    assert!(text.contains(&format!("  advice: {advice}")), "{text}");
    // The store learned the largest per-worker peak (test_allocates_memory: >= 160 MiB).
    let store: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.dir.path().join("timings.json")).unwrap(),
    )
    .unwrap();
    let learned = store["worker_memory"]["peak_bytes"]
        .as_u64()
        .expect("worker_memory");
    assert!(learned >= 160 * 1024 * 1024, "{store:#}");
    assert_eq!(
        Some(learned),
        run.shards
            .iter()
            .filter_map(|s| s.manifest.resources.as_ref()?.peak_worker_rss_bytes)
            .max()
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| CPU used | Peak memory |"), "{md}");
    assert!(md.contains("**Resource advice**"), "{md}");
    // Markdown escapes `:` (`&#58;`) in our text like in any other.
    let advice_md = advice.replace(':', "&#58;");
    assert!(md.contains(&format!("- shard 1/2: {advice_md}")), "{md}");
}

/// A learned per-worker peak larger than the machine's memory leaves room for one worker only
/// (`--memory-per-worker` unset); setting it explicitly wins over what was learned.
#[test]
fn learned_worker_memory_caps_auto_workers() {
    let dir = fixture_copy("isolation");
    let store = json!({
        "format": "parallel-pytest-timings", "version": 1, "tests": {},
        "worker_memory": {"peak_bytes": 1u64 << 50, "runs": 3},
    });
    std::fs::write(dir.path().join("store.json"), store.to_string()).unwrap();
    let workers = |extra: &[&str]| {
        let (stdout, _) = Cmd::new()
            .current_dir(dir.path())
            .args(["plan", "--format", "json", "--shards", "2"])
            .args(extra)
            .expect_code(0);
        let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        plan["shards"][0]["workers"].as_u64().unwrap()
    };
    let unlearned = workers(&[]);
    assert_eq!(workers(&["--timings", "store.json"]), 1);
    // An explicit budget wins over what was learned: the same count as without the store.
    assert_eq!(
        workers(&["--timings", "store.json", "--memory-per-worker", "512"]),
        unlearned
    );
}

/// `plan --collect` on a project with `--strict-markers` that never declared `serial`: the
/// collection loads our plugin (marker registered), and the exact markers keep the group
/// together for every shard count.
#[test]
fn collect_works_under_strict_markers_and_keeps_the_group_together() {
    let dir = fixture_copy("isolation");
    for n in [2u32, 4] {
        let (stdout, _) = Cmd::new()
            .current_dir(dir.path())
            .args([
                "plan",
                "--collect",
                "--workers",
                "2",
                "--timings",
                "durations.json",
            ])
            .args(["--format", "json", "--shards", &n.to_string()])
            .arg("--python")
            .arg(python())
            .expect_code(0);
        let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let owners: Vec<usize> = GROUP_FILES
            .iter()
            .map(|f| {
                plan["shards"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|s| strings(&s["files"]).contains(&f.to_string()))
                    .unwrap()
            })
            .collect();
        assert_eq!(owners[0], owners[1], "{plan:#}");
        for s in plan["shards"].as_array().unwrap() {
            for id in strings(&s["node_ids"]) {
                assert!(!GROUP_FILES.iter().any(|f| id.starts_with(f)), "{plan:#}");
            }
        }
    }
}
