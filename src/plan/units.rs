//! From files with timings to plannable units, and how a heavy file is split.
//!
//! A file is one unit unless it is split. A split file becomes one *remainder* unit (the
//! file itself: whatever stays, plus any tests unknown to the timings) and *moved* units,
//! one per test named in the timings, each run elsewhere by its node id and skipped by the
//! shard that owns the remainder (`deselect`). Every timed test can move, with or without
//! `--collect`: the selection plugin skips a moved id by exact match, so a test that is new
//! since the timings still runs once (in the owner), and a moved id that no longer exists is
//! simply not selected anywhere.
//!
//! Ids that extend one another (`test_a` / `test_a2`, `test_p[1]` / `test_p[10]`) form a
//! *family*: its members other than the root never run through the owner's file argument
//! (`build.rs`), so the plan stays correct also where a deselect is matched as a prefix.

use crate::timings::FileWork;

/// Microseconds: integer weights keep the partition exact and machine-independent.
pub fn micros(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e6).round().min(u64::MAX as f64 / 4.0) as u64
    } else {
        0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnitKind {
    /// A whole file (`files`).
    File,
    /// The owner part of a split file (`files`, with the moved units' prefixes in `deselect`).
    Remainder,
    /// Tests moved out of a split file: run as `select` ids, deselected by the owner as `deselect`.
    Moved {
        select: Vec<String>,
        deselect: Vec<String>,
    },
    /// An explicit node-id argument of the user (`node_ids`), never split.
    NodeArg,
    /// Whole files that must share a shard (an `xdist_group` across files; `constraints.rs`),
    /// with each file's weight.
    Bundle { files: Vec<(String, u64)> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The file path (or, for `NodeArg`, the node id); the canonical sort key with `kind`.
    pub key: String,
    pub kind: UnitKind,
    pub micros: u64,
    /// The longest single test inside, for the worker model.
    pub longest: u64,
    /// Tests named inside (for counts).
    pub tests: u64,
    /// A moved id that extends another id of its file (`test_a2` after `test_a`): another
    /// shard's deselect could reach it, so it must not run through its owner's file argument.
    pub family_member: bool,
}

impl Unit {
    /// One test moved to another shard by its exact node id (selected there, deselected here).
    fn single_test(id: &str, micros: u64, family_member: bool) -> Unit {
        Unit {
            key: id.to_owned(),
            kind: UnitKind::Moved {
                select: vec![id.to_owned()],
                deselect: vec![id.to_owned()],
            },
            micros,
            longest: micros,
            tests: 1,
            family_member,
        }
    }
}

/// A file's split, if any: moved groups with their weights, and what stays.
#[derive(Debug, Clone)]
pub struct Split {
    pub moved: Vec<Unit>,
    pub remainder: Unit,
}

/// How a file would be split; `None` when it cannot be (fewer than two parts).
pub fn split_file(file: &FileWork) -> Option<Split> {
    let anonymous = micros(file.anonymous_seconds);
    let mut rest = Rest {
        micros: anonymous,
        longest: anonymous,
        tests: 0,
    };
    let moved = split_by_id(file, &mut rest)?;
    finish_split(&file.path, moved, rest)
}

/// What stays with the file's owner.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rest {
    pub(super) micros: u64,
    pub(super) longest: u64,
    pub(super) tests: u64,
}

impl Rest {
    pub(super) fn add(&mut self, weights: impl IntoIterator<Item = u64>) {
        for w in weights {
            self.micros += w;
            self.longest = self.longest.max(w);
            self.tests += 1;
        }
    }
}

/// Every timed test can move on its own. The owner keeps one
/// *prefix-closed* group (ids that are prefixes of one another, `test_a`/`test_a2`: no id
/// outside it is a prefix of one inside, so no deselect can reach it); the smallest such
/// group, so the rest stays free to balance. A moved id that lands back on its owner's shard
/// is checked against the owner's deselects in `build.rs`. `None`: nothing to split.
fn split_by_id(file: &FileWork, rest: &mut Rest) -> Option<Vec<Unit>> {
    let mut ids: Vec<(&str, u64)> = file
        .tests
        .iter()
        .map(|t| (t.id.as_str(), micros(t.seconds)))
        .collect();
    ids.sort();
    ids.dedup_by(|a, b| a.0 == b.0);
    let mut groups: Vec<Vec<(&str, u64)>> = Vec::new();
    let mut stack: Vec<&str> = Vec::new();
    for (id, w) in ids {
        while stack.last().is_some_and(|p| !id.starts_with(p)) {
            stack.pop();
        }
        if stack.is_empty() {
            groups.push(Vec::new());
        }
        stack.push(id);
        if let Some(g) = groups.last_mut() {
            g.push((id, w));
        }
    }
    if groups.len() + groups.iter().map(|g| g.len() - 1).sum::<usize>() < 2 {
        return None;
    }
    if let [family] = groups.as_slice() {
        // One family (`test_a`, `test_a2`, ...): keep its root, move the rest (their deselects
        // cannot reach the root, which is a prefix of them, not the other way).
        *rest = Rest {
            micros: family[0].1,
            longest: family[0].1,
            tests: 1,
        };
        return Some(
            family[1..]
                .iter()
                .map(|(id, w)| Unit::single_test(id, *w, true))
                .collect(),
        );
    }
    let kept = groups
        .iter()
        .enumerate()
        .min_by_key(|(i, g)| (g.len(), g.iter().map(|(_, w)| *w).sum::<u64>(), *i))
        .map_or(0, |(i, _)| i);
    let mut moved = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if i == kept {
            rest.add(g.iter().map(|(_, w)| *w));
            continue;
        }
        for (k, (id, w)) in g.iter().enumerate() {
            moved.push(Unit::single_test(id, *w, k > 0));
        }
    }
    Some(moved)
}

