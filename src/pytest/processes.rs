//! `--launcher processes`: the shard's `W` plain pytest processes (see `plan/processes.rs` for
//! how they are planned). This module holds what differs from one xdist pytest: which user
//! options it refuses (the shard then runs under xdist), each process's command and
//! environment, the fold of the processes' endings into one, and the JUnit of a process that
//! died before writing its own. `shard_run` runs them.

use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::command::{self, PytestCommand};
use super::manifest::ShardCosts;
use super::process::Finished;
use super::results_log::ResultsLog;
use super::serial;
use crate::junit::Outcome;
use crate::plan::ShardPlan;
use crate::python::Collected;

/// Why `--launcher processes` cannot honour these pytest options, or `None` when it can. The
/// shard then runs under xdist, which every shard decides alike (the options are the same in
/// every job), so the plans still agree.
pub fn refusal(pytest_args: &[String], env_addopts: Option<&str>) -> Option<String> {
    let mut words: Vec<String> = env_addopts
        .and_then(shlex::split)
        .unwrap_or_default()
        .into_iter()
        .collect();
    words.extend(pytest_args.iter().take_while(|a| *a != "--").cloned());
    for w in &words {
        let name = w.split_once('=').map_or(w.as_str(), |(n, _)| n);
        let why = match name {
            "-x" | "--exitfirst" | "--maxfail" => {
                "stops after failures counted across the shard, which separate processes cannot count"
            }
            "--lf" | "--last-failed" | "--ff" | "--failed-first" | "--sw" | "--stepwise"
            | "--sw-skip" | "--stepwise-skip" => {
                "reads and rewrites pytest's cache, which separate processes would overwrite in turn"
            }
            "--pdb" | "--trace" => "needs one interactive process",
            "-n" | "--numprocesses" | "--dist" => "asks for xdist itself",
            "--junitxml" | "--junit-xml" => {
                "names one report file, which each process would overwrite"
            }
            _ if name.starts_with("-n") && !name.starts_with("--") && name.len() > 2 => {
                "asks for xdist itself"
            }
            _ => continue,
        };
        return Some(format!(
            "`--launcher processes` does not run with pytest's `{name}` ({why}): this run uses xdist"
        ));
    }
    None
}

/// `gw0`, `gw1`, ...: the name xdist gives its worker `k - 1`, for process `k` (1-based).
pub fn worker_name(process: u32) -> String {
    format!("gw{}", process.saturating_sub(1))
}

/// An id shared by the shard's processes, as xdist's `PYTEST_XDIST_TESTRUNUID` is shared by
/// its workers: random per run, so suites that name databases after it do not collide.
pub fn test_run_uid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let part = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", part(), part())
}

/// The variables xdist sets in each worker, set here per process so fixtures that key
/// databases, ports or folders on them keep working: `PYTEST_XDIST_WORKER`,
/// `PYTEST_XDIST_WORKER_COUNT`, `PYTEST_XDIST_TESTRUNUID`. (xdist's `worker_id` fixture reads
/// `config.workerinput` instead, which a plain process has not; it returns `master`.)
pub fn xdist_env(process: u32, count: u32, uid: &str) -> Vec<(String, String)> {
    use crate::env_vars::ci::{
        PYTEST_XDIST_TESTRUNUID, PYTEST_XDIST_WORKER, PYTEST_XDIST_WORKER_COUNT,
    };
    vec![
        (PYTEST_XDIST_WORKER.to_owned(), worker_name(process)),
        (PYTEST_XDIST_WORKER_COUNT.to_owned(), count.to_string()),
        (PYTEST_XDIST_TESTRUNUID.to_owned(), uid.to_owned()),
    ]
}

/// Where process `k`'s parallel phase lists its serial tests.
pub fn serial_out(out_dir: &Path, stem: &str) -> std::path::PathBuf {
    out_dir.join(format!("serial-{stem}.txt"))
}

