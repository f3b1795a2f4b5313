//! Planning constraints from how tests must be kept apart or together.
//!
//! - **`xdist_group`** means "same worker": a file using it is never split, and files sharing a
//!   group name form one bundle that lands on one shard (with `--dist loadgroup` xdist then keeps
//!   the group on one worker; other modes ignore the marker, and the bundle costs nothing).
//! - **`--dist loadfile`** keeps a file on one worker: heavy files are not split at all.
//!   **`--dist loadscope`** keeps a class (or the module-level tests of a file) on one worker:
//!   a heavy file is split only at class boundaries, its module-level tests stay together. Either
//!   way the plan says so in `notes`, so module/class-scoped fixtures are not silently rebuilt.
//! - **Serial tests** (the serial marker) run after the xdist phase, one at a time: their
//!   seconds are not divided by the worker count. The partition weighs them `× W`, so a shard's
//!   weight / W is its predicted time, and heavy serial files spread across shards like any
//!   heavy unit.
//!
//! With serial tests, the partition depends on `W`: shards that compute different worker counts
//! disagree, which the fingerprint (over the weighted units) makes visible. Give a fixed
//! `--workers` when shard machines differ.

use std::collections::{BTreeMap, BTreeSet};

use super::units::{Split, Unit, UnitKind};
use crate::node_id::{NodeId, file_part};
use crate::suite::markers::{self, Marks};
use crate::timings::FileWork;

/// The marker of tests that run after the xdist phase, one at a time, when none is configured.
/// The isolation plugin receives the resolved name; nothing else spells it.
pub const DEFAULT_SERIAL_MARKER: &str = "serial";

/// pytest-xdist's `--dist` modes, as far as planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dist {
    /// `load`, `loadgroup`, `no`, or anything else: tests are independent units.
    #[default]
    Free,
    /// `worksteal`: independent units too, but an idle worker takes half of a busy one's
    /// queue, so the shard's tests end about as balanced as slowest first would have them.
    WorkSteal,
    /// Class (or module-level tests) stay on one worker.
    LoadScope,
    /// A file stays on one worker.
    LoadFile,
}

impl Dist {
    pub fn parse(mode: Option<&str>) -> Dist {
        match mode.map(str::trim) {
            Some("loadscope") => Dist::LoadScope,
            Some("loadfile") => Dist::LoadFile,
            Some("worksteal") => Dist::WorkSteal,
            _ => Dist::Free,
        }
    }
}

/// The last `--dist MODE` / `--dist=MODE` in pytest's arguments (before a `--`): it wins
/// over ours on pytest's command line, so it must win for planning too.
pub fn dist_from_args(args: &[String]) -> Option<String> {
    let mut found = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        if arg == "--dist" {
            found = iter.next().cloned();
        } else if let Some(mode) = arg.strip_prefix("--dist=") {
            found = Some(mode.to_string());
        }
    }
    found
}

/// What the plan must respect, from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    pub dist: Dist,
    pub serial_marker: String,
    /// Markers per file known before planning: exact ones from `--collect` (the collection
    /// plugin's JSON), or those `build` read from the test files while the timings loaded
    /// (`scan_marks`); `None`: the planner reads the test files itself.
    pub collected: Option<BTreeMap<String, Marks>>,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            dist: Dist::Free,
            serial_marker: DEFAULT_SERIAL_MARKER.to_string(),
            collected: None,
        }
    }
}

/// The markers of each file of `paths` that has any, read from its text (`source`).
pub fn scan_marks<P: AsRef<str> + Sync>(
    paths: &[P],
    source: &(dyn Fn(&str) -> Option<String> + Sync),
    serial_marker: &str,
) -> BTreeMap<String, Marks> {
    let paths: Vec<&str> = paths.iter().map(AsRef::as_ref).collect();
    let scanned = markers::scan_all(&paths, source, serial_marker);
    paths
        .iter()
        .zip(scanned)
        .filter_map(|(path, m)| {
            m.filter(|m| *m != Marks::default())
                .map(|m| ((*path).to_owned(), m))
        })
        .collect()
}

/// The constraints applied to one plan's files: computed once, used by every candidate split.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    dist: Dist,
    workers: u64,
    /// Per file path: its marks (only files that have any).
    marks: BTreeMap<String, Marks>,
    /// File path → bundle id (files sharing an `xdist_group` name).
    bundle_of: BTreeMap<String, usize>,
    /// Bundles of files, for the plan's notes.
    notes: Vec<String>,
    /// Heavy files kept whole, noted while splits are tried.
    refused: std::cell::RefCell<BTreeSet<String>>,
}

