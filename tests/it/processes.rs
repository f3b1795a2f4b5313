//! `run --launcher processes` on the `processes` fixture: `W` plain pytest processes per shard.
//! Each test of the fixture records the process that ran it and the xdist variables that
//! process saw (`records/<pid>.txt`). Exactly-once over N × W with added and removed tests is
//! in `run.rs` (`every_test_runs_exactly_once_with_processes*`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parallel_pytest::pytest::Manifest;

use crate::harness::{Cmd, expected, fixture_copy, junit_outcomes, python};

/// One record line: (node id, PYTEST_XDIST_WORKER, _COUNT, _TESTRUNUID, worker_id, pid).
type Record = (String, String, String, String, String, String);

fn records(dir: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("records")).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_name().to_string_lossy().ends_with(".txt") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for line in text.lines() {
            let f: Vec<String> = line.split(' ').map(str::to_owned).collect();
            assert_eq!(f.len(), 6, "{line}");
            out.push((
                f[0].clone(),
                f[1].clone(),
                f[2].clone(),
                f[3].clone(),
                f[4].clone(),
                f[5].clone(),
            ));
        }
    }
    out
}

fn run(dir: &Path, workers: &str) -> Cmd {
    Cmd::new()
        .current_dir(dir)
        .args(["run", "--launcher", "processes", "--python"])
        .arg(python())
        .args(["--workers", workers])
}

