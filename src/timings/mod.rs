//! How long do tests take? Import JUnit / `.test_durations` / our store, estimate unknowns.
//!
//! Sources (`--timings PATH`, repeatable; files, folders or globs) are recognised by content:
//! - JUnit XML (xunit1 or xunit2, also written by a pytest-xdist controller): one observation
//!   per `<testcase>`, named through [`crate::junit::node_id::NodeIdMapper`]; several
//!   testcases of one id in one file (pytest-rerunfailures attempts) are summed, because every
//!   attempt costs time in the next run too;
//! - pytest-split's `.test_durations`: `{"node id": seconds}`;
//! - our store (see [`store`]): `{"format": "parallel-pytest-timings", "version": 2, ...}`,
//!   which also carries learned fixed costs (collection per file, start-up per worker count)
//!   and which run wrote it ([`origin`]).
//!
//! When several sources name the same test, the later source wins. Without `--timings`,
//! `<root>/.parallel-pytest/timings.json` is used, else `<root>/.test_durations`, when present.
//! A negative, NaN or infinite duration is dropped with a warning and the test is estimated
//! like any unknown test (see [`estimate`]).

pub mod estimate;
pub mod origin;
pub mod sources;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::junit::node_id::NodeIdMapper;
pub use estimate::{FileWork, TestWork};

pub use origin::RunOrigin;
pub use store::{Selectable, Store, StoreEntry};

/// Default store path, relative to the project root.
pub const DEFAULT_STORE: &str = ".parallel-pytest/timings.json";
/// pytest-split's file, relative to the project root.
pub const TEST_DURATIONS: &str = ".test_durations";

#[derive(Debug, thiserror::Error)]
pub enum TimingsError {
    #[error("timings path `{0}` does not exist")]
    NotFound(String),
    #[error("timings glob `{pattern}` is invalid")]
    BadGlob {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("failed to read timings file `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write timings store `{path}`")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "timings file `{path}` is not JUnit XML, `.test_durations` or a parallel-pytest store: {reason}"
    )]
    Unrecognised { path: String, reason: &'static str },
    #[error("timings file `{path}` is not UTF-8 text")]
    NotUtf8 {
        path: String,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("timings file `{path}` is not valid JSON")]
    BadJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("timings file `{path}` is not valid JUnit XML")]
    BadJunit {
        path: String,
        #[source]
        source: crate::junit::reader::ReadError,
    },
    #[error("failed to read timings file `{path}`")]
    ReadJunit {
        path: String,
        #[source]
        source: crate::junit::reader::ReadError,
    },
    #[error(
        "timings store `{path}` has version {version}; this parallel-pytest reads versions 1 to {expected}"
    )]
    StoreVersion {
        path: String,
        version: u64,
        expected: u32,
    },
}

/// Where the plan's timings came from (the fallback chain's pick), for people and the JSON
/// contract (`timings_source` of the plan).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// `local` (the `--timings` sources or the default store: the CI cache), `base-store`
    /// (the base branch's cached store), `artifact` (the report artifact of an earlier run,
    /// fetched through the API), `committed` (a `.test_durations` in the repository) or
    /// `estimates` (nothing usable).
    pub kind: String,
    /// The file read, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Percent of the planned tests that have a timing.
    pub timed_percent: f64,
    /// The platform, branch, run (pipeline) id, job id, commit and date of the run it came
    /// from: from the API for `artifact`, filled in (or, for a cached or committed store, given
    /// entirely) by the store's own `provenance`. Vetted before it is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<serde_json::Value>,
}

/// Seconds per node id, deduplicated: the later entry of an id wins. Fx-hashed: a big suite's
/// plan may look up each of a million ids.
pub type IdMap = indexmap::IndexMap<String, f64, rustc_hash::FxBuildHasher>;

/// Seconds per node id as the sources list them, not yet deduplicated: every entry appended in
/// order, and a later entry of an id replaces an earlier one (a removal deletes it), as in a
/// map. Kept as a list because a map costs a hash insert per id, and on a million ids that
/// insert (a cache miss in a 9 MB table for each) was the plan's largest single cost; the plan
/// groups the ids by file anyway (sources list a file's ids together) and settles duplicates per
/// file ([`estimate::build`]). [`IdSeconds::into_map`] gives the map where lookups are needed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdSeconds {
    /// `None`: the id was removed (a bad value after a good one).
    log: Vec<(String, Option<f64>)>,
}

