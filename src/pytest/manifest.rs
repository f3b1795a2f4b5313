//! The shard manifest `shard-<I>-of-<N>.json` (contract, DESIGN.md §3): written by `run` even
//! when pytest fails, crashes or is interrupted; read by `report` together with the JUnit file.

use serde::{Deserialize, Serialize};

use crate::python::{Collected, PythonInfo};

/// Current manifest schema version; bump when a field changes meaning. Version 2 stores
/// `resources.advice` as data (`{"kind": "memory-bound", ...}`) instead of sentences; version 1
/// manifests still read (their sentences become `Advice::Text`).
pub const MANIFEST_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    /// parallel-pytest version that ran the shard.
    pub tool_version: String,
    pub fingerprint: String,
    /// 1-based.
    pub shard_index: u32,
    pub shard_total: u32,
    pub selection: Selection,
    pub predicted_seconds: f64,
    /// No test of the shard had a timing: `predicted_seconds` is a guess from test counts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
    pub wall_seconds: f64,
    pub workers: u32,
    /// pytest's exit code; `None` when pytest was not started (empty shard) or died by a signal.
    pub exit_code: Option<i32>,
    /// Signal that killed pytest (for example `SIGKILL` from the OOM killer), if any.
    pub signal: Option<String>,
    /// Whether pytest was started at all (false for an empty shard).
    pub pytest_started: bool,
    /// JUnit file name, relative to the manifest's folder.
    pub junit_file: String,
    pub python: PythonInfo,
    /// xdist workers that crashed (`gw0`, ...) with the test they were running, if known.
    #[serde(default)]
    pub crashed_workers: Vec<CrashedWorker>,
    /// Signal this job received (CI cancellation, Ctrl-C) and forwarded to pytest, if any.
    #[serde(default)]
    pub interrupted_by: Option<String>,
    /// xdist `--dist` mode used; `None` when pytest ran without xdist (one worker).
    #[serde(default)]
    pub dist: Option<String>,
    /// `--max-worker-restart` we passed to xdist; more `crashed_workers` than this means xdist
    /// stopped replacing workers and the tests after that point did not run.
    #[serde(default)]
    pub max_worker_restart: Option<u32>,
    /// Tests with the serial marker, run after the parallel phase in one plain pytest process;
    /// `None` when the shard had none. `exit_code`/`wall_seconds` above cover both.
    #[serde(default)]
    pub serial: Option<SerialPhase>,
    /// CPU and memory measured while pytest ran, with advice; `None` from older
    /// versions or when `run` did not start pytest.
    #[serde(default)]
    pub resources: Option<crate::host::usage::Resources>,
    /// What pytest collected for the shard (`files`: per planned file, collected and
    /// deselected by the user's filters; `deselected`: their total; `not_found`,
    /// `deselected_ids`, `twins`); empty from older versions or when collection never
    /// finished.
    #[serde(default, flatten)]
    pub collected: Collected,
    /// Node ids of non-strict XPASSes, which JUnit reports as passes.
    #[serde(default)]
    pub xpassed: Vec<String>,
    /// What the net plugin found in this shard's share of the suite's files: files discovery
    /// missed (which this shard ran) and planned files pytest would not collect; `None` when
    /// the net did not run (an empty shard, an older version, pytest never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::python::NetOut>,
    /// Thread-pool variables `run` gave the parallel phase (`OMP_NUM_THREADS`, ...): empty
    /// with one worker, when the user set them all, or with `--no-thread-limits`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub thread_limits: std::collections::BTreeMap<String, String>,
    /// Where the plan's timings came from (the plan's `timings_source`); `None` from older
    /// versions and for plans given with `run --plan` that did not carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings_source: Option<crate::timings::Provenance>,
    /// Coverage data files this shard's pytest wrote into the out dir (`COVERAGE_FILE` points
    /// there); `None` when coverage was neither requested nor written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageFiles>,
    /// The plan's predicted wall and its parts (start-up, collection, tests); `None` from
    /// plans of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_cost: Option<crate::plan::cost::ShardCost>,
    /// The fixed costs measured in the parallel phase; `None` when the plugin recorded
    /// nothing (pytest never got to the end of its session, an older version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_costs: Option<ShardCosts>,
    /// `processes` when the shard ran `--launcher processes` (`workers` plain pytest
    /// processes, no xdist); absent with xdist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launcher: Option<String>,
    /// With `--launcher processes`: how each process ended (`exit_code`/`signal` above fold
    /// them, the worst wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessRecord>,
}

/// One plain pytest process of a `--launcher processes` shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessRecord {
    /// `gw0`, `gw1`, ...: its `PYTEST_XDIST_WORKER`.
    pub worker: String,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub wall_seconds: f64,
}

/// A shard's coverage data: what `report` combines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoverageFiles {
    /// Coverage was asked for (`--cov` in the arguments or `addopts`, or
    /// `COVERAGE_PROCESS_START`), so the shard should have written data.
    pub requested: bool,
    /// File names beside the manifest (`coverage-2-of-3.dat`, `coverage-2-of-3.serial.dat`, and
    /// `coverage-2-of-3.dat.<host>.<pid>.<random>` from coverage's parallel mode).
    pub files: Vec<String>,
    /// The folder pytest started in (absolute): `report` maps it onto its own project folder,
    /// as a `[paths]` entry would, when shards ran at different paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// What a shard's pytest spent besides running tests, measured by the selection plugin