/// The command of each process with a non-empty selection, with its number (1-based). The
/// net (files discovery missed) goes to the first of them only: each missed file runs once.
pub fn commands(
    inputs: &command::Inputs<'_>,
    serial_marker: &str,
    thread_limits: &[(String, String)],
    uid: &str,
) -> Vec<(u32, PytestCommand)> {
    let shard: &ShardPlan = inputs.shard;
    let count = shard.processes.len() as u32;
    let mut net = inputs.net;
    shard
        .processes
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(i, p)| {
            let k = i as u32 + 1;
            let own = command::Inputs {
                shard: p,
                workers: 1,
                process: Some(k),
                net: net.take(),
                ..inputs.clone()
            };
            let stem = own.stem();
            let mut cmd = command::parallel(
                &own,
                serial_marker,
                Some(&serial_out(inputs.out_dir, &stem)),
            );
            cmd.env.extend(thread_limits.iter().cloned());
            cmd.env.extend(xdist_env(k, count, uid));
            cmd.env
                .push(super::coverage::data_file_env(inputs.out_dir, &stem, false));
            (k, cmd)
        })
        .collect()
}

/// How the processes ended, as one: the worst code by the serial phase's rule (a process with
/// nothing collected does not hide another's failure), none when any process died by a signal
/// (then the shard has its signal and is red), the longest wall.
pub fn fold(ended: &[Finished]) -> Finished {
    let code = ended.iter().try_fold(None, |acc: Option<i32>, f| {
        let c = f.code?;
        Some(Some(acc.map_or(c, |a| {
            serial::combine_exit_codes(Some(a), Some(c)).unwrap_or(c)
        })))
    });
    Finished {
        code: code.flatten(),
        killed_by: ended.iter().find_map(|f| f.killed_by),
        interrupted_by: ended.iter().find_map(|f| f.interrupted_by),
        wall: ended.iter().map(|f| f.wall).max().unwrap_or_default(),
    }
}

/// The processes' collection records as one. A file split between processes is collected by
/// each: its count is the largest, not the sum.
pub fn merge_collected(parts: impl IntoIterator<Item = Collected>) -> Collected {
    let mut out = Collected::default();
    for c in parts {
        for (file, n) in c.files {
            let e = out.files.entry(file).or_default();
            e.collected = e.collected.max(n.collected);
            e.deselected = e.deselected.max(n.deselected);
        }
        out.deselected += c.deselected;
        out.not_found.extend(c.not_found);
        out.deselected_ids.extend(c.deselected_ids);
        for (id, n) in c.twins {
            let e = out.twins.entry(id).or_default();
            *e = (*e).max(n);
        }
    }
    // An id one process deselects and a sibling selects is named by both when it is gone.
    for ids in [&mut out.not_found, &mut out.deselected_ids] {
        ids.sort();
        ids.dedup();
    }
    out
}

/// The processes' fixed costs as the shard's: each file's collection as its process measured
/// it, the mean start-up of one plain process (learned under one worker: what the planner
/// prices each process at), the longest collection and tests.
pub fn merge_costs(parts: &[ShardCosts]) -> Option<ShardCosts> {
    if parts.is_empty() {
        return None;
    }
    let n = parts.len() as f64;
    let max = |f: fn(&ShardCosts) -> Option<f64>| parts.iter().filter_map(f).reduce(f64::max);
    let mut collection = std::collections::BTreeMap::new();
    for p in parts {
        for (file, s) in &p.collection {
            let e: &mut f64 = collection.entry(file.clone()).or_default();
            *e = e.max(*s);
        }
    }
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    Some(ShardCosts {
        session_start_seconds: max(|p| Some(p.session_start_seconds)).unwrap_or(0.0),
        workers_ready_seconds: None,
        collection,
        collection_seconds: max(|p| Some(p.collection_seconds)).unwrap_or(0.0),
        first_test_seconds: parts
            .iter()
            .filter_map(|p| p.first_test_seconds)
            .reduce(f64::min),
        tests_seconds: max(|p| p.tests_seconds),
        startup_seconds: round3(parts.iter().map(|p| p.startup_seconds).sum::<f64>() / n),
        startup_workers: Some(1),
    })
}