impl IdSeconds {
    pub fn insert(&mut self, id: String, seconds: f64) {
        self.log.push((id, Some(seconds)));
    }

    /// Forgets whatever an earlier entry said of `id`.
    pub fn remove(&mut self, id: String) {
        self.log.push((id, None));
    }

    pub fn reserve(&mut self, entries: usize) {
        self.log.reserve(entries);
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// `later`'s entries after these (they win over these).
    pub fn append(&mut self, mut later: IdSeconds) {
        if self.log.is_empty() {
            *self = later;
        } else {
            self.log.append(&mut later.log);
        }
    }

    /// The entries in order, duplicates and removals included (see [`IdSeconds::into_map`]).
    pub fn into_log(self) -> Vec<(String, Option<f64>)> {
        self.log
    }

    /// The ids with their seconds: for each id its last entry, unless that removed it.
    pub fn into_map(self) -> IdMap {
        let mut map = IdMap::with_capacity_and_hasher(self.log.len(), Default::default());
        for (id, seconds) in self.log {
            match seconds {
                Some(s) => {
                    map.insert(id, s);
                }
                None => {
                    map.swap_remove(&id);
                }
            }
        }
        map
    }

    /// Settles duplicates and removals now (see [`IdSeconds::into_map`]).
    pub fn dedup(&mut self) {
        let map = std::mem::take(self).into_map();
        self.log = map.into_iter().map(|(id, s)| (id, Some(s))).collect();
    }

    /// Every entry that gives seconds; without [`IdSeconds::dedup`] first, an id may come more
    /// than once.
    pub fn iter(&self) -> impl Iterator<Item = (&String, f64)> {
        self.log.iter().filter_map(|(id, s)| s.map(|s| (id, s)))
    }
}

/// Seconds per node id, from every source, with what went wrong on the way.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub tests: IdSeconds,
    /// Markers and keywords per node id, from our stores (the later source wins).
    pub selectable: HashMap<String, Selectable>,
    pub sources: Vec<PathBuf>,
    pub warnings: Vec<String>,
    /// Fixed costs learned by our stores among the sources (later sources win per key).
    pub fixed: store::FixedCosts,
}

impl Timings {
    /// Records one duration; bad values are dropped with a warning (the test is then estimated).
    fn insert_checked(&mut self, id: String, seconds: f64, source: &Path) {
        let id = crate::node_id::NodeId::new(id).into_string();
        if seconds.is_finite() && seconds >= 0.0 {
            self.tests.insert(id, seconds);
        } else {
            self.bad_value(&id, &seconds.to_string(), source);
        }
    }

    fn bad_value(&mut self, id: &str, shown: &str, source: &Path) {
        const MAX_SHOWN: usize = 5;
        let bad = self
            .warnings
            .iter()
            .filter(|w| w.starts_with("ignored duration"))
            .count();
        if bad < MAX_SHOWN {
            self.warnings.push(format!(
                "ignored duration `{shown}` of `{id}` in `{}` (not a non-negative number); the test is estimated instead",
                source.display()
            ));
        }
    }
}

/// The JUnit name mapper, built when a JUnit source needs it: building it for 100,000 files
/// is wasted on a plan whose timings are JSON.
pub type LazyMapper<'a> = std::cell::LazyCell<NodeIdMapper, Box<dyn FnOnce() -> NodeIdMapper + 'a>>;

/// A mapper built now, for callers that have one at hand.
pub fn mapper_now<'a>(mapper: NodeIdMapper) -> LazyMapper<'a> {
    std::cell::LazyCell::new(Box::new(move || mapper))
}

/// Reads every source in order; later sources override earlier ones per node id.
pub fn load(paths: &[PathBuf], mapper: &LazyMapper<'_>) -> Result<Timings, TimingsError> {
    let mut timings = Timings::default();
    for path in paths {
        sources::read_into(path, mapper, &mut timings)?;
        timings.sources.push(path.clone());
    }
    Ok(timings)
}