impl Applied {
    /// Reads every file's markers. `source` returns a file's text (rootdir-relative path).
    pub fn new(
        files: &[FileWork],
        source: &(dyn Fn(&str) -> Option<String> + Sync),
        constraints: &Constraints,
        workers: u32,
    ) -> Applied {
        let mut marks = BTreeMap::new();
        match &constraints.collected {
            Some(collected) => marks.clone_from(collected),
            None => {
                let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
                marks = scan_marks(&paths, source, &constraints.serial_marker);
            }
        }
        // Union the files of each group name (files sorted: a deterministic bundle id).
        let mut bundle_of: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (path, m) in &marks {
            for g in &m.groups {
                by_group.entry(g.as_str()).or_default().push(path.as_str());
            }
        }
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        fn root<'a>(parent: &BTreeMap<&'a str, &'a str>, mut x: &'a str) -> &'a str {
            while let Some(&p) = parent.get(x) {
                if p == x {
                    break;
                }
                x = p;
            }
            x
        }
        for members in by_group.values() {
            for pair in members.windows(2) {
                let (a, b) = (root(&parent, pair[0]), root(&parent, pair[1]));
                if a != b {
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    parent.insert(hi, lo);
                    parent.entry(lo).or_insert(lo);
                }
            }
        }
        let mut roots: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for path in by_group.values().flatten() {
            roots.entry(root(&parent, path)).or_default().push(path);
        }
        let mut notes = Vec::new();
        for (id, members) in roots.values_mut().enumerate() {
            members.sort_unstable();
            members.dedup();
            if members.len() > 1 {
                notes.push(format!(
                    "xdist_group: {} stay on one shard",
                    members
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for m in members.iter() {
                bundle_of.insert((*m).to_string(), id);
            }
        }
        Applied {
            dist: constraints.dist,
            workers: u64::from(workers.max(1)),
            marks,
            bundle_of,
            notes,
            refused: Default::default(),
        }
    }

    /// Whether any constraint applies at all (so the planner can skip the work).
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty() && matches!(self.dist, Dist::Free | Dist::WorkSteal)
    }

    /// `split` of `file`, narrowed to what the constraints allow (`None`: keep it whole).
    /// `source`: the file's text, for the class check without `--collect`.
    pub fn allowed_split(
        &self,
        file: &FileWork,
        split: Option<Split>,
        source: Option<&str>,
    ) -> Option<Split> {
        let split = split?;
        if self.marks.get(&file.path).is_some_and(Marks::has_group) {
            self.note(format!(
                "`{}` is not split: it uses `xdist_group`, whose tests must share a worker",
                file.path
            ));
            return None;
        }
        match self.dist {
            Dist::Free | Dist::WorkSteal => Some(split),
            Dist::LoadFile => {
                self.note(format!(
                    "`{}` is not split: `--dist loadfile` runs a file on one worker",
                    file.path
                ));
                None
            }
            Dist::LoadScope => {
                let narrowed = class_split(file, source);
                if narrowed.is_none() {
                    self.note(format!(
                        "`{}` is not split: `--dist loadscope` keeps its module-level tests on \
                         one worker and it has no classes to move",
                        file.path
                    ));
                }
                narrowed
            }
        }
    }

    fn note(&self, note: String) {
        self.refused.borrow_mut().insert(note);
    }

    /// Notes for the plan: bundles first, then files kept whole, sorted (deterministic).
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        notes.extend(self.refused.borrow().iter().cloned());
        notes
    }

    /// Weighs serial tests `× W` and merges bundled files into one unit each.
    pub fn adjust(&self, files: &[FileWork], units: Vec<Unit>) -> Vec<Unit> {
        if self.marks.is_empty() {
            return units;
        }
        let by_path: BTreeMap<&str, &FileWork> =
            files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut out: Vec<Unit> = Vec::with_capacity(units.len());
        let mut bundles: BTreeMap<usize, Vec<Unit>> = BTreeMap::new();
        for mut unit in units {
            let path = file_part(&unit.key).to_owned();
            if let (Some(marks), Some(file)) = (self.marks.get(&path), by_path.get(path.as_str())) {
                let serial = serial_micros(&unit, file, marks);
                let extra = serial.saturating_mul(self.workers - 1);
                unit.micros = unit.micros.saturating_add(extra);
                // The serial phase runs its tests one after another.
                unit.longest = unit.longest.max(serial);
            }
            match (&unit.kind, self.bundle_of.get(&path)) {
                (UnitKind::File, Some(&id)) => bundles.entry(id).or_default().push(unit),
                _ => out.push(unit),
            }
        }
        for (_, members) in bundles {
            if members.len() == 1 {
                out.extend(members);
                continue;
            }
            let files: Vec<(String, u64)> =
                members.iter().map(|u| (u.key.clone(), u.micros)).collect();
            out.push(Unit {
                key: files[0].0.clone(),
                kind: UnitKind::Bundle { files },
                micros: members.iter().map(|u| u.micros).sum(),
                longest: members.iter().map(|u| u.longest).max().unwrap_or(0),
                tests: members.iter().map(|u| u.tests).sum(),
                family_member: false,
            });
        }
        out
    }
}

