//! Our own timings store: versioned JSON, one entry per node id, smoothed over runs.
//!
//! ```json
//! {
//!   "format": "parallel-pytest-timings",
//!   "version": 2,
//!   "smoothing": {"method": "ewma", "alpha": 0.3, "forget_after_runs": 10},
//!   "tests": {"tests/test_a.py::test_x": {"seconds": 1.25, "runs": 4, "missed": 0,
//!             "markers": ["slow"], "keywords": ["slow", "test_a.py", "test_x", "tests"],
//!             "line": 41}},
//!   "collection": {"tests/test_a.py": {"seconds": 0.8, "runs": 4, "missed": 0}},
//!   "startup": {"2": {"seconds": 1.9, "runs": 4, "missed": 0}},
//!   "shard_errors": {"1/4": {"predicted_seconds": 9.5, "measured_seconds": 10.1, "error_percent": -5.9}},
//!   "provenance": {"platform": "GitLab", "run_id": 1234, "job_id": 5678, "commit": "9f86d0…",
//!                  "ref": "main", "date": "2026-12-03T09:41:07Z"}
//! }
//! ```
//!
//! `provenance` (optional, so no version bump: older stores load without it and older releases
//! ignore it) says which CI run wrote the store; see [`super::origin`].
//!
//! Version 2 adds the fixed costs of a shard (each section is left out when empty):
//! `collection` is the wall seconds one pytest process (a plain run or each xdist worker) spends
//! collecting a test file — importing it and building its items — and `startup` the seconds a
//! shard's pytest spends outside tests and test-file collection (interpreter, plugins,
//! conftests, xdist workers, session teardown), keyed by the shard's worker count. Both are
//! smoothed like test durations. `shard_errors` holds the latest run's prediction error per
//! shard (`(predicted − measured) / measured`), so users see the model converge. A version 1
//! store still reads (without fixed costs) and is written back as version 2.
//!
//! `line` (optional, written when a run recorded it) is where the test sits in its file (the
//! 0-based line of its function): the plan replays pytest's collection order with it to predict
//! how xdist's `load` scheduler hands a shard's tests out (see `plan::cost`).
//!
//! `markers` and `keywords` (optional, written when a run recorded them) are what pytest's
//! `-m` and `-k` match a test against: its markers' names, and the names `-k` searches (the
//! test's and its parents' names, its markers', extra keywords). The plan uses them to leave
//! out of the balance the tests a filter will deselect; they are replaced whenever a run
//! records them again and kept otherwise.
//!
//! Smoothing: an exponentially weighted moving average, `new = old + alpha × (observed − old)`
//! with `alpha = 0.3`, so one noisy run moves a test's estimate by 30 % of the surprise and a
//! real change is mostly learned within about 5 runs. The first observation is taken as is.
//! A test that was not observed in a run keeps its value and counts a `missed` run (it may have
//! been deselected, or its shard lost); after 10 missed runs in a row it is dropped (deleted or
//! renamed tests). Keys are written sorted, so the same store serialises byte-identically.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TimingsError;

pub const FORMAT: &str = "parallel-pytest-timings";
const VERSION: u32 = 2;
/// Oldest version this parallel-pytest still reads.
const OLDEST_VERSION: u32 = 1;
const ALPHA: f64 = 0.3;
const FORGET_AFTER_RUNS: u32 = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreEntry {
    /// Smoothed duration in seconds.
    pub seconds: f64,
    /// How many runs observed this test.
    pub runs: u32,
    /// Consecutive runs that did not observe it.
    #[serde(default)]
    pub missed: u32,
    /// Marker names, as `-m` matches them; absent when no run recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markers: Option<Vec<String>>,
    /// Names `-k` matches; absent when no run recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    /// Where the test sits in its file (0-based line of its function, as pytest's item location
    /// gives it), so the plan can replay the order in which xdist hands a shard's tests out;
    /// absent when no run recorded it. Replaced whenever a run records it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// What `-m` and `-k` match one test against, as a run recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectable {
    pub markers: Vec<String>,
    pub keywords: Vec<String>,
}