/// The split, unless fewer than two parts result; the owner never keeps nothing.
pub(super) fn finish_split(path: &str, mut moved: Vec<Unit>, mut rest: Rest) -> Option<Split> {
    if moved.len() + usize::from(rest.micros > 0 || rest.tests > 0) < 2 {
        return None;
    }
    if rest.micros == 0 && rest.tests == 0 {
        // Nothing stays behind: the heaviest group becomes the owner's part, so the owner
        // never runs a file whose every test is deselected (pytest would exit 5).
        let heaviest = moved
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| a.micros.cmp(&b.micros).then_with(|| b.key.cmp(&a.key)))
            .map_or(0, |(i, _)| i);
        let kept = moved.remove(heaviest);
        rest = Rest {
            micros: kept.micros,
            longest: kept.longest,
            tests: kept.tests,
        };
    }
    Some(Split {
        moved,
        remainder: Unit {
            key: path.to_owned(),
            kind: UnitKind::Remainder,
            micros: rest.micros,
            longest: rest.longest,
            tests: rest.tests,
            family_member: false,
        },
    })
}

/// A file as one unit.
pub fn whole_file(file: &FileWork) -> Unit {
    let longest = file
        .tests
        .iter()
        .map(|t| micros(t.seconds))
        .max()
        .unwrap_or(0)
        .max(if file.tests.is_empty() {
            micros(file.anonymous_seconds)
        } else {
            0
        });
    Unit {
        key: file.path.clone(),
        kind: UnitKind::File,
        micros: micros(file.seconds()),
        longest,
        tests: file.tests.len() as u64,
        family_member: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timings::TestWork;

    fn work(path: &str, tests: &[(&str, f64)], complete: bool) -> FileWork {
        FileWork {
            path: path.into(),
            tests: tests
                .iter()
                .map(|(id, s)| TestWork {
                    id: format!("{path}::{id}"),
                    seconds: *s,
                    known: true,
                })
                .collect(),
            anonymous_seconds: 0.0,
            complete,
        }
    }

    #[test]
    fn collect_mode_keeps_a_prefix_closed_group_and_moves_single_ids() {
        let f = work(
            "t.py",
            &[
                ("test_a", 1.0),
                ("test_a2", 2.0),
                ("test_b", 3.0),
                ("test_c", 1.0),
            ],
            true,
        );
        let s = split_file(&f).unwrap();
        // The smallest group `test_c` (1 test, 1 s; `test_b` has 3 s) stays with the owner.
        assert_eq!(s.remainder.micros, 1_000_000);
        assert_eq!(s.remainder.tests, 1);
        let keys: Vec<&str> = s.moved.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, vec!["t.py::test_a", "t.py::test_a2", "t.py::test_b"]);
        assert_eq!(
            s.moved[1].kind,
            UnitKind::Moved {
                select: vec!["t.py::test_a2".into()],
                deselect: vec!["t.py::test_a2".into()],
            }
        );
        // A single family keeps its root.
        let f = work(
            "t.py",
            &[("test_a", 1.0), ("test_a2", 2.0), ("test_a3", 3.0)],
            true,
        );
        let s = split_file(&f).unwrap();
        assert_eq!(s.remainder.micros, 1_000_000);
        assert_eq!(s.moved.len(), 2);
    }

    #[test]
    fn without_collect_every_timed_test_moves_on_its_own() {
        let f = work(
            "t.py",
            &[
                ("TestA::test_x", 1.0),
                ("test_p[1]", 2.0),
                ("test_p[2]", 2.0),
                ("test_plain", 5.0),
                ("TestGone::test_z", 9.0),
            ],
            false,
        );
        let s = split_file(&f).unwrap();
        let keys: Vec<&str> = s.moved.iter().map(|u| u.key.as_str()).collect();
        // The lightest test stays with the owner; plain functions, parametrized cases and
        // class tests move by their exact ids, stale ones too (the plugin skips what is gone).
        assert_eq!(
            keys,
            vec![
                "t.py::TestGone::test_z",
                "t.py::test_p[1]",
                "t.py::test_p[2]",
                "t.py::test_plain"
            ]
        );
        assert_eq!(
            s.moved[3].kind,
            UnitKind::Moved {
                select: vec!["t.py::test_plain".into()],
                deselect: vec!["t.py::test_plain".into()],
            }
        );
        assert_eq!(s.remainder.micros, 1_000_000);
    }
}