/// Microseconds of serial tests inside `unit` (a whole file, a remainder or moved tests).
fn serial_micros(unit: &Unit, file: &FileWork, marks: &Marks) -> u64 {
    let serial: Vec<(NodeId, u64)> = file
        .tests
        .iter()
        .filter(|t| marks.is_serial(&t.id))
        .map(|t| (NodeId::from(t.id.as_str()), super::units::micros(t.seconds)))
        .collect();
    let in_moved = |select: &[String], id: &NodeId| select.iter().any(|s| id.is_within(s));
    let anonymous = if marks.module_serial {
        super::units::micros(file.anonymous_seconds)
    } else {
        0
    };
    match &unit.kind {
        UnitKind::File | UnitKind::Bundle { .. } => {
            serial.iter().map(|(_, w)| w).sum::<u64>() + anonymous
        }
        UnitKind::Moved { select, .. } => serial
            .iter()
            .filter(|(id, _)| in_moved(select, id))
            .map(|(_, w)| w)
            .sum(),
        // What the moved units did not take. The remainder does not list its moved siblings,
        // so count its serial share as all serial tests minus none: an over-estimate only for
        // files with serial tests in moved classes, which is the safe side.
        UnitKind::Remainder => serial.iter().map(|(_, w)| w).sum::<u64>() + anonymous,
        UnitKind::NodeArg => 0,
    }
}

