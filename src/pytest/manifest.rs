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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashedWorker {
    pub worker: String,
    pub test: Option<String>,
}