impl StoreEntry {
    /// The recorded markers and keywords, when both are known.
    pub fn selectable(&self) -> Option<Selectable> {
        Some(Selectable {
            markers: self.markers.clone()?,
            keywords: self.keywords.clone()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Smoothing {
    pub method: String,
    pub alpha: f64,
    pub forget_after_runs: u32,
}

impl Default for Smoothing {
    fn default() -> Self {
        Smoothing {
            method: "ewma".into(),
            alpha: ALPHA,
            forget_after_runs: FORGET_AFTER_RUNS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Store {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub smoothing: Smoothing,
    pub tests: BTreeMap<String, StoreEntry>,
    /// Peak resident memory of one xdist worker, learned from the shards' manifests,
    /// so the next run's worker count leaves room for it. Absent in older stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_memory: Option<WorkerMemory>,
    /// Version 2: seconds one pytest process spends collecting each test file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub collection: BTreeMap<String, StoreEntry>,
    /// Version 2: a shard's start-up and teardown outside tests and collection, per worker
    /// count (`"1"`, `"2"`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub startup: BTreeMap<String, StoreEntry>,
    /// Version 2: the latest run's prediction error per shard (`"I/N"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shard_errors: BTreeMap<String, ShardError>,
    /// Which run wrote this store (optional in version 2, see [`super::origin`]): replaced by
    /// every `report`, never merged. Read leniently: a bad value drops the field, not the store.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::origin::lenient"
    )]
    pub provenance: Option<super::RunOrigin>,
}

/// How far one shard's predicted wall was from its measured wall in the latest run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardError {
    pub predicted_seconds: f64,
    pub measured_seconds: f64,
    /// `(predicted − measured) / measured × 100`, one decimal.
    pub error_percent: f64,
}

impl ShardError {
    /// `None` when nothing was measured (a shard that never ran).
    pub fn new(predicted: f64, measured: f64) -> Option<ShardError> {
        (measured.is_finite() && measured > 0.0 && predicted.is_finite()).then(|| ShardError {
            predicted_seconds: predicted,
            measured_seconds: measured,
            error_percent: ((predicted - measured) / measured * 1000.0).round() / 10.0,
        })
    }
}

/// What one run measured of a shard's fixed costs, for [`Store::observe_fixed_costs`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedCostObservation {
    pub workers: u32,
    pub startup_seconds: f64,
    /// Per test file, the collection seconds of one process.
    pub collection: BTreeMap<String, f64>,
}

/// The fixed costs a plan uses: learned per-file collection and start-up per worker count,
/// and where each test sits in its file (the order xdist hands a shard's tests out in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedCosts {
    pub collection: BTreeMap<String, f64>,
    pub startup: BTreeMap<u32, f64>,
    /// Test id → the line a run recorded it at (see [`StoreEntry::line`]).
    pub lines: HashMap<String, u64>,
}

impl FixedCosts {
    pub fn is_empty(&self) -> bool {
        self.collection.is_empty() && self.startup.is_empty()
    }

    /// Start-up for `workers`: the learned value for that count, else the nearest learned count
    /// (ties: the larger), else `None`.
    pub fn startup_for(&self, workers: u32) -> Option<f64> {
        self.startup
            .iter()
            .min_by_key(|(w, _)| (w.abs_diff(workers), std::cmp::Reverse(**w)))
            .map(|(_, s)| *s)
    }

    /// Later sources win per key, as for test durations.
    pub fn extend(&mut self, other: FixedCosts) {
        self.collection.extend(other.collection);
        self.startup.extend(other.startup);
        self.lines.extend(other.lines);
    }
}

/// Learned per-worker memory. A higher peak is taken at once (running out of memory kills the
/// shard); a lower one only pulls the estimate down by `alpha` of the difference, so one light
/// run (a shard that happened to get small tests) does not invite too many workers next time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerMemory {
    pub peak_bytes: u64,
    pub runs: u32,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            format: FORMAT.into(),
            version: VERSION,
            smoothing: Smoothing::default(),
            tests: BTreeMap::new(),
            worker_memory: None,
            collection: BTreeMap::new(),
            startup: BTreeMap::new(),
            shard_errors: BTreeMap::new(),
            provenance: None,
        }
    }
}