/// A split at class boundaries (`--dist loadscope`): each class whose tests we know moves
/// as a whole (its timed ids, selected there and skipped by the owner); module-level tests
/// and unknown ones stay with the file. Without `--collect` a class moves only if the file
/// still defines it at top level (a stale name would stop pytest with "not found"). `None`
/// when fewer than two parts result.
fn class_split(file: &FileWork, source: Option<&str>) -> Option<Split> {
    use super::units::{Rest, finish_split, micros};
    let path = &file.path;
    let mut classes: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    let anonymous = micros(file.anonymous_seconds);
    let mut rest = Rest {
        micros: anonymous,
        longest: 0,
        tests: 0,
    };
    for t in &file.tests {
        let w = micros(t.seconds);
        let class =
            t.id.strip_prefix(path.as_str())
                .and_then(|r| r.strip_prefix("::"))
                .and_then(|r| r.split_once("::"))
                .map(|(head, _)| head)
                .filter(|head| !head.contains('['))
                .filter(|head| {
                    file.complete || source.is_some_and(|s| markers::defines_class(s, head))
                });
        match class {
            Some(head) => classes.entry(head).or_default().push((t.id.as_str(), w)),
            None => rest.add([w]),
        }
    }
    let moved: Vec<Unit> = classes
        .into_iter()
        .map(|(head, tests)| {
            // Exact ids both ways: a test added to the class since the timings runs once, in
            // the owner, and no deselect reaches past the class.
            let ids: Vec<String> = tests.iter().map(|(id, _)| (*id).to_owned()).collect();
            Unit {
                key: format!("{path}::{head}"),
                kind: UnitKind::Moved {
                    select: ids.clone(),
                    deselect: ids,
                },
                micros: tests.iter().map(|(_, w)| w).sum(),
                longest: tests.iter().map(|(_, w)| *w).max().unwrap_or(0),
                tests: tests.len() as u64,
                family_member: false,
            }
        })
        .collect();
    finish_split(path, moved, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(path: &str, tests: &[(&str, f64)], complete: bool) -> FileWork {
        FileWork {
            path: path.to_string(),
            tests: tests
                .iter()
                .map(|(id, s)| crate::timings::estimate::TestWork {
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
    fn class_split_moves_whole_classes_and_keeps_module_tests_home() {
        let f = work(
            "t.py",
            &[
                ("TestA::test_1", 5.0),
                ("TestA::test_2", 5.0),
                ("TestB::test_1[x::y]", 3.0),
                ("test_mod[1]", 1.0),
                ("test_mod[2]", 1.0),
            ],
            true,
        );
        let split = class_split(&f, None).unwrap();
        assert_eq!(split.remainder.micros, 2_000_000);
        assert_eq!(split.remainder.tests, 2);
        let moved: Vec<_> = split
            .moved
            .iter()
            .map(|u| (&u.key, &u.kind, u.micros))
            .collect();
        assert_eq!(
            moved,
            [
                (
                    &"t.py::TestA".to_string(),
                    &UnitKind::Moved {
                        select: vec!["t.py::TestA::test_1".into(), "t.py::TestA::test_2".into()],
                        deselect: vec!["t.py::TestA::test_1".into(), "t.py::TestA::test_2".into()]
                    },
                    10_000_000
                ),
                (
                    &"t.py::TestB".to_string(),
                    &UnitKind::Moved {
                        select: vec!["t.py::TestB::test_1[x::y]".into()],
                        deselect: vec!["t.py::TestB::test_1[x::y]".into()]
                    },
                    3_000_000
                ),
            ]
        );
        // Without `--collect`, a class the file no longer defines cannot move.
        let f = FileWork {
            complete: false,
            ..f
        };
        let split = class_split(&f, Some("class TestA:\n    pass\n")).unwrap();
        assert_eq!(split.moved.len(), 1);
        assert_eq!(split.remainder.micros, 5_000_000);
        // Only module-level tests: nothing to move.
        let f = work("m.py", &[("test_a", 5.0), ("test_b", 5.0)], true);
        assert!(class_split(&f, None).is_none());
    }

    #[test]
    fn groups_bundle_files_and_serial_tests_weigh_w_times() {
        let files = vec![
            work("a.py", &[("test_a", 1.0)], true),
            work("b.py", &[("test_b", 2.0), ("test_s", 3.0)], true),
            work("c.py", &[("test_c", 4.0)], true),
            work("d.py", &[("test_d", 4.0)], true),
        ];
        let source = |path: &str| -> Option<String> {
            Some(match path {
                "a.py" => "@pytest.mark.xdist_group('db')\ndef test_a(): pass\n".into(),
                "b.py" => "@pytest.mark.xdist_group(name=\"db\")\ndef test_b(): pass\n\
                           @pytest.mark.serial\ndef test_s(): pass\n"
                    .into(),
                "c.py" => "@pytest.mark.xdist_group('other')\ndef test_c(): pass\n".into(),
                _ => "def test_d(): pass\n".into(),
            })
        };
        let applied = Applied::new(&files, &source, &Constraints::default(), 4);
        let units: Vec<Unit> = files.iter().map(super::super::units::whole_file).collect();
        let mut adjusted = applied.adjust(&files, units);
        adjusted.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(adjusted.len(), 3);
        let bundle = &adjusted[0];
        // 1 + 2 + 3 × 4 (the serial test counts fully on a 4-worker shard).
        assert_eq!(bundle.micros, 15_000_000);
        assert_eq!(
            bundle.kind,
            UnitKind::Bundle {
                files: vec![("a.py".into(), 1_000_000), ("b.py".into(), 14_000_000)]
            }
        );
        assert_eq!(adjusted[1].key, "c.py");
        assert_eq!(adjusted[1].micros, 4_000_000);
        assert_eq!(
            applied.notes(),
            ["xdist_group: `a.py`, `b.py` stay on one shard"]
        );
        // Files using a group are never split.
        let split = super::super::units::split_file(&files[1]);
        assert!(split.is_some());
        assert!(applied.allowed_split(&files[1], split, None).is_none());
        assert!(
            applied.notes().contains(
                &"`b.py` is not split: it uses `xdist_group`, whose tests must share a worker"
                    .to_string()
            )
        );
    }

    #[test]
    fn dist_comes_from_pytest_args_first() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            dist_from_args(&args(&["--dist", "loadfile", "-x"])).as_deref(),
            Some("loadfile")
        );
        assert_eq!(
            dist_from_args(&args(&["--dist=loadscope", "--dist=load"])).as_deref(),
            Some("load")
        );
        assert_eq!(dist_from_args(&args(&["--", "--dist=loadscope"])), None);
    }

    #[test]
    fn dist_modes() {
        assert_eq!(Dist::parse(Some("loadscope")), Dist::LoadScope);
        assert_eq!(Dist::parse(Some("loadfile")), Dist::LoadFile);
        assert_eq!(Dist::parse(Some("loadgroup")), Dist::Free);
        assert_eq!(Dist::parse(Some("worksteal")), Dist::WorkSteal);
        assert_eq!(Dist::parse(None), Dist::Free);
    }
}
