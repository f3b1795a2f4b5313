//! What a shard costs in wall time: **start-up + collection of its own files + its tests on
//! `W` workers**.
//!
//! - *Start-up*: everything a shard's pytest spends outside tests and test-file collection
//!   (interpreter, plugins, conftests, starting xdist workers, session teardown), learned per
//!   worker count by `report` into the timings store (`startup`); the nearest learned worker
//!   count stands in for one not seen yet. Without any: [`DEFAULT_STARTUP_SECONDS`] plus
//!   [`DEFAULT_STARTUP_PER_WORKER_SECONDS`] per xdist worker, and the prediction is marked
//!   estimated.
//! - *Collection*: under xdist every worker collects every file of its shard (in parallel with
//!   the other workers), so a shard pays each of its files' collection once in wall time, and a
//!   file split over `k` shards is paid `k` times. Learned per file (`collection`); a file not in
//!   the store takes the median learned file, or [`DEFAULT_COLLECT_SECONDS`] when nothing is
//!   learned (estimated).
//! - *Tests*: under `--dist load` (the default), the shard's tests replayed the way xdist's
//!   `LoadScheduling` hands them out ([`load_makespan`]): in pytest's collection order (files
//!   as `run` passes them, by path; tests by the line a run recorded, `FixedCosts::lines`,
//!   else by id), in shrinking chunks to the worker that comes free. Under `worksteal` the
//!   tests, and under `loadfile` / `loadscope` the items xdist keeps together (a file; a
//!   class, or a module's functions), go slowest first onto the least-loaded worker ([`lpt`]:
//!   an idle worker steals half of a busy one's queue; `loadscope` hands its larger scopes out
//!   first), which is close to how those come out. Seconds a file holds without naming its
//!   tests are spread evenly over the workers.
//!
//! Why a replay of `load` and not slowest first: `load` never reorders, so a slow test late in
//! the collection order lands on whichever worker comes free and often ends the shard alone.
//! Replaying each recorded shard of the 2026-12-03 real-suite runs (networkx N = 4 and 8,
//! sympy/solvers N = 8, W = 2; `scripts/replay-predictions.py`) with the run's *own* measured
//! durations, slowest first came out 0…34 % short of the measured tests phase (mean 12.8 %,
//! 39 shards) and this replay −12…+10 % (mean |error| 3.9 %, −3.3 % on average: per-test
//! overhead outside the durations). Predicting from the learned store, the sympy/solvers
//! shards went from −25…+1 % to −11…+1 %. What is left is mostly the durations themselves:
//! a shard's summed test durations moved −13…+38 % between two runs on the same machine.
//!
//! The partition weighs a file by its tests plus `W ×` its learned collection (each of the `W`
//! workers spends it), so a file with heavy imports is placed knowingly; defaults never move a
//! file (a plan without learned costs is the plan it always was).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::constraints::Dist;
use super::units::micros;
use crate::node_id::file_part;
use crate::timings::store::FixedCosts;
use crate::timings::{FileWork, TestWork};

/// Start-up of a plain pytest shard when nothing is learned (interpreter, pytest, plugins).
pub const DEFAULT_STARTUP_SECONDS: f64 = 1.0;
/// Added per xdist worker when nothing is learned (each is one more interpreter to start).
pub const DEFAULT_STARTUP_PER_WORKER_SECONDS: f64 = 0.5;
/// Collection of one test file when nothing is learned.
pub const DEFAULT_COLLECT_SECONDS: f64 = 0.02;

/// A shard's predicted wall and its parts (`plan --format json`: `shards[].cost`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardCost {
    pub startup_seconds: f64,
    /// Collection of the shard's files, each once (every worker collects them in parallel).
    pub collection_seconds: f64,
    /// The shard's tests on its workers, as the `--dist` mode hands them out.
    pub tests_seconds: f64,
    /// `startup + collection + tests`: what `report` compares with the measured wall.
    pub wall_seconds: f64,
    /// Some fixed cost came from the documented defaults, not from the store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// Fixed costs for one worker count, learned or defaulted.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    workers: u32,
    startup: f64,
    startup_learned: bool,
    collection: BTreeMap<String, f64>,
    /// For files the store does not know.
    unknown_collect: f64,
}

