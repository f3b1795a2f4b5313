//! Property tests of the planner's invariants (DESIGN.md §4): every test runs exactly once —
//! including tests the timings do not know — under the selection plugin's rules (node ids as
//! pytest's arguments, deselects by exact id); the plan is the
//! same for any input order; nothing panics for N = 1, N > items, or zero durations.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::build::{PartitionInput, partition_plan};
use super::constraints::{Constraints, Dist};
use super::model::Plan;
use crate::timings::{FileWork, TestWork};

/// Names chosen to collide: prefixes (`test_a`/`test_a2`), classes sharing a prefix
/// (`TestK`/`TestKK`), parametrized ids whose brackets nest (`[1]`/`[10]`).
const NAMES: &[&str] = &[
    "test_a",
    "test_a2",
    "test_ab",
    "TestK::test_a",
    "TestK::test_b",
    "TestKK::test_a",
    "TestK::TestIn::test_c",
    "test_p[1]",
    "test_p[10]",
    "test_p[2]",
    "test_q[x-y]",
];

/// pytest: a node-id arg selects itself and everything below it.
fn arg_selects(arg: &str, id: &str) -> bool {
    crate::node_id::NodeId::from(id).is_within(arg)
}

/// How often each real test id runs when every shard's selection is handed to pytest.
fn simulate(plan: &Plan, real: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, u32> {
    let mut runs: BTreeMap<String, u32> = BTreeMap::new();
    for ids in real.values() {
        for id in ids {
            runs.insert(id.clone(), 0);
        }
    }
    for shard in &plan.shards {
        let mut selected: Vec<&String> = Vec::new();
        for f in &shard.files {
            selected.extend(real.get(f).into_iter().flatten());
        }
        for arg in &shard.node_ids {
            let file = arg.split("::").next().unwrap_or("");
            selected.extend(
                real.get(file)
                    .into_iter()
                    .flatten()
                    .filter(|id| arg_selects(arg, id)),
            );
        }
        selected.sort();
        selected.dedup(); // pytest collects an item once per session
        for id in selected {
            if !shard.deselect.iter().any(|d| id == d) {
                *runs.get_mut(id).unwrap() += 1;
            }
        }
    }
    runs
}

/// (name, milliseconds, known to the timings)
type GenTest = (String, u64, bool);
/// (planner input, real ids per file, file sources)
type Inputs = (
    Vec<FileWork>,
    BTreeMap<String, Vec<String>>,
    BTreeMap<String, String>,
);

#[derive(Debug, Clone)]
struct Suite {
    /// (file, [(name, millis, known)])
    files: Vec<(String, Vec<GenTest>)>,
}

fn suite_strategy() -> impl Strategy<Value = Suite> {
    let test = (
        0..NAMES.len(),
        prop_oneof![Just(0u64), 0..50u64, 0..5_000u64, 10_000..200_000u64],
        prop::bool::weighted(0.8),
    );
    let file = prop::collection::vec(test, 0..10);
    prop::collection::vec(file, 0..12).prop_map(|files| Suite {
        files: files
            .into_iter()
            .enumerate()
            .map(|(i, tests)| {
                let mut seen = std::collections::BTreeSet::new();
                let tests = tests
                    .into_iter()
                    .filter(|(n, _, _)| seen.insert(*n))
                    .map(|(n, ms, known)| (NAMES[n].to_owned(), ms, known))
                    .collect();
                (format!("tests/d{}/test_{i}.py", i % 3), tests)
            })
            .collect(),
    })
}

/// Builds planner input: with `collect`, every test is known by id (unknown ones estimated);
/// without, only `known` tests appear and the rest are the file's anonymous remainder.
fn inputs(suite: &Suite, collect: bool) -> Inputs {
    let mut work = Vec::new();
    let mut real = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for (path, tests) in &suite.files {
        let ids: Vec<String> = tests
            .iter()
            .map(|(n, _, _)| format!("{path}::{n}"))
            .collect();
        real.insert(path.clone(), ids);
        let mut src = String::new();
        for (n, _, _) in tests {
            let head = n.split("::").next().unwrap_or(n);
            let head = head.split('[').next().unwrap_or(head);
            let kw = if head.starts_with("Test") {
                "class"
            } else {
                "def"
            };
            src.push_str(&format!("{kw} {head}():\n    pass\n"));
        }
        sources.insert(path.clone(), src);
        let listed: Vec<TestWork> = tests
            .iter()
            .filter(|(_, _, known)| collect || *known)
            .map(|(n, ms, known)| TestWork {
                id: format!("{path}::{n}"),
                seconds: if *known { *ms as f64 / 1000.0 } else { 0.25 },
                known: *known,
            })
            .collect();
        let unknown = tests.iter().filter(|(_, _, k)| !k).count();
        work.push(FileWork {
            path: path.clone(),
            anonymous_seconds: if collect || !listed.is_empty() {
                0.0
            } else {
                0.25 * unknown.max(1) as f64
            },
            tests: listed,
            complete: collect,
        });
    }
    (work, real, sources)
}

fn plan_of(work: &[FileWork], sources: &BTreeMap<String, String>, n: u32, w: u32) -> Plan {
    plan_with(work, sources, n, w, Dist::Free)
}

/// With a `--dist` mode's constraints: `loadscope`/`loadfile` narrow the splits.
fn plan_with(
    work: &[FileWork],
    sources: &BTreeMap<String, String>,
    n: u32,
    w: u32,
    dist: Dist,
) -> Plan {
    let lookup = |p: &str| sources.get(p).cloned();
    partition_plan(&PartitionInput {
        files: work,
        node_args: &[],
        sources: &lookup,
        shards: n,
        workers: w,
        unknown_tests: 0,
        constraints: &Constraints {
            dist,
            ..Constraints::default()
        },
        fixed: &crate::timings::store::FixedCosts::default(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn every_test_runs_exactly_once(suite in suite_strategy(), n in 1u32..9, collect in any::<bool>(), dist in 0usize..3) {
        let (work, real, sources) = inputs(&suite, collect);
        let dist = [Dist::Free, Dist::LoadScope, Dist::LoadFile][dist];
        let plan = plan_with(&work, &sources, n, 2, dist);
        prop_assert_eq!(plan.shards.len(), n as usize);
        for (id, count) in simulate(&plan, &real) {
            prop_assert_eq!(count, 1, "{} ran {} times in {:#?}", id, count, plan);
        }
        match dist {
            Dist::LoadFile => prop_assert!(plan.shards.iter().all(|s| s.node_ids.is_empty())),
            // Only tests of classes move (module-level tests stay with their file).
            Dist::LoadScope => {
                for s in &plan.shards {
                    for d in s.deselect.iter().chain(&s.node_ids) {
                        prop_assert!(d.matches("::").count() >= 2, "{} in {:#?}", d, plan);
                    }
                }
            }
            Dist::Free | Dist::WorkSteal => {}
        }
        // Every file is in exactly one shard's `files` (its owner).
        let mut owners: BTreeMap<&str, u32> = BTreeMap::new();
        for s in &plan.shards {
            for f in &s.files { *owners.entry(f.as_str()).or_default() += 1; }
        }
        for (path, _) in &suite.files {
            prop_assert_eq!(owners.get(path.as_str()).copied(), Some(1), "{} owners", path);
        }
    }

    #[test]
    fn plan_is_identical_under_permutation(suite in suite_strategy(), n in 1u32..9, collect in any::<bool>(), seed in any::<u64>()) {
        let (work, _, sources) = inputs(&suite, collect);
        let plan = plan_of(&work, &sources, n, 3);
        let mut shuffled = work.clone();
        // A deterministic shuffle from the seed: files and tests inside them.
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        for i in (1..shuffled.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; shuffled.swap(i, j); }
        for f in &mut shuffled {
            for i in (1..f.tests.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; f.tests.swap(i, j); }
        }
        let again = plan_of(&shuffled, &sources, n, 3);
        prop_assert_eq!(plan, again);
    }

    #[test]
    fn no_panic_on_degenerate_inputs(files in 0usize..5, n in 1u32..70, w in 1u32..5) {
        let work: Vec<FileWork> = (0..files).map(|i| FileWork {
            path: format!("t{i}.py"),
            tests: vec![TestWork { id: format!("t{i}.py::test"), seconds: 0.0, known: true }],
            anonymous_seconds: 0.0,
            complete: i % 2 == 0,
        }).collect();
        let plan = plan_of(&work, &BTreeMap::new(), n, w);
        prop_assert_eq!(plan.shards.len(), n as usize);
        let placed: usize = plan.shards.iter().map(|s| s.files.len()).sum();
        prop_assert_eq!(placed, files);
        prop_assert!(plan.predicted_makespan_seconds >= plan.lower_bound_seconds - 1e-9);
    }
}