/// The per-worker memory learned by any of our stores among `paths` (the largest), for the
/// worker budget. Files that are not our store, or unreadable, are skipped: the timings reader
/// reports those.
pub fn learned_worker_memory(paths: &[std::path::PathBuf]) -> Option<u64> {
    paths
        .iter()
        .filter_map(|p| read_if_store(p))
        .filter_map(|text| Store::from_json(&text).ok()?.worker_memory)
        .map(|m| m.peak_bytes)
        .max()
}

/// The run that wrote the store at `path`, when it is our store and says so. Reads only that
/// field (leniently); anything unreadable is `None`: the timings reader reports those.
pub fn provenance_of(path: &Path) -> Option<super::RunOrigin> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default, deserialize_with = "super::origin::lenient")]
        provenance: Option<super::RunOrigin>,
    }
    let text = read_if_store(path)?;
    serde_json::from_str::<Head>(&text).ok()?.provenance
}

/// The text of `path` when it is our store. Its head is sniffed first: the other timings files
/// (a `.test_durations` of a million ids is 45 MB) are not read a second time.
fn read_if_store(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    if !looks_like_store(&String::from_utf8_lossy(&head)) {
        return None;
    }
    file.read_to_end(&mut head).ok()?;
    String::from_utf8(head).ok()
}

/// How much of a file [`looks_like_store`] looks at.
const SNIFF_BYTES: usize = 512;

/// Cheap sniff: is this JSON text our store (rather than `.test_durations`)?
pub fn looks_like_store(text: &str) -> bool {
    // At most `SNIFF_BYTES`, cut on a character boundary (a byte index inside a character of
    // the file's text would panic).
    let end = (0..=text.len().min(SNIFF_BYTES))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let head = &text[..end];
    head.contains("\"format\"") && head.contains(FORMAT)
}

/// Parse errors before the path is known; [`StoreParseError::with_path`] names the file.
#[derive(Debug)]
pub enum StoreParseError {
    Json(serde_json::Error),
    Version(u64),
}

impl StoreParseError {
    pub fn with_path(self, path: &str) -> TimingsError {
        match self {
            StoreParseError::Json(source) => TimingsError::BadJson {
                path: path.to_owned(),
                source,
            },
            StoreParseError::Version(version) => TimingsError::StoreVersion {
                path: path.to_owned(),
                version,
                expected: VERSION,
            },
        }
    }
}

impl Store {
    pub fn from_json(text: &str) -> Result<Store, StoreParseError> {
        #[derive(Deserialize)]
        struct Head {
            version: u64,
        }
        let head: Head = serde_json::from_str(text).map_err(StoreParseError::Json)?;
        if !(u64::from(OLDEST_VERSION)..=u64::from(VERSION)).contains(&head.version) {
            return Err(StoreParseError::Version(head.version));
        }
        // A version 1 store has no fixed costs; it is written back as the current version.
        let mut store: Store = serde_json::from_str(text).map_err(StoreParseError::Json)?;
        store.version = VERSION;
        Ok(store)
    }

    /// The learned fixed costs, for the plan.
    pub fn fixed_costs(&self) -> FixedCosts {
        let usable = |s: f64| s.is_finite() && s >= 0.0;
        FixedCosts {
            collection: self
                .collection
                .iter()
                .filter(|(_, e)| usable(e.seconds))
                .map(|(f, e)| (f.clone(), e.seconds))
                .collect(),
            startup: self
                .startup
                .iter()
                .filter(|(_, e)| usable(e.seconds))
                .filter_map(|(w, e)| Some((w.parse::<u32>().ok()?, e.seconds)))
                .collect(),
            lines: self
                .tests
                .iter()
                .filter_map(|(id, e)| {
                    let key = crate::node_id::NodeId::new(id.clone()).into_string();
                    Some((key, e.line?))
                })
                .collect(),
        }
    }