impl CostModel {
    pub fn new(fixed: &FixedCosts, workers: u32) -> CostModel {
        let workers = workers.max(1);
        let learned_startup = fixed.startup_for(workers);
        let mut known: Vec<f64> = fixed.collection.values().copied().collect();
        known.sort_by(f64::total_cmp);
        let unknown_collect = known
            .get(known.len() / 2)
            .copied()
            .unwrap_or(DEFAULT_COLLECT_SECONDS);
        CostModel {
            workers,
            startup: learned_startup.unwrap_or_else(|| default_startup(workers)),
            startup_learned: learned_startup.is_some(),
            collection: fixed.collection.clone(),
            unknown_collect,
        }
    }

    pub fn startup_seconds(&self) -> f64 {
        self.startup
    }

    fn collect(&self, file: &str) -> (f64, bool) {
        match self.collection.get(file) {
            Some(s) => (*s, true),
            None => (self.unknown_collect, false),
        }
    }

    /// What a unit holding `file` whole weighs in the partition besides its tests: `W ×` the
    /// file's collection when anything is learned, else nothing.
    pub fn partition_micros(&self, file: &str) -> u64 {
        if self.collection.is_empty() {
            return 0;
        }
        micros(self.collect(file).0) * u64::from(self.workers)
    }

    /// The predicted wall of a shard that runs `files` whole (minus `deselect`) and `node_ids`.
    /// An empty shard starts no pytest and costs nothing.
    pub fn shard(
        &self,
        files: &[String],
        node_ids: &[String],
        deselect: &[String],
        work: &Work<'_>,
    ) -> ShardCost {
        if files.is_empty() && node_ids.is_empty() {
            return ShardCost::default();
        }
        let mut collected: BTreeSet<&str> = files.iter().map(String::as_str).collect();
        collected.extend(node_ids.iter().map(|id| file_part(id)));
        let mut collection = 0.0;
        let mut all_learned = self.startup_learned;
        for f in &collected {
            let (s, learned) = self.collect(f);
            collection += s;
            all_learned &= learned;
        }
        let items = work.items(files, node_ids, deselect, self.workers);
        let tests = match work.dist {
            Dist::Free => load_makespan(&items, self.workers),
            Dist::WorkSteal | Dist::LoadFile | Dist::LoadScope => lpt(items, self.workers),
        } as f64
            / 1e6;
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        ShardCost {
            startup_seconds: round(self.startup),
            collection_seconds: round(collection),
            tests_seconds: round(tests),
            wall_seconds: round(self.startup + collection + tests),
            estimated: !all_learned,
        }
    }

    /// No plan's slowest shard is faster: start-up + all tests and every file's collection
    /// spread evenly over `N·W` workers, or the longest test.
    pub fn lower_bound(&self, work: &Work<'_>, shards: u32, longest_test: u64) -> f64 {
        let w = u64::from(self.workers);
        let collect: f64 = work.files.iter().map(|f| self.collect(&f.path).0).sum();
        let args: BTreeSet<&str> = work.node_args.iter().map(|(id, _)| file_part(id)).collect();
        let collect = collect + args.iter().map(|f| self.collect(f).0).sum::<f64>();
        let tests: u64 = work
            .files
            .iter()
            .map(|f| micros(f.seconds()))
            .chain(work.node_args.iter().map(|(_, s)| micros(*s)))
            .sum();
        let total = tests + micros(collect) * w;
        let spread = total
            .div_ceil(u64::from(shards.max(1)) * w)
            .max(longest_test);
        ((self.startup + spread as f64 / 1e6) * 1000.0).round() / 1000.0
    }
}

fn default_startup(workers: u32) -> f64 {
    let xdist_workers = if workers > 1 { workers } else { 0 };
    DEFAULT_STARTUP_SECONDS + DEFAULT_STARTUP_PER_WORKER_SECONDS * f64::from(xdist_workers)
}

