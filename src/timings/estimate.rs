//! Seconds for every planned unit, known or estimated (never free).
//!
//! The rule (also in the README):
//! - A test with a timing takes that many seconds, at least [`MIN_TEST_SECONDS`] (pytest's
//!   per-test overhead; JUnit rounds fast tests to 0).
//! - A test without a timing takes the **median of the known per-test durations** of the suite
//!   (or [`DEFAULT_TEST_SECONDS`] when nothing is known).
//! - Without `--collect` we do not know a file's tests, only the timed ones: a file with timed
//!   tests takes their sum; a file with none is estimated as *(number of `def test…` lines in
//!   the file, at least 1) × the median per-test duration*.
//! - With `--collect` every collected id is known to exist: timed ids take their time, the
//!   others the median.
//! - A timed test the user's `-k`/`-m` will deselect (`filtered`, decided from the markers and
//!   keywords a run stored) takes [`MIN_TEST_SECONDS`]: it still goes to a shard (pytest
//!   drops it there), but it weighs nothing in the balance and not in the median.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::node_id::file_part;

pub const MIN_TEST_SECONDS: f64 = 0.001;
const DEFAULT_TEST_SECONDS: f64 = 1.0;

/// One test inside a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestWork {
    pub id: String,
    pub seconds: f64,
    pub known: bool,
}

/// One test file with its (known or collected) tests.
#[derive(Debug, Clone, PartialEq)]
pub struct FileWork {
    pub path: String,
    /// Tests we know by id: timed ones (file mode) or every collected one (`--collect`).
    pub tests: Vec<TestWork>,
    /// Seconds of tests we cannot name (a file with no timing, without `--collect`).
    pub anonymous_seconds: f64,
    /// Whether `tests` lists every test of the file (`--collect`).
    pub complete: bool,
}

impl FileWork {
    pub fn seconds(&self) -> f64 {
        self.tests.iter().map(|t| t.seconds).sum::<f64>() + self.anonymous_seconds
    }
}

/// What the estimate rule did, for the plan output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EstimateSummary {
    /// Tests (with `--collect`) or files (without) that had no timing.
    pub unknown: u64,
    pub unknown_are_files: bool,
    pub median_test_seconds: f64,
    pub rule: String,
    /// Planned tests that have a timing.
    pub timed_tests: u64,
    /// Planned tests without one (without `--collect`: the `def test…` count of each file
    /// without timings, at least 1 per file).
    pub untimed_tests: u64,
}