    /// Folds in one run's fixed costs: every shard's start-up (averaged per worker count) and
    /// every file's collection (averaged over the shards that collected it), smoothed like test
    /// durations; files not collected in this run count a missed run. `errors` replaces the
    /// latest prediction errors when this run measured any.
    pub fn observe_fixed_costs(
        &mut self,
        shards: &[FixedCostObservation],
        errors: BTreeMap<String, ShardError>,
    ) {
        let mut startup: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut collection: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for shard in shards {
            startup
                .entry(shard.workers.max(1).to_string())
                .or_default()
                .push(shard.startup_seconds);
            for (file, s) in &shard.collection {
                collection.entry(file.clone()).or_default().push(*s);
            }
        }
        let mean = |v: Vec<f64>| {
            let v: Vec<f64> = v
                .into_iter()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let startup: Vec<(String, f64)> = startup
            .into_iter()
            .filter_map(|(k, v)| Some((k, mean(v)?)))
            .collect();
        let collection: Vec<(String, f64)> = collection
            .into_iter()
            .filter_map(|(k, v)| Some((k, mean(v)?)))
            .collect();
        let (alpha, forget) = (self.smoothing.alpha, self.smoothing.forget_after_runs);
        if !collection.is_empty() {
            smooth_into(&mut self.collection, collection, alpha, forget);
        }
        // Start-up of a worker count not seen in this run is not forgotten: another run may use
        // it again.
        smooth_into(&mut self.startup, startup, alpha, u32::MAX);
        if !errors.is_empty() {
            self.shard_errors = errors;
        }
    }

    /// Reads a store file; a missing file is an empty store.
    pub fn read(path: &Path) -> Result<Store, TimingsError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Store::from_json(&text).map_err(|e| e.with_path(&shown)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::default()),
            Err(source) => Err(TimingsError::Read {
                path: shown,
                source,
            }),
        }
    }

    /// Seeds a store from timings read from any source (JUnit, `.test_durations`, a store):
    /// each known test counts as observed once.
    pub fn from_seconds<'a>(tests: impl IntoIterator<Item = (&'a String, &'a f64)>) -> Store {
        let mut store = Store::default();
        for (id, s) in tests {
            if s.is_finite() && *s >= 0.0 {
                store.tests.insert(
                    id.clone(),
                    StoreEntry {
                        seconds: *s,
                        runs: 1,
                        missed: 0,
                        markers: None,
                        keywords: None,
                        line: None,
                    },
                );
            }
        }
        store
    }

    /// Folds one run's observations in (see the module docs). Several observations of one id
    /// in the same run (rerun attempts) are summed; negative or non-finite ones are ignored.
    pub fn observe_run<I, S>(&mut self, observations: I)
    where
        I: IntoIterator<Item = (S, f64)>,
        S: Into<String>,
    {
        // Sorted rather than hashed: a million ids sort faster than they hash into a map, and
        // sorted is the order the store keeps them in. The sort is stable, so the attempts of
        // one id are summed in the order they came (`0.0 +` as the sum started: -0.0 is 0).
        let mut run: Vec<(String, f64)> = observations
            .into_iter()
            .filter(|(_, s)| s.is_finite() && *s >= 0.0)
            .map(|(id, s)| (id.into(), 0.0 + s))
            .collect();
        run.sort_by(|a, b| a.0.cmp(&b.0));
        run.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
        smooth_into(
            &mut self.tests,
            run,
            self.smoothing.alpha,
            self.smoothing.forget_after_runs,
        );
    }

    /// Records what this run saw of each test's markers and keywords (replacing older records;
    /// a test the run did not record keeps its own). Only tests in the store are touched.
    pub fn observe_selectables<'a>(
        &mut self,
        seen: impl IntoIterator<Item = (&'a String, &'a Selectable)>,
    ) {
        for (id, sel) in seen {
            if let Some(entry) = self.tests.get_mut(id) {
                entry.markers = Some(sel.markers.clone());
                entry.keywords = Some(sel.keywords.clone());
            }
        }
    }

    /// Records the line each test was seen at (replaced whenever a run records it again).
    pub fn observe_lines<'a>(&mut self, seen: impl IntoIterator<Item = (&'a String, u64)>) {
        for (id, line) in seen {
            if let Some(entry) = self.tests.get_mut(id) {
                entry.line = Some(line);
            }
        }
    }

    /// Folds in the largest per-worker peak any shard of this run measured (`None`: nothing
    /// was measured, the learned value stays).
    pub fn observe_worker_memory(&mut self, observed: Option<u64>) {
        let Some(observed) = observed.filter(|b| *b > 0) else {
            return;
        };
        self.worker_memory = Some(match self.worker_memory.take() {
            None => WorkerMemory {
                peak_bytes: observed,
                runs: 1,
            },
            Some(old) => {
                let peak = if observed >= old.peak_bytes {
                    observed
                } else {
                    let drop = (old.peak_bytes - observed) as f64 * self.smoothing.alpha;
                    old.peak_bytes - drop.round() as u64
                };
                WorkerMemory {
                    peak_bytes: peak,
                    runs: old.runs.saturating_add(1),
                }
            }
        });
    }

    /// Pretty JSON with sorted keys and a trailing newline: what [`Store::write`] streams.
    #[cfg(test)]
    fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Writes atomically (temp file + rename) so a killed job never leaves half a store.
    pub fn write(&self, path: &Path) -> Result<(), TimingsError> {
        let shown = path.display().to_string();
        let io = |source: std::io::Error| TimingsError::Write {
            path: shown.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        // Streamed, not built as one string first: a million tests make 130 MB of JSON.
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&tmp)?);
            serde_json::to_writer_pretty(&mut out, self)?;
            out.write_all(b"\n")?;
            out.flush()
        };
        write().map_err(io)?;
        fs_err::rename(&tmp, path).map_err(io)
    }
}