/// The suite's work, to find a shard's tests by file and node id.
pub struct Work<'a> {
    pub files: &'a [FileWork],
    pub node_args: &'a [(String, f64)],
    pub dist: Dist,
    /// Hashed, not ordered: looked up once per file of every shard (100,000 on a big suite).
    by_path: HashMap<&'a str, &'a FileWork, rustc_hash::FxBuildHasher>,
    /// Where each test sits in its file, as a run recorded it (`FixedCosts::lines`).
    lines: Option<&'a HashMap<String, u64>>,
}

impl<'a> Work<'a> {
    pub fn new(files: &'a [FileWork], node_args: &'a [(String, f64)], dist: Dist) -> Work<'a> {
        Work {
            files,
            node_args,
            dist,
            by_path: files.iter().map(|f| (f.path.as_str(), f)).collect(),
            lines: None,
        }
    }

    /// Orders each file's tests by the lines a run recorded (else by id), as pytest collects
    /// them.
    pub fn with_lines(mut self, lines: &'a HashMap<String, u64>) -> Work<'a> {
        self.lines = Some(lines);
        self
    }

    /// The items xdist hands out for this selection, in microseconds: one per test (`load`,
    /// `worksteal`), in pytest's collection order, or one per file (`loadfile`) or class / module
    /// (`loadscope`), in no particular order.
    fn items(
        &self,
        files: &[String],
        node_ids: &[String],
        deselect: &[String],
        workers: u32,
    ) -> Vec<u64> {
        // (file, line, id, micros) of every test the shard runs.
        let mut tests: Vec<(&str, u64, &str, u64)> = Vec::new();
        let line = |id: &str| {
            self.lines
                .and_then(|l| l.get(id))
                .copied()
                .unwrap_or(u64::MAX)
        };
        let mut add = |id: &'a str, m: u64| tests.push((file_part(id), line(id), id, m));
        // Exact ids are looked up; only collector entries (a class, a parametrized group)
        // are matched by prefix, so a file split into thousands of ids stays linear.
        let exact: HashSet<&str> = deselect.iter().map(String::as_str).collect();
        let mut collectors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for d in deselect
            .iter()
            .filter(|d| d.ends_with("::") || d.ends_with('['))
        {
            collectors.entry(file_part(d)).or_default().push(d.as_str());
        }
        let mut anonymous: Vec<(&'a str, u64)> = Vec::new();
        for f in files {
            let Some(work) = self.by_path.get(f.as_str()) else {
                continue;
            };
            let here = collectors.get(f.as_str()).map_or(&[][..], Vec::as_slice);
            for t in &work.tests {
                let skipped = exact.contains(t.id.as_str())
                    || here.iter().any(|d| selects(d, &t.id))
                    || is_below_exact(&t.id, &exact);
                if !skipped {
                    add(&t.id, micros(t.seconds));
                }
            }
            // Seconds of tests the timings cannot name: spread over the workers.
            let m = micros(work.anonymous_seconds);
            if m > 0 {
                anonymous.push((work.path.as_str(), m));
            }
        }
        let args: HashMap<&str, (&'a str, f64)> = self
            .node_args
            .iter()
            .map(|(id, s)| (id.as_str(), (id.as_str(), *s)))
            .collect();
        let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for id in node_ids {
            if let Some((id, s)) = args.get(id.as_str()) {
                add(id, micros(*s));
            } else {
                by_file.entry(file_part(id)).or_default().push(id.as_str());
            }
        }
        for (file, ids) in by_file {
            let Some(work) = self.by_path.get(file) else {
                continue;
            };
            let tests: HashMap<&str, &'a TestWork> =
                work.tests.iter().map(|t| (t.id.as_str(), t)).collect();
            for id in ids {
                match tests.get(id) {
                    Some(t) => add(&t.id, micros(t.seconds)),
                    // A class or a parametrized group: every test under it.
                    None => {
                        for t in work.tests.iter().filter(|t| selects(id, &t.id)) {
                            add(&t.id, micros(t.seconds));
                        }
                    }
                }
            }
        }
        let w = u64::from(workers.max(1));
        for (file, m) in anonymous {
            for _ in 0..w {
                tests.push((file, u64::MAX, "", m / w));
            }
        }
        match self.dist {
            Dist::Free | Dist::WorkSteal => in_collection_order(tests),
            Dist::LoadFile | Dist::LoadScope => {
                let mut groups: BTreeMap<&str, u64> = BTreeMap::new();
                for (file, _, id, m) in tests {
                    let key = match (self.dist, id) {
                        (Dist::LoadScope, id) if !id.is_empty() => scope_of(id),
                        _ => file,
                    };
                    *groups.entry(key).or_default() += m;
                }
                groups.into_values().collect()
            }
        }
    }
}

/// The tests' durations in the order pytest collects them: files as `run` passes them (by
/// name at each level of the path), then by line in the file (tests no run has placed last),
/// then by id (the cases of one parametrized function share its line).
fn in_collection_order(tests: Vec<(&str, u64, &str, u64)>) -> Vec<u64> {
    let mut files: Vec<&str> = tests.iter().map(|t| t.0).collect();
    files.sort_unstable();
    files.dedup();
    files.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    let rank: HashMap<&str, usize> = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    // Ranked once per test, not per comparison (a shard may hold 100,000 tests).
    let mut ranked: Vec<(usize, u64, &str, u64)> = tests
        .into_iter()
        .map(|(file, line, id, m)| (rank[file], line, id, m))
        .collect();
    ranked.sort_unstable();
    ranked.into_iter().map(|t| t.3).collect()
}

/// Whether plan entry `entry` (an item id, `f.py::C::` for a class, `f.py::t[` for every case
/// of a parametrized function, or a collector id) selects test `id`.
fn selects(entry: &str, id: &str) -> bool {
    if entry.ends_with("::") || entry.ends_with('[') {
        return id.starts_with(entry);
    }
    id == entry
        || id
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with("::") || rest.starts_with('['))
}

/// Whether a collector id among `exact` (a class `f.py::C`, a function `f.py::t` of
/// parametrized cases) is above `id`: its ancestors are the id cut at each `::` or `[`.
fn is_below_exact(id: &str, exact: &HashSet<&str>) -> bool {
    if exact.is_empty() {
        return false;
    }
    id.match_indices("::")
        .map(|(i, _)| i)
        .chain(id.find('['))
        .any(|i| exact.contains(&id[..i]))
}

/// `--dist loadscope`'s scope: the class of a method, else the module.
fn scope_of(id: &str) -> &str {
    match id.rfind("::") {
        Some(i) if id[..i].contains("::") => &id[..i],
        _ => file_part(id),
    }
}

/// The makespan of `items` (in pytest's collection order) under pytest-xdist's `--dist load`
/// on `w` workers, replaying its `LoadScheduling` (xdist 3.x) without message latency:
/// - the first batch: each worker gets `max(2, n / w / 4)` consecutive items (one each,
///   round-robin, when `n < 2w`);
/// - a worker runs the first item it holds while it holds two or more (pytest needs the next
///   item to run teardowns), or the last one once told to shut down;
/// - when a worker finishes an item, the controller tops it up to `max(2, pending / w / 2)`
///   items from the front of the queue if it holds fewer than `max(2, pending / w / 4)` (not
///   after an item of 0.1 s or more while it still holds two), and shuts it down when nothing
///   is pending.
///
/// So the shard's tests go out in collection order in shrinking chunks: a slow test near the
/// end of the order lands on whichever worker comes free and can end the shard alone, where
/// slowest-first ([`lpt`]) would have run it first.
pub fn load_makespan(items: &[u64], w: u32) -> u64 {
    let (n, w) = (items.len(), w.max(1) as usize);
    if w == 1 || n == 0 {
        return items.iter().sum();
    }
    let mut next = 0; // items[next..] are pending at the controller
    let mut held: Vec<VecDeque<usize>> = vec![VecDeque::new(); w];
    let mut shut = vec![false; w];
    let mut running = vec![false; w];
    if n < 2 * w {
        for i in 0..n {
            held[i % w].push_back(i);
        }
        next = n;
    } else {
        let chunk = (n / w / 4).max(2);
        for q in &mut held {
            q.extend(next..next + chunk);
            next += chunk;
        }
    }
    if next == n {
        shut.fill(true);
    }
    // (end, worker): ties end in worker order, so the result never depends on the heap.
    let mut ends: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let start = |k: usize,
                 now: u64,
                 held: &[VecDeque<usize>],
                 running: &mut [bool],
                 shut: &[bool],
                 ends: &mut BinaryHeap<Reverse<(u64, usize)>>| {
        let q = &held[k];
        if !running[k] && (q.len() >= 2 || (shut[k] && !q.is_empty())) {
            running[k] = true;
            ends.push(Reverse((now + items[q[0]], k)));
        }
    };
    for k in 0..w {
        start(k, 0, &held, &mut running, &shut, &mut ends);
    }
    let mut makespan = 0;
    while let Some(Reverse((now, k))) = ends.pop() {
        makespan = now;
        running[k] = false;
        let done = held[k].pop_front().unwrap_or_default();
        if !shut[k] {
            if next < n {
                let pending = n - next;
                let (low, high) = ((pending / w / 4).max(2), (pending / w / 2).max(2));
                let len = held[k].len();
                let busy = items[done] >= 100_000 && len >= 2;
                if len < low && !busy {
                    let send = (high - len).min(pending);
                    held[k].extend(next..next + send);
                    next += send;
                }
            } else {
                shut[k] = true;
            }
        }
        for j in 0..w {
            start(j, now, &held, &mut running, &shut, &mut ends);
        }
    }
    makespan
}

/// Longest-processing-time-first makespan of `items` on `w` workers: how `loadfile` and
/// `loadscope` come out (they hand whole groups to the worker that comes free, larger groups
/// first by default), and the ideal the `load` scheduler falls short of.
pub fn lpt(mut items: Vec<u64>, w: u32) -> u64 {
    items.sort_unstable_by(|a, b| b.cmp(a));
    let mut heap: BinaryHeap<Reverse<u64>> = (0..w.max(1)).map(|_| Reverse(0)).collect();
    for m in items {
        if let Some(Reverse(load)) = heap.pop() {
            heap.push(Reverse(load + m));
        }
    }
    heap.into_iter().map(|Reverse(l)| l).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, seconds: &[f64]) -> FileWork {
        FileWork {
            path: path.into(),
            tests: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| TestWork {
                    id: format!("{path}::test_{i}"),
                    seconds: *s,
                    known: true,
                })
                .collect(),
            anonymous_seconds: 0.0,
            complete: false,
        }
    }

    #[test]
    fn lpt_schedules_slowest_first() {
        assert_eq!(lpt(vec![3, 3, 2, 2, 2], 2), 7);
        assert_eq!(lpt(vec![5, 1, 1], 2), 5);
        assert_eq!(lpt(vec![], 4), 0);
    }

    #[test]
    fn load_hands_out_chunks_in_collection_order() {
        // Fewer than 2 per worker: one each, round-robin (gw0: 5 + 1, gw1: 1).
        assert_eq!(load_makespan(&[5, 1, 1], 2), 6);
        // 8 items on 2 workers: first batch 2 each (8 / 2 / 4, at least 2), in order: gw0
        // [0, 1], gw1 [2, 3]. Each then holds 1 after every item and is topped up by one
        // (it holds fewer than 2): gw0 gets 4 and 6, gw1 5 and, at 2 s, the last one (8 s),
        // which it runs after item 5: 3 + 8 = 11. Slowest first would start it at 0: 8.
        let items = [1, 1, 1, 1, 1, 1, 1, 8];
        assert_eq!(load_makespan(&items, 2), 11);
        assert_eq!(lpt(items.to_vec(), 2), 8);
        // The slow test first: gw0 holds it and 1 s; gw1 runs the other six: 8 + 1 = 9.
        assert_eq!(load_makespan(&[8, 1, 1, 1, 1, 1, 1, 1], 2), 9);
        // One worker (no xdist) and no items.
        assert_eq!(load_makespan(&items, 1), 15);
        assert_eq!(load_makespan(&[], 2), 0);
    }

    #[test]
    fn load_replays_pytest_order_files_by_path_then_tests_by_line() {
        // b/z.py's slow test, last by id, sits first in the file; a/y.py comes before b/.
        let files = vec![
            file("b/z.py", &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 8.0]),
            file("a/y.py", &[1.0]),
        ];
        let model = CostModel::new(&FixedCosts::default(), 2);
        let shard = |work: &Work<'_>| {
            let picked = ["b/z.py".to_string(), "a/y.py".to_string()];
            model.shard(&picked, &[], &[], work).tests_seconds
        };
        // By id: a/y.py's test, then z's six 1 s tests, then the 8 s one last: 11 s.
        assert_eq!(shard(&Work::new(&files, &[], Dist::Free)), 11.0);
        // The recorded lines put the 8 s test first in z.py (second overall). gw0 runs it
        // from 1 s and, having been topped up, holds a 1 s test behind it: 1 + 8 + 1 = 10 s.
        let lines: HashMap<String, u64> = (0..7)
            .map(|i| (format!("b/z.py::test_{i}"), if i == 6 { 3 } else { 10 + i }))
            .collect();
        let work = Work::new(&files, &[], Dist::Free).with_lines(&lines);
        assert_eq!(shard(&work), 10.0);
    }

    #[test]
    fn a_shard_pays_start_up_and_each_of_its_files_once() {
        let files = vec![file("a.py", &[2.0, 2.0, 1.0]), file("b.py", &[1.0])];
        let work = Work::new(&files, &[], Dist::Free);
        let fixed = FixedCosts {
            collection: [("a.py".to_string(), 3.0), ("b.py".to_string(), 0.5)].into(),
            startup: [(2, 1.5)].into(),
            ..FixedCosts::default()
        };
        let model = CostModel::new(&fixed, 2);
        let whole = model.shard(&["a.py".into(), "b.py".into()], &[], &[], &work);
        assert_eq!(whole.startup_seconds, 1.5);
        assert_eq!(whole.collection_seconds, 3.5);
        // `load` hands out a.py's first two tests to gw0 and the rest to gw1 (2 + 2 against
        // 1 + 1), where slowest-first would have made 3.
        assert_eq!(whole.tests_seconds, 4.0);
        assert_eq!(whole.wall_seconds, 9.0);
        assert!(!whole.estimated);
        // A moved test makes its shard collect a.py too; the owner skips it.
        let moved = model.shard(&["b.py".into()], &["a.py::test_0".into()], &[], &work);
        assert_eq!(moved.collection_seconds, 3.5);
        assert_eq!(moved.tests_seconds, 2.0);
        let owner = model.shard(&["a.py".into()], &[], &["a.py::test_0".into()], &work);
        assert_eq!(owner.tests_seconds, 2.0);
        // Without learned costs: the defaults, marked estimated; an empty shard costs nothing.
        let guess =
            CostModel::new(&FixedCosts::default(), 2).shard(&["b.py".into()], &[], &[], &work);
        assert!(guess.estimated);
        assert_eq!(guess.startup_seconds, 2.0);
        assert_eq!(guess.collection_seconds, DEFAULT_COLLECT_SECONDS);
        assert_eq!(model.shard(&[], &[], &[], &work), ShardCost::default());
        assert_eq!(
            CostModel::new(&FixedCosts::default(), 2).partition_micros("a.py"),
            0
        );
        assert_eq!(model.partition_micros("a.py"), 6_000_000);
    }

    #[test]
    fn loadfile_keeps_a_file_on_one_worker() {
        let files = vec![file("a.py", &[1.0, 1.0, 1.0, 1.0])];
        let fixed = FixedCosts::default();
        let model = CostModel::new(&fixed, 2);
        let free = model.shard(
            &["a.py".into()],
            &[],
            &[],
            &Work::new(&files, &[], Dist::Free),
        );
        let held = model.shard(
            &["a.py".into()],
            &[],
            &[],
            &Work::new(&files, &[], Dist::LoadFile),
        );
        assert_eq!(free.tests_seconds, 2.0);
        assert_eq!(held.tests_seconds, 4.0);
        assert!(selects("a.py::C::", "a.py::C::test_x"));
        assert!(selects("a.py::t", "a.py::t[1]"));
        assert!(!selects("a.py::t", "a.py::t2"));
        assert_eq!(scope_of("a.py::C::test_x"), "a.py::C");
        assert_eq!(scope_of("a.py::test_x"), "a.py");
    }
}