/// (seconds; "start" is when `run` spawned pytest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardCosts {
    /// Start → the controller's session start: interpreter, pytest, plugins, conftests.
    pub session_start_seconds: f64,
    /// Start → the last xdist worker ready to collect; `None` without xdist.
    pub workers_ready_seconds: Option<f64>,
    /// Per test file, the seconds one process spent collecting it (the mean over the workers,
    /// which each collect every file of the shard).
    pub collection: std::collections::BTreeMap<String, f64>,
    /// The sum of `collection`.
    pub collection_seconds: f64,
    /// Start → the first test started; `None` when no test ran.
    pub first_test_seconds: Option<f64>,
    /// The first test's start → the last test's end.
    pub tests_seconds: Option<f64>,
    /// The wall outside tests and collection: start-up and teardown (what the timings store
    /// learns per worker count).
    pub startup_seconds: f64,
    /// The worker count `startup_seconds` is learned under when it is not the shard's
    /// `workers`: 1 for `--launcher processes`, whose start-up is that of one plain process
    /// (never mixed with an xdist controller's and its workers').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_workers: Option<u32>,
}

impl ShardCosts {
    /// From the plugin's records, pytest's spawn time (seconds since the epoch) and the
    /// phase's wall; `None` without the controller's record.
    pub fn from_records(
        records: &[crate::python::CostRecord],
        spawned_at: f64,
        wall: f64,
    ) -> Option<ShardCosts> {
        let controller = records.iter().find(|r| r.role == "controller")?;
        let since = |t: f64| round3((t - spawned_at).max(0.0));
        let mut per_file: std::collections::BTreeMap<String, (f64, u32)> = Default::default();
        let collectors: Vec<_> = records.iter().filter(|r| r.role == "collector").collect();
        for r in &collectors {
            for (file, s) in &r.files {
                if s.is_finite() && *s >= 0.0 {
                    let e = per_file.entry(file.clone()).or_default();
                    e.0 += s;
                    e.1 += 1;
                }
            }
        }
        let collection: std::collections::BTreeMap<String, f64> = per_file
            .into_iter()
            .map(|(f, (sum, n))| (f, round3(sum / f64::from(n.max(1)))))
            .collect();
        let collection_seconds = round3(collection.values().sum());
        let tests = match (controller.first_test, controller.last_test_end) {
            (Some(a), Some(b)) if b >= a => Some(round3(b - a)),
            _ => None,
        };
        let startup = (wall - tests.unwrap_or(0.0) - collection_seconds).max(0.0);
        Some(ShardCosts {
            session_start_seconds: controller.session_start.map(since).unwrap_or(0.0),
            workers_ready_seconds: controller
                .workers_ready
                .values()
                .copied()
                .reduce(f64::max)
                .map(since),
            collection,
            collection_seconds,
            first_test_seconds: controller.first_test.map(since),
            tests_seconds: tests,
            startup_seconds: round3(startup),
            startup_workers: None,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The serial phase of a shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SerialPhase {
    /// Serial tests the parallel phase left out (the ones this phase ran, unless it was skipped).
    pub node_ids: Vec<String>,
    /// Whether the phase ran (not after an interruption or a usage error in the parallel phase).
    pub started: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub wall_seconds: f64,
    /// The phase ran but left no JUnit file (pytest died before writing it): `report`
    /// rebuilds its results from `results-<I>-of-<N>.serial.jsonl`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub junit_missing: bool,
}

impl Manifest {
    /// Write as pretty JSON through a temporary file and a rename, so a reader (or a job
    /// killed mid-write) never sees half a manifest.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        fs_err::write(&tmp, text + "\n")?;
        fs_err::rename(&tmp, path)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub files: Vec<String>,
    pub node_ids: Vec<String>,
    pub deselect: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::CostRecord;

    #[test]
    fn fixed_costs_from_the_plugin_records() {
        let collector = |w: &str, a: f64, b: f64| CostRecord {
            role: "collector".into(),
            worker: Some(w.into()),
            files: [("a.py".to_string(), a), ("b.py".to_string(), b)].into(),
            ..CostRecord::default()
        };
        let controller = CostRecord {
            role: "controller".into(),
            session_start: Some(101.0),
            workers_ready: [("gw0".to_string(), 102.0), ("gw1".to_string(), 102.5)].into(),
            first_test: Some(105.0),
            last_test_end: Some(111.0),
            ..CostRecord::default()
        };
        let records = [
            collector("gw0", 1.0, 0.5),
            collector("gw1", 2.0, 0.5),
            controller,
        ];
        let c = ShardCosts::from_records(&records, 100.0, 12.0).unwrap();
        assert_eq!(c.session_start_seconds, 1.0);
        assert_eq!(c.workers_ready_seconds, Some(2.5));
        assert_eq!(c.collection["a.py"], 1.5);
        assert_eq!(c.collection_seconds, 2.0);
        assert_eq!(c.first_test_seconds, Some(5.0));
        assert_eq!(c.tests_seconds, Some(6.0));
        // 12 s of wall: 6 s of tests, 2 s collecting, the rest start-up and teardown.
        assert_eq!(c.startup_seconds, 4.0);
        assert!(ShardCosts::from_records(&records[..2], 100.0, 12.0).is_none());
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashedWorker {
    pub worker: String,
    pub test: Option<String>,
}