/// A JUnit document for a process that died before writing its own, from its results log:
/// the tests that finished keep their outcomes; the one that was running fails with xdist's
/// own crash message (`worker 'gw1' crashed while running '…'`), so crash detection and the
/// report name it as they do for a crashed xdist worker.
pub fn junit_from_log(log: &ResultsLog, worker: &str) -> String {
    let mut suite = TestSuite::new("pytest");
    for t in &log.tests {
        let status = match t.outcome {
            None => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "worker '{worker}' crashed while running '{}'",
                    t.id.replace('\'', "\\'")
                ));
                s
            }
            Some(Outcome::Passed) => TestCaseStatus::success(),
            Some(Outcome::Failed) | Some(Outcome::Xpassed) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                if let Some(m) = &t.message {
                    s.set_message(m.as_str());
                }
                s
            }
            Some(Outcome::Error) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                if let Some(m) = &t.message {
                    s.set_message(m.as_str());
                }
                s
            }
            Some(Outcome::Skipped) | Some(Outcome::Xfailed) => TestCaseStatus::skipped(),
        };
        let (classname, name) = crate::junit::node_id::to_junit_names(&t.id);
        let mut case = TestCase::new(name.as_str(), status);
        case.set_classname(classname.as_str());
        case.set_time(std::time::Duration::from_secs_f64(t.seconds.max(0.0)));
        if let Some(file) = &t.file {
            case.extra.insert("file".into(), file.as_str().into());
        }
        if let Some(line) = t.line {
            case.extra.insert("line".into(), line.to_string().into());
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("pytest");
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|_| crate::junit::rewrite::EMPTY_REPORT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pytest::process::Cause;
    use std::time::Duration;

    fn ended(code: Option<i32>, secs: u64) -> Finished {
        Finished {
            code,
            killed_by: code.is_none().then_some(Cause::Signal {
                name: "SIGABRT",
                number: 6,
            }),
            interrupted_by: None,
            wall: Duration::from_secs(secs),
        }
    }

    #[test]
    fn the_worst_process_decides() {
        let f = fold(&[ended(Some(0), 3), ended(Some(1), 5)]);
        assert_eq!((f.code, f.wall), (Some(1), Duration::from_secs(5)));
        assert_eq!(fold(&[ended(Some(5), 1), ended(Some(0), 1)]).code, Some(0));
        assert_eq!(fold(&[ended(Some(5), 1), ended(Some(5), 1)]).code, Some(5));
        assert_eq!(fold(&[ended(Some(2), 1), ended(Some(1), 1)]).code, Some(2));
        let killed = fold(&[ended(Some(0), 1), ended(None, 2)]);
        assert_eq!(killed.code, None);
        assert!(killed.killed_by.is_some());
    }

    #[test]
    fn refuses_what_processes_cannot_honour() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(refusal(&args(&["-q", "--cov=src"]), None).is_none());
        for bad in [
            "-x",
            "--maxfail=2",
            "--lf",
            "--sw",
            "--pdb",
            "-n",
            "-n4",
            "--dist",
            "--junitxml=r.xml",
        ] {
            let why = refusal(&args(&["-q", bad]), None).unwrap();
            assert!(why.contains("this run uses xdist"), "{bad}: {why}");
        }
        assert!(refusal(&[], Some("-x -q")).is_some());
        // After `--` it is a path, not an option.
        assert!(refusal(&args(&["--", "-x"]), None).is_none());
    }

    #[test]
    fn a_crashed_process_names_its_running_test_as_xdist_would() {
        let log = crate::pytest::results_log::parse(
            "{\"start\": \"t.py::ok\", \"file\": \"t.py\", \"line\": 0}\n\
             {\"finish\": \"t.py::ok\", \"outcome\": \"passed\", \"seconds\": 0.1}\n\
             {\"start\": \"t.py::boom\", \"file\": \"t.py\", \"line\": 3}\n",
        );
        let xml = junit_from_log(&log, "gw1");
        let crashes = super::super::crash::crashes_in_junit(&xml);
        assert_eq!(crashes.len(), 1);
        assert_eq!(crashes[0].worker, "gw1");
        assert_eq!(crashes[0].test.as_deref(), Some("t.py::boom"));
        assert!(xml.contains("name=\"ok\""));
    }

    #[test]
    fn costs_of_processes_are_learned_per_plain_process() {
        let one = |s: f64, file: &str| ShardCosts {
            startup_seconds: s,
            collection: [(file.to_string(), 0.5)].into(),
            collection_seconds: 0.5,
            tests_seconds: Some(s),
            ..ShardCosts::default()
        };
        let c = merge_costs(&[one(1.0, "a.py"), one(2.0, "b.py")]).unwrap();
        assert_eq!(c.startup_seconds, 1.5);
        assert_eq!(c.startup_workers, Some(1));
        assert_eq!(c.collection.len(), 2);
        assert_eq!(c.tests_seconds, Some(2.0));
        assert!(merge_costs(&[]).is_none());
    }
}