fn manifest(dir: &Path) -> Manifest {
    let text = std::fs::read_to_string(dir.join(".parallel-pytest/shard-1-of-1.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Three processes: every test once (serial ones once, after them, in one process), each
/// process with its own `PYTEST_XDIST_WORKER`, the same count and run id, and one JUnit for
/// the shard. xdist's `worker_id` fixture says `master` in a plain process (documented: it
/// reads `config.workerinput`, which only xdist's workers have).
#[test]
fn three_processes_run_every_test_once_with_distinct_workers() {
    let want = expected("processes");
    let dir = fixture_copy("processes");
    let (_, stderr) = run(dir.path(), "3").expect_code(0);
    assert!(
        stderr.contains("running 2 tests marked `serial` in one process"),
        "{stderr}"
    );
    let recs = records(dir.path());
    let mut ran: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &recs {
        *ran.entry(r.0.as_str()).or_default() += 1;
    }
    let want_ids: BTreeSet<&str> = want.outcomes.keys().map(String::as_str).collect();
    assert_eq!(ran.keys().copied().collect::<BTreeSet<_>>(), want_ids);
    assert!(ran.values().all(|n| *n == 1), "{ran:?}");

    let (parallel, serial): (Vec<&Record>, Vec<&Record>) =
        recs.iter().partition(|r| !want.serial.contains(&r.0));
    let workers: BTreeSet<&str> = parallel.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(workers, BTreeSet::from(["gw0", "gw1", "gw2"]));
    // One worker name per process, one process per worker name.
    let pids_by_worker: BTreeSet<(&str, &str)> = parallel
        .iter()
        .map(|r| (r.1.as_str(), r.5.as_str()))
        .collect();
    assert_eq!(pids_by_worker.len(), 3, "{pids_by_worker:?}");
    assert!(parallel.iter().all(|r| r.2 == "3"));
    let uids: BTreeSet<&str> = parallel.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(uids.len(), 1, "{uids:?}");
    assert_ne!(uids.iter().next(), Some(&"-"));
    assert!(parallel.iter().all(|r| r.4 == "master"));
    // The serial phase is one process of its own, as under xdist.
    let serial_pids: BTreeSet<&str> = serial.iter().map(|r| r.5.as_str()).collect();
    assert_eq!(serial_pids.len(), 1);
    assert!(!pids_by_worker.iter().any(|(_, p)| serial_pids.contains(p)));

    let (outcomes, attempts) =
        junit_outcomes(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    assert_eq!(outcomes, want.outcomes);
    assert!(attempts.values().all(|n| *n == 1));
    let m = manifest(dir.path());
    assert_eq!(m.launcher.as_deref(), Some("processes"));
    assert_eq!(m.workers, 3);
    assert_eq!(
        m.processes
            .iter()
            .map(|p| p.worker.as_str())
            .collect::<Vec<_>>(),
        ["gw0", "gw1", "gw2"]
    );
    assert_eq!(m.dist, None);
    let serial = m.serial.as_ref().unwrap();
    assert!(serial.started);
    assert_eq!(
        serial.node_ids.iter().cloned().collect::<BTreeSet<_>>(),
        want.serial
    );
    // CPU and memory are measured over the three processes together.
    let r = m.resources.as_ref().unwrap();
    assert!(r.parallel.workers.iter().all(|w| w.label.starts_with("gw")));
    // Start-up is learned per plain process, never under the xdist key for three workers.
    assert_eq!(m.fixed_costs.as_ref().unwrap().startup_workers, Some(1));
}

/// A failing test in one process fails the shard, whatever the others did.
#[test]
fn a_failing_test_in_one_process_fails_the_shard() {
    let dir = fixture_copy("processes");
    run(dir.path(), "2").env("PP_FAIL", "c").expect_code(1);
    let m = manifest(dir.path());
    assert_eq!(m.exit_code, Some(1));
    let codes: Vec<Option<i32>> = m.processes.iter().map(|p| p.exit_code).collect();
    assert!(codes.contains(&Some(1)), "{codes:?}");
    let (outcomes, _) = junit_outcomes(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    assert_eq!(outcomes["tests/test_c.py::test_c[2]"], "failed");
    assert_eq!(outcomes.len(), 20);
}

/// A process that aborts: the shard exits 128 + SIGABRT, names the test that was running (as
/// xdist names a crashed worker's), and keeps every other test's result in its JUnit.
#[test]
fn a_crashed_process_is_named_and_fails_the_shard() {
    let dir = fixture_copy("processes");
    let (_, stderr) = run(dir.path(), "2").env("PP_ABORT", "1").expect_code(134);
    assert!(
        stderr.contains("crashed while running `tests/test_crash.py::test_maybe_abort`"),
        "{stderr}"
    );
    let m = manifest(dir.path());
    assert_eq!(m.signal.as_deref(), Some("SIGABRT"));
    assert_eq!(m.crashed_workers.len(), 1);
    assert_eq!(
        m.crashed_workers[0].test.as_deref(),
        Some("tests/test_crash.py::test_maybe_abort")
    );
    let dead: Vec<_> = m.processes.iter().filter(|p| p.signal.is_some()).collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].worker, m.crashed_workers[0].worker);
    let (outcomes, _) = junit_outcomes(&dir.path().join(".parallel-pytest/junit-1-of-1.xml"));
    assert_eq!(outcomes["tests/test_crash.py::test_maybe_abort"], "failed");
    // The other process's tests are all there (the serial phase does not start after a crash).
    let recs = records(dir.path());
    for r in recs.iter().filter(|r| !r.0.contains("test_maybe_abort")) {
        assert_eq!(
            outcomes.get(&r.0).map(String::as_str),
            Some("passed"),
            "{}",
            r.0
        );
    }
}

/// `--dry-run` prints the row and one command per process, each a plain pytest with its own
/// worker name; `--print-command` the commands alone. The variable works as the flag does.
#[test]
fn dry_run_prints_one_command_per_process() {
    let dir = fixture_copy("processes");
    let (stdout, stderr) = Cmd::new()
        .current_dir(dir.path())
        .env("PARALLEL_PYTEST_LAUNCHER", "processes")
        .args(["run", "--dry-run", "--workers", "3", "--python"])
        .arg(python())
        .expect_code(0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("shard 1/1:"), "{stdout}");
    for (k, line) in lines[1..].iter().enumerate() {
        assert!(
            line.contains(&format!("PYTEST_XDIST_WORKER=gw{k} ")),
            "{line}"
        );
        assert!(line.contains("PYTEST_XDIST_WORKER_COUNT=3"), "{line}");
        assert!(!line.contains(" -n "), "{line}");
        assert!(
            line.contains(&format!("junit-1-of-1.p{}.xml", k + 1)),
            "{line}"
        );
    }
    assert!(stderr.contains("run side by side"), "{stderr}");
    let (printed, _) = run(dir.path(), "2").arg("--print-command").expect_code(0);
    assert_eq!(printed.lines().count(), 2, "{printed}");
}

/// Options a set of separate processes cannot honour set the launcher aside for xdist, with a
/// note, in `run` and `plan` alike (so every shard of a run still plans the same).
#[test]
fn options_processes_cannot_honour_fall_back_to_xdist() {
    let dir = fixture_copy("processes");
    let (stdout, stderr) = run(dir.path(), "2")
        .args(["--dry-run", "--", "-x"])
        .expect_code(0);
    assert!(
        stderr.contains("does not run with pytest's `-x`")
            && stderr.contains("this run uses xdist"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains(" -n 2 "), "{stdout}");
}

/// The plan's fingerprint differs between launchers and between process counts, so shards
/// run with different settings are caught like any other disagreement.
#[test]
fn the_launcher_changes_the_plan_and_its_fingerprint() {
    let dir = fixture_copy("processes");
    let fingerprint = |launcher: &str, workers: &str| -> serde_json::Value {
        let (stdout, _) = Cmd::new()
            .current_dir(dir.path())
            .args([
                "plan",
                "--format",
                "json",
                "--shards",
                "2",
                "--workers",
                workers,
            ])
            .args(["--launcher", launcher])
            .expect_code(0);
        serde_json::from_str(&stdout).unwrap()
    };
    let xdist = fingerprint("xdist", "2");
    let procs = fingerprint("processes", "2");
    assert_ne!(xdist["fingerprint"], procs["fingerprint"]);
    assert_ne!(
        procs["fingerprint"],
        fingerprint("processes", "3")["fingerprint"]
    );
    assert_eq!(
        procs["fingerprint"],
        fingerprint("processes", "2")["fingerprint"]
    );
    let shards = procs["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    for s in shards {
        assert_eq!(s["processes"].as_array().unwrap().len(), 2, "{s}");
    }
    assert!(xdist["shards"][0].get("processes").is_none());
}

/// CI cancellation reaches every process: SIGTERM to `run` while both processes wait in a test
/// becomes SIGINT to each, both stop and report (exit 2, interrupted), and the shard says so.
#[cfg(unix)]
#[test]
fn a_cancelled_run_stops_every_process() {
    use std::time::{Duration, Instant};
    let dir = fixture_copy("processes");
    let child = run(dir.path(), "2")
        .env("PP_WAIT", "1")
        .into_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let records = dir.path().join("records");
    let waiting = || {
        std::fs::read_dir(&records).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("started-"))
                .count()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while waiting() < 2 {
        assert!(
            Instant::now() < deadline,
            "the processes never both started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(30),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(dir.path());
    assert_eq!(m.interrupted_by.as_deref(), Some("SIGTERM"));
    assert_eq!(m.processes.len(), 2);
    assert!(
        m.processes.iter().all(|p| p.exit_code == Some(2)),
        "{:?}",
        m.processes
    );
}