/// EWMA of `observed` into `entries` (first observation as is); entries not observed count a
/// missed run and go after `forget` missed runs in a row. A key observed twice is smoothed
/// twice, in order.
///
/// One merge of two sorted lists, then a bulk build of the map: a million tests cost a linear
/// pass instead of a million tree look-ups and inserts.
fn smooth_into(
    entries: &mut BTreeMap<String, StoreEntry>,
    mut observed: Vec<(String, f64)>,
    alpha: f64,
    forget: u32,
) {
    // Callers pass sorted keys; a stable sort of sorted input is one linear check.
    observed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut old = std::mem::take(entries).into_iter().peekable();
    let mut merged: Vec<(String, StoreEntry)> = Vec::with_capacity(observed.len());
    let missed = |merged: &mut Vec<(String, StoreEntry)>, (key, mut e): (String, StoreEntry)| {
        e.missed = e.missed.saturating_add(1);
        if e.missed < forget {
            merged.push((key, e));
        }
    };
    let smooth = |e: &mut StoreEntry, s: f64| {
        e.seconds += alpha * (s - e.seconds);
        e.runs = e.runs.saturating_add(1);
        e.missed = 0;
    };
    for (key, s) in observed {
        while old.peek().is_some_and(|(k, _)| *k < key) {
            missed(&mut merged, old.next().expect("peeked"));
        }
        if let Some((_, e)) = merged.last_mut().filter(|(k, _)| *k == key) {
            smooth(e, s);
        } else if old.peek().is_some_and(|(k, _)| *k == key) {
            let (key, mut e) = old.next().expect("peeked");
            smooth(&mut e, s);
            merged.push((key, e));
        } else {
            merged.push((
                key,
                StoreEntry {
                    seconds: s,
                    runs: 1,
                    missed: 0,
                    markers: None,
                    keywords: None,
                    line: None,
                },
            ));
        }
    }
    for rest in old {
        missed(&mut merged, rest);
    }
    // Sorted and unique: `collect` builds the tree in one pass.
    *entries = merged.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_file_is_the_json_and_merging_keeps_every_rule() {
        let mut s = Store::default();
        s.smoothing.forget_after_runs = 2;
        s.observe_run([("b", 1.0), ("a", 2.0), ("b", 0.5), ("c", -0.0)]);
        s.observe_run([("c", 4.0), ("d", 1.0), ("c", 1.0), ("a", f64::NAN)]);
        let seconds: Vec<(&str, f64, u32, u32)> = s
            .tests
            .iter()
            .map(|(k, e)| (k.as_str(), e.seconds, e.runs, e.missed))
            .collect();
        // `a` and `b` missed once; `c` summed its two attempts (5.0) into its first 0.0.
        assert_eq!(
            seconds,
            [
                ("a", 2.0, 1, 1),
                ("b", 1.5, 1, 1),
                ("c", 1.5, 2, 0),
                ("d", 1.0, 1, 0)
            ]
        );
        s.observe_run([("d", 1.0)]);
        assert_eq!(
            s.tests.keys().collect::<Vec<_>>(),
            ["c", "d"],
            "forgotten after 2"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        s.write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), s.to_json());
    }

    #[test]
    fn worker_memory_rises_at_once_and_falls_slowly() {
        let mut store = Store::default();
        store.observe_worker_memory(None);
        assert_eq!(store.worker_memory, None);
        store.observe_worker_memory(Some(1000));
        store.observe_worker_memory(Some(2000));
        assert_eq!(
            store.worker_memory,
            Some(WorkerMemory {
                peak_bytes: 2000,
                runs: 2
            })
        );
        store.observe_worker_memory(Some(1000));
        assert_eq!(store.worker_memory.as_ref().unwrap().peak_bytes, 1700);
        // Round trip, and older stores without the field still load.
        let again = Store::from_json(&store.to_json()).unwrap();
        assert_eq!(again, store);
        let old = Store::from_json(&Store::default().to_json()).unwrap();
        assert_eq!(old.worker_memory, None);
        assert!(!Store::default().to_json().contains("worker_memory"));
    }

    #[test]
    fn ewma_and_forgetting() {
        let mut s = Store::default();
        s.observe_run([("a", 10.0), ("b", 1.0), ("b", 1.0)]);
        assert_eq!(s.tests["a"].seconds, 10.0);
        assert_eq!(s.tests["b"].seconds, 2.0);
        s.observe_run([("a", 20.0), ("b", f64::NAN)]);
        assert!((s.tests["a"].seconds - 13.0).abs() < 1e-9);
        assert_eq!(s.tests["a"].runs, 2);
        assert_eq!(s.tests["b"].missed, 1);
        for _ in 0..FORGET_AFTER_RUNS {
            s.observe_run([("a", 13.0)]);
        }
        assert!(!s.tests.contains_key("b"));
    }

    #[test]
    fn markers_and_keywords_are_optional_and_kept_until_seen_again() {
        let mut s = Store::default();
        s.observe_run([("a.py::t", 1.0), ("a.py::u", 1.0)]);
        assert!(!s.to_json().contains("markers"), "absent until recorded");
        let sel = Selectable {
            markers: vec!["slow".into()],
            keywords: vec!["a.py".into(), "slow".into(), "t".into()],
        };
        let id = "a.py::t".to_string();
        s.observe_selectables([(&id, &sel)]);
        s.observe_run([("a.py::t", 1.0)]);
        assert_eq!(s.tests["a.py::t"].selectable(), Some(sel.clone()));
        assert_eq!(s.tests["a.py::u"].selectable(), None);
        let json = s.to_json();
        assert!(json.contains("\"markers\": [\n        \"slow\""), "{json}");
        assert_eq!(Store::from_json(&json).unwrap(), s);
        // A test without markers is known to have none.
        let none = Selectable {
            markers: vec![],
            keywords: vec!["u".into()],
        };
        let id = "a.py::u".to_string();
        s.observe_selectables([(&id, &none)]);
        assert_eq!(s.tests["a.py::u"].selectable(), Some(none));
    }

    #[test]
    fn lines_are_optional_replaced_when_seen_and_reach_the_plan() {
        let mut s = Store::default();
        s.observe_run([("a.py::t", 1.0), ("a.py::u", 1.0)]);
        assert!(!s.to_json().contains("\"line\""), "absent until recorded");
        let (t, gone) = ("a.py::t".to_string(), "a.py::gone".to_string());
        s.observe_lines([(&t, 7), (&gone, 3)]);
        s.observe_lines([(&t, 9)]);
        assert_eq!(s.tests["a.py::t"].line, Some(9));
        assert!(
            !s.tests.contains_key("a.py::gone"),
            "only stored tests get a line"
        );
        let json = s.to_json();
        assert!(json.contains("\"line\": 9"), "{json}");
        assert_eq!(Store::from_json(&json).unwrap(), s);
        let lines = s.fixed_costs().lines;
        assert_eq!(lines, [("a.py::t".to_string(), 9)].into());
    }

    #[test]
    fn sniffing_never_cuts_a_character() {
        // Byte 512 falls inside an `é`.
        let text = format!("{{\"a{}\": 1}}", "é".repeat(400));
        assert!(!text.is_char_boundary(512));
        assert!(!looks_like_store(&text));
    }

    #[test]
    fn round_trip_and_version_check() {
        let mut s = Store::default();
        s.observe_run([("x.py::t", 0.5)]);
        let json = s.to_json();
        assert!(looks_like_store(&json));
        assert_eq!(Store::from_json(&json).unwrap(), s);
        let future = json.replace("\"version\": 2", "\"version\": 3");
        assert!(matches!(
            Store::from_json(&future),
            Err(StoreParseError::Version(3))
        ));
    }

    #[test]
    fn version_1_reads_and_upgrades_and_fixed_costs_are_learned() {
        let v1 = r#"{"format": "parallel-pytest-timings", "version": 1,
            "tests": {"a.py::t": {"seconds": 1.0, "runs": 1}}}"#;
        let mut s = Store::from_json(v1).unwrap();
        assert_eq!(s.version, 2);
        assert!(s.fixed_costs().is_empty());
        assert!(!s.to_json().contains("collection"));
        let shard = |w: u32, up: f64, files: &[(&str, f64)]| FixedCostObservation {
            workers: w,
            startup_seconds: up,
            collection: files.iter().map(|(f, s)| (f.to_string(), *s)).collect(),
        };
        let errors: BTreeMap<String, ShardError> =
            [("1/2".to_string(), ShardError::new(11.0, 10.0).unwrap())].into();
        s.observe_fixed_costs(
            &[
                shard(2, 2.0, &[("a.py", 1.0), ("b.py", 0.5)]),
                shard(2, 4.0, &[("a.py", 3.0)]),
            ],
            errors,
        );
        let costs = s.fixed_costs();
        assert_eq!(costs.startup_for(2), Some(3.0));
        assert_eq!(costs.startup_for(8), Some(3.0));
        assert_eq!(costs.collection["a.py"], 2.0);
        assert_eq!(s.shard_errors["1/2"].error_percent, 10.0);
        // EWMA like test durations; a file not collected again counts a missed run.
        s.observe_fixed_costs(&[shard(2, 13.0, &[("a.py", 12.0)])], BTreeMap::new());
        assert!((s.startup["2"].seconds - 6.0).abs() < 1e-9);
        assert!((s.collection["a.py"].seconds - 5.0).abs() < 1e-9);
        assert_eq!(s.collection["b.py"].missed, 1);
        assert_eq!(s.shard_errors.len(), 1, "kept when this run measured none");
        let again = Store::from_json(&s.to_json()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn provenance_is_optional_lenient_and_round_trips() {
        let plain = r#"{"format": "parallel-pytest-timings", "version": 2, "tests": {}}"#;
        assert_eq!(Store::from_json(plain).unwrap().provenance, None);
        let hostile = r#"{"format": "parallel-pytest-timings", "version": 2, "tests": {},
            "provenance": {"platform": "GitLab", "run_id": "7\u001b[2J", "commit": 5}}"#;
        let s = Store::from_json(hostile).unwrap();
        assert_eq!(s.provenance.as_ref().unwrap().platform, "GitLab");
        assert!(s.provenance.as_ref().unwrap().is_empty());
        let garbage = r#"{"format": "parallel-pytest-timings", "version": 2, "tests": {},
            "provenance": [1, 2]}"#;
        assert_eq!(Store::from_json(garbage).unwrap().provenance, None);
        let s = Store {
            provenance: Some(crate::timings::RunOrigin {
                platform: "GitLab".into(),
                run_id: Some(12),
                job_id: Some(34),
                commit: Some("9f86d081884c".into()),
                reference: Some("main".into()),
                date: Some("2026-12-03T09:41:07Z".into()),
            }),
            ..Store::default()
        };
        let text = s.to_json();
        assert!(text.contains(r#""job_id": 34"#), "{text}");
        assert_eq!(Store::from_json(&text).unwrap(), s);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(provenance_of(&path), s.provenance);
        std::fs::write(&path, r#"{"a::b": 1.0}"#).unwrap();
        assert_eq!(provenance_of(&path), None);
    }
}