impl EstimateSummary {
    /// Share of the planned tests that have a timing, 0.0 to 1.0 (0 when nothing is planned).
    pub fn coverage(&self) -> f64 {
        let all = self.timed_tests + self.untimed_tests;
        if all == 0 {
            0.0
        } else {
            self.timed_tests as f64 / all as f64
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    // Selection, not a full sort: linear time for a million timings.
    let n = v.len();
    let (below, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    Some(if n % 2 == 1 {
        mid
    } else {
        let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(mid);
        (lower + mid) / 2.0
    })
}

/// Counts `def test…` lines: a cheap, Python-free guess of how many tests a file holds.
fn count_test_functions(text: &str) -> u64 {
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("async ").map_or(l, str::trim_start);
            l.starts_with("def test")
        })
        .count() as u64
}

/// Builds per-file work. `collected`: node ids from `--collect` (then files come from them).
/// `tests` (seconds per node id) is taken by value so its ids move into the work list
/// instead of being copied: a million ids is a million allocations saved.
pub fn build(
    rootdir: &Path,
    files: &[String],
    collected: Option<&[String]>,
    tests: super::IdSeconds,
    filtered: &HashSet<String>,
) -> (Vec<FileWork>, EstimateSummary) {
    if collected.is_none() && filtered.is_empty() {
        // The common case (no `--collect`, no filter): no map, duplicates settled per file.
        return from_files(rootdir, files, tests.into_log(), Vec::new());
    }
    let mut tests = tests.into_map();
    let filtered_seconds: Vec<(String, f64)> = filtered
        .iter()
        .filter_map(|id| tests.swap_remove_entry(id))
        .collect();
    match collected {
        Some(ids) => from_collected(ids, &tests, filtered),
        None => {
            let log = tests.into_iter().map(|(id, s)| (id, Some(s))).collect();
            from_files(rootdir, files, log, filtered_seconds)
        }
    }
}

fn floor(seconds: f64) -> f64 {
    seconds.max(MIN_TEST_SECONDS)
}

/// With `--collect`: every collected id, timed or the median known test.
fn from_collected(
    ids: &[String],
    timed: &super::IdMap,
    filtered: &HashSet<String>,
) -> (Vec<FileWork>, EstimateSummary) {
    let known: Vec<f64> = ids.iter().filter_map(|id| timed.get(id).copied()).collect();
    let med = median(known).unwrap_or(DEFAULT_TEST_SECONDS);
    let mut by_file: BTreeMap<&str, Vec<TestWork>> = BTreeMap::new();
    let mut unknown = 0;
    for id in ids {
        let t = if filtered.contains(id) {
            Some(0.0)
        } else {
            timed.get(id).copied()
        };
        unknown += u64::from(t.is_none());
        by_file.entry(file_part(id)).or_default().push(TestWork {
            id: id.clone(),
            seconds: floor(t.unwrap_or(med)),
            known: t.is_some(),
        });
    }
    let work = by_file
        .into_iter()
        .map(|(path, mut tests)| {
            tests.sort_by(|a, b| a.id.cmp(&b.id));
            tests.dedup_by(|a, b| a.id == b.id);
            FileWork {
                path: path.to_owned(),
                tests,
                anonymous_seconds: 0.0,
                complete: true,
            }
        })
        .collect();
    let summary = EstimateSummary {
        timed_tests: (ids.len() as u64).saturating_sub(unknown),
        untimed_tests: unknown,
        unknown,
        unknown_are_files: false,
        median_test_seconds: med,
        rule: format!(
            "each collected test without a timing counts as the median known test ({med:.3} s)"
        ),
    };
    (work, summary)
}

/// Without `--collect`: each discovered file's timed tests; a file without any counts as its
/// `def test…` lines × the median known test. `timed` is every entry of the sources in order
/// (see [`super::IdSeconds`]): for each id its last entry counts, and a removal drops it.
fn from_files(
    rootdir: &Path,
    files: &[String],
    timed: Vec<(String, Option<f64>)>,
    filtered: Vec<(String, f64)>,
) -> (Vec<FileWork>, EstimateSummary) {
    let wanted: HashMap<&str, usize, rustc_hash::FxBuildHasher> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut tests: Vec<Vec<TestWork>> = vec![Vec::new(); files.len()];
    // Sources list a file's ids together: the previous id's file is the likely one.
    let mut last: Option<usize> = None;
    for (id, s) in timed {
        let file = file_part(&id);
        let slot = match last {
            Some(i) if files[i] == file => Some(i),
            _ => wanted.get(file).copied(),
        };
        if let Some(i) = slot {
            last = Some(i);
            // Raw seconds for now (NaN: removed); floored once duplicates are settled.
            tests[i].push(TestWork {
                id,
                seconds: s.unwrap_or(f64::NAN),
                known: true,
            });
        }
    }
    let mut known = Vec::with_capacity(tests.iter().map(Vec::len).sum());
    for file in &mut tests {
        // Stable: an id's entries stay in source order, so the last one is the one that counts.
        file.sort_by(|a, b| a.id.cmp(&b.id));
        keep_last_entry(file);
        for t in file.iter_mut() {
            known.push(t.seconds);
            t.seconds = floor(t.seconds);
        }
    }
    // Deselected tests are known (their file is not a guess) but free, and no part of the median.
    for (id, _) in filtered {
        if let Some(&i) = wanted.get(file_part(&id)) {
            tests[i].push(TestWork {
                id,
                seconds: floor(0.0),
                known: true,
            });
        }
    }
    let med = median(known).unwrap_or(DEFAULT_TEST_SECONDS);
    let mut unknown = 0;
    let mut untimed_tests = 0;
    let work: Vec<FileWork> = files
        .iter()
        .zip(tests)
        .map(|(path, mut tests)| {
            // Deselected tests came last; none shares an id with a timed one.
            tests.sort_by(|a, b| a.id.cmp(&b.id));
            let anonymous_seconds = if tests.is_empty() {
                unknown += 1;
                let count = fs_err::read_to_string(rootdir.join(path))
                    .map(|t| count_test_functions(&t))
                    .unwrap_or(0)
                    .max(1);
                untimed_tests += count;
                floor(med) * count as f64
            } else {
                0.0
            };
            FileWork {
                path: path.clone(),
                tests,
                anonymous_seconds,
                complete: false,
            }
        })
        .collect();
    let summary = EstimateSummary {
        timed_tests: work.iter().map(|f: &FileWork| f.tests.len() as u64).sum(),
        untimed_tests,
        unknown,
        unknown_are_files: true,
        median_test_seconds: med,
        rule: format!(
            "each file without timings counts as its `def test…` lines × the median known test ({med:.3} s)"
        ),
    };
    (work, summary)
}

/// Of each run of entries with one id (sorted, in source order within the run), keeps the last,
/// and drops it when that entry removed the id (NaN seconds).
fn keep_last_entry(tests: &mut Vec<TestWork>) {
    let mut kept = 0;
    for i in 0..tests.len() {
        if tests.get(i + 1).is_some_and(|next| next.id == tests[i].id) {
            continue;
        }
        if !tests[i].seconds.is_nan() {
            tests.swap(kept, i);
            kept += 1;
        }
    }
    tests.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timings::Timings;

    #[test]
    fn median_odd_even() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn counts_test_functions() {
        assert_eq!(
            count_test_functions(
                "def test_a():\n    pass\nasync def test_b():\n  def testing(): pass\ndef helper(): pass\n"
            ),
            3
        );
    }

    #[test]
    fn file_mode_sums_known_and_estimates_unknown() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("test_new.py"),
            "def test_1(): pass\ndef test_2(): pass\n",
        )
        .unwrap();
        let mut t = Timings::default();
        t.tests.insert("test_a.py::x".into(), 2.0);
        t.tests.insert("test_a.py::y".into(), 4.0);
        t.tests.insert("gone.py::z".into(), 100.0);
        let files = vec!["test_a.py".to_owned(), "test_new.py".to_owned()];
        let (work, summary) = build(d.path(), &files, None, t.tests.clone(), &HashSet::new());
        assert_eq!(work[0].seconds(), 6.0);
        assert_eq!(work[1].seconds(), 6.0); // 2 tests × median 3.0
        assert_eq!(summary.unknown, 1);
        assert_eq!((summary.timed_tests, summary.untimed_tests), (2, 2));
        assert_eq!(summary.coverage(), 0.5);
        // `y` deselected by the user's filter: free, and the median is `x` alone.
        let filtered = HashSet::from(["test_a.py::y".to_owned()]);
        let (work, _) = build(d.path(), &files, None, t.tests, &filtered);
        assert_eq!(work[0].seconds(), 2.0 + MIN_TEST_SECONDS);
        assert_eq!(work[0].tests.len(), 2, "still planned");
        assert_eq!(work[1].seconds(), 4.0);
    }

    /// Without a map in between, a later entry of an id still wins and a removal still drops
    /// it, whatever file order the entries come in: as the map (the filter path) says.
    #[test]
    fn file_mode_settles_duplicates_like_a_map() {
        let mut t = crate::timings::IdSeconds::default();
        t.insert("a.py::x".into(), 2.0);
        t.insert("b.py::z".into(), 7.0);
        t.insert("a.py::y".into(), 1.0);
        t.insert("a.py::x".into(), 5.0);
        t.remove("a.py::y".into());
        t.insert("b.py::w".into(), 1.0);
        t.remove("b.py::w".into());
        t.insert("b.py::w".into(), 3.0);
        let files = vec!["a.py".to_owned(), "b.py".to_owned()];
        let (work, summary) = build(Path::new("."), &files, None, t.clone(), &HashSet::new());
        let ids = |w: &FileWork| -> Vec<(String, f64)> {
            w.tests.iter().map(|t| (t.id.clone(), t.seconds)).collect()
        };
        assert_eq!(ids(&work[0]), vec![("a.py::x".to_owned(), 5.0)]);
        assert_eq!(
            ids(&work[1]),
            vec![("b.py::w".to_owned(), 3.0), ("b.py::z".to_owned(), 7.0)]
        );
        assert_eq!(summary.median_test_seconds, 5.0);
        // The map path (taken with a filter) agrees.
        let filtered = HashSet::from(["c.py::none".to_owned()]);
        let (by_map, by_map_summary) = build(Path::new("."), &files, None, t, &filtered);
        assert_eq!(by_map, work);
        assert_eq!(by_map_summary, summary);
    }

    #[test]
    fn collect_mode_uses_median_for_new_ids() {
        let mut t = Timings::default();
        t.tests.insert("a.py::x".into(), 1.0);
        t.tests.insert("a.py::y".into(), 0.0);
        let ids: Vec<String> = ["a.py::x", "a.py::y", "b.py::new"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (work, summary) = build(Path::new("."), &[], Some(&ids), t.tests, &HashSet::new());
        assert_eq!(work.len(), 2);
        assert_eq!(work[0].tests[1].seconds, MIN_TEST_SECONDS);
        assert_eq!(work[1].tests[0].seconds, 0.5);
        assert_eq!(summary.unknown, 1);
    }
}
