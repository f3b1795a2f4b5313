//! `--launcher processes`: each shard runs `W` plain pytest processes (no xdist) instead of one
//! pytest with `W` xdist workers.
//!
//! The suite is planned as `N·W` sub-shards of one worker each, by the same partition (so the
//! same exactly-once guarantee, constraints and cost model, with the start-up and collection of
//! one plain process), and shard `i` (1-based) of `N` owns sub-shards `(i-1)·W+1 … i·W`. Every
//! shard job computes the same plan, so the grouping is deterministic; the fingerprint covers
//! the launcher and `W`, so shards that ran with different settings disagree visibly.
//!
//! Why plan per process rather than split a shard's selection afterwards: each process
//! collects only its own files, so the collection a file costs is paid once in the shard, and
//! the partition already weighs each process's start-up and collection (BENCHMARKS.md,
//! "Per-shard fixed cost": xdist makes every worker collect every file of the shard).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::{Plan, ShardPlan};

/// How a shard starts its workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Launcher {
    /// One pytest with `-n W` (pytest-xdist): dynamic balancing inside the shard.
    #[default]
    Xdist,
    /// `W` plain pytest processes, each with its own planned share of the shard.
    Processes,
}

impl Launcher {
    pub fn name(self) -> &'static str {
        match self {
            Launcher::Xdist => "xdist",
            Launcher::Processes => "processes",
        }
    }
}

impl std::fmt::Display for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Launcher {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "xdist" => Ok(Launcher::Xdist),
            "processes" => Ok(Launcher::Processes),
            other => Err(format!(
                "`{other}` is not a launcher: expected `xdist` or `processes`"
            )),
        }
    }
}

/// The sub-shard indexes (1-based, of `shards × per_shard`) that shard `index` owns.
pub fn sub_shards_of(index: u32, per_shard: u32) -> std::ops::RangeInclusive<u32> {
    let w = per_shard.max(1);
    (index - 1) * w + 1..=index * w
}

/// Folds a plan of `shards × per_shard` one-process sub-shards into `shards` shards, each
/// holding its processes in `ShardPlan::processes` and, on the shard itself, the union of their
/// selections (what the manifest records and `report` checks for lost tests).
pub fn group(sub: Plan, shards: u32, per_shard: u32) -> Plan {
    let w = per_shard.max(1);
    let mut subs = sub.shards.into_iter();
    let rows: Vec<ShardPlan> = (1..=shards)
        .map(|index| {
            let processes: Vec<ShardPlan> = subs
                .by_ref()
                .take(w as usize)
                .enumerate()
                .map(|(k, s)| ShardPlan {
                    index: k as u32 + 1,
                    workers: 1,
                    ..s
                })
                .collect();
            union(index, w, processes)
        })
        .collect();
    let fingerprint = fingerprint(&sub.fingerprint, w);
    Plan {
        fingerprint,
        shards_total: shards,
        shards: rows,
        ..sub
    }
}

/// One shard made of its processes.
fn union(index: u32, w: u32, processes: Vec<ShardPlan>) -> ShardPlan {
    let mut files: Vec<String> = Vec::new();
    let mut node_ids: Vec<String> = Vec::new();
    let mut deselect: Vec<String> = Vec::new();
    for p in &processes {
        files.extend(p.files.iter().cloned());
        node_ids.extend(p.node_ids.iter().cloned());
        deselect.extend(p.deselect.iter().cloned());
    }
    dedup_keep_order(&mut files);
    dedup_keep_order(&mut node_ids);
    // An id one process deselects because a sibling runs it is not deselected by the shard.
    let selected: std::collections::HashSet<&str> = node_ids.iter().map(String::as_str).collect();
    deselect.retain(|d| !selected.contains(d.as_str()));
    deselect.sort();
    deselect.dedup();
    let slowest = processes
        .iter()
        .max_by(|a, b| a.predicted_wall().total_cmp(&b.predicted_wall()));
    ShardPlan {
        index,
        predicted_seconds: processes
            .iter()
            .map(|p| p.predicted_seconds)
            .fold(0.0, f64::max),
        workers: w,
        files,
        node_ids,
        deselect,
        estimated: !processes.is_empty() && processes.iter().all(|p| p.estimated),
        cost: slowest.and_then(|p| p.cost.clone()),
        processes,
    }
}

fn dedup_keep_order(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

/// The sub-plan's fingerprint with the launcher and the processes per shard: two shard jobs
/// that ran different launchers or `W` made different plans, and must say so.
fn fingerprint(sub: &str, per_shard: u32) -> String {
    let mut h = Sha256::new();
    h.update(b"parallel-pytest launcher processes\n");
    h.update(sub.as_bytes());
    h.update(per_shard.to_le_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(index: u32, files: &[&str], ids: &[&str], deselect: &[&str], secs: f64) -> ShardPlan {
        ShardPlan {
            index,
            predicted_seconds: secs,
            workers: 1,
            files: files.iter().map(|s| s.to_string()).collect(),
            node_ids: ids.iter().map(|s| s.to_string()).collect(),
            deselect: deselect.iter().map(|s| s.to_string()).collect(),
            estimated: false,
            cost: None,
            processes: Vec::new(),
        }
    }

    fn plan(shards: Vec<ShardPlan>) -> Plan {
        Plan {
            version: "0".into(),
            fingerprint: "abc".into(),
            shards_total: shards.len() as u32,
            lower_bound_seconds: 0.0,
            predicted_makespan_seconds: 0.0,
            predicted_wall_seconds: None,
            lower_bound_wall_seconds: None,
            unknown_tests: 0,
            shards,
            notes: Vec::new(),
            timings_source: None,
        }
    }

    #[test]
    fn shard_i_owns_sub_shards_i_minus_1_times_w_plus_1_to_i_times_w() {
        assert_eq!(sub_shards_of(1, 2), 1..=2);
        assert_eq!(sub_shards_of(3, 2), 5..=6);
        assert_eq!(sub_shards_of(2, 3), 4..=6);
        assert_eq!(sub_shards_of(4, 1), 4..=4);
    }

    #[test]
    fn grouping_keeps_every_sub_shard_in_its_shard() {
        let p = plan(vec![
            sub(1, &["a.py"], &[], &["s.py::t1"], 3.0),
            sub(2, &["s.py"], &[], &[], 2.0),
            sub(3, &["b.py"], &["s.py::t1"], &[], 1.0),
            sub(4, &[], &[], &[], 0.0),
        ]);
        let g = group(p, 2, 2);
        assert_eq!(g.shards_total, 2);
        assert_eq!(g.shards.len(), 2);
        let (one, two) = (&g.shards[0], &g.shards[1]);
        assert_eq!((one.index, one.workers), (1, 2));
        assert_eq!(one.processes.len(), 2);
        assert_eq!(one.processes[1].files, vec!["s.py"]);
        assert_eq!(one.processes[1].index, 2);
        assert_eq!(one.files, vec!["a.py", "s.py"]);
        // `s.py::t1` runs in shard 2: shard 1 still deselects it.
        assert_eq!(one.deselect, vec!["s.py::t1"]);
        assert_eq!(one.predicted_seconds, 3.0);
        assert_eq!(two.node_ids, vec!["s.py::t1"]);
        assert!(two.processes[1].is_empty());
    }

    #[test]
    fn a_deselect_a_sibling_runs_is_not_the_shards() {
        let p = plan(vec![
            sub(1, &["s.py"], &[], &["s.py::t1"], 1.0),
            sub(2, &[], &["s.py::t1"], &[], 1.0),
        ]);
        let g = group(p, 1, 2);
        assert!(g.shards[0].deselect.is_empty());
        assert_eq!(g.shards[0].node_ids, vec!["s.py::t1"]);
    }

    #[test]
    fn the_fingerprint_covers_the_launcher_and_the_process_count() {
        let p = || {
            plan(vec![
                sub(1, &["a.py"], &[], &[], 1.0),
                sub(2, &[], &[], &[], 0.0),
            ])
        };
        let two = group(p(), 1, 2).fingerprint;
        assert_ne!(two, "abc", "differs from the same partition under xdist");
        assert_ne!(two, group(p(), 2, 1).fingerprint);
        assert_eq!(two, group(p(), 1, 2).fingerprint);
        assert_eq!(two.len(), 16);
    }

    proptest::proptest! {
        /// Whatever the sub-plan, every sub-shard lands in exactly one shard, in order, and
        /// each shard's union selects what its processes select.
        #[test]
        fn grouping_keeps_every_sub_shard_once(
            shards in 1u32..5,
            w in 1u32..4,
            sizes in proptest::collection::vec(0usize..4, 16),
        ) {
            let rows: Vec<ShardPlan> = (0..shards * w)
                .map(|i| {
                    let files: Vec<String> =
                        (0..sizes[i as usize % 16]).map(|f| format!("t{i}_{f}.py")).collect();
                    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
                    sub(i + 1, &refs, &[], &[], f64::from(i))
                })
                .collect();
            let g = group(plan(rows.clone()), shards, w);
            proptest::prop_assert_eq!(g.shards.len(), shards as usize);
            let flat: Vec<&ShardPlan> = g.shards.iter().flat_map(|s| &s.processes).collect();
            proptest::prop_assert_eq!(flat.len(), rows.len());
            for (i, s) in g.shards.iter().enumerate() {
                let owned = sub_shards_of(i as u32 + 1, w);
                for (p, n) in s.processes.iter().zip(owned) {
                    proptest::prop_assert_eq!(&p.files, &rows[n as usize - 1].files);
                }
                let union: Vec<&String> = s.processes.iter().flat_map(|p| &p.files).collect();
                proptest::prop_assert_eq!(union, s.files.iter().collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn launcher_names_parse() {
        assert_eq!("processes".parse(), Ok(Launcher::Processes));
        assert_eq!("xdist".parse(), Ok(Launcher::Xdist));
        assert!("forks".parse::<Launcher>().unwrap_err().contains("`forks`"));
    }
}
