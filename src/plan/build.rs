//! The planner proper: units → partition → `Plan`, with heavy-file splitting and the worker model.
//!
//! **Worker model.** Each shard runs its tests on `W` pytest-xdist workers. Balancing weighs a
//! unit by its test seconds (plus `W ×` its files' learned collection, see `cost.rs`), so a
//! shard's load over `W` approximates its wall; the plan then predicts each shard's wall with
//! the cost model of `cost.rs` (start-up + collection of its own files + its tests slowest
//! first on `W` workers) and keeps `predicted_seconds` as `max(sum / W, longest single test)`
//! for plans read by older versions. Without learned collection the partition does not depend
//! on `W`; with it, shards that computed different worker counts can disagree (the
//! fingerprint check catches that).
//!
//! **Splitting.** Files start whole. A file heavier than a shard's fair share (`total / N`) is
//! split (see `units.rs`); while the plan is more than 1 % above the lower bound (computed with
//! every file split as far as it can be), files above half, a quarter, an eighth, a sixteenth of
//! the share, and finally all splittable files, are split too, keeping the best plan.
//! Splitting is avoided where not needed because module-scoped fixtures then run in several
//! shards.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::constraints::{Applied, Constraints};
use super::cost::{CostModel, Work};
use super::model::{Plan, ShardPlan};
use super::partition;
use super::units::{Split, Unit, UnitKind, micros, split_file, whole_file};
use crate::timings::FileWork;
use crate::timings::store::FixedCosts;

/// Planner input after discovery and timings.
#[derive(Clone)]
pub struct PartitionInput<'a> {
    pub files: &'a [FileWork],
    /// Explicit node-id args with their estimated seconds.
    pub node_args: &'a [(String, f64)],
    /// File texts for stale-name checks when splitting without `--collect`.
    pub sources: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub shards: u32,
    pub workers: u32,
    pub unknown_tests: u64,
    /// Serial marker and `--dist` mode.
    pub constraints: &'a Constraints,
    /// Fixed costs learned by the timings store (empty: the documented defaults).
    pub fixed: &'a FixedCosts,
}

/// The lower bound and the result in plan units.
struct Candidate {
    units: Vec<Unit>,
    assign: Vec<usize>,
    makespan: u64,
}

fn canonical(units: &mut [Unit]) {
    units.sort_by(|a, b| {
        b.micros
            .cmp(&a.micros)
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.kind.cmp(&b.kind))
    });
}

fn run(mut units: Vec<Unit>, n: usize, costs: &CostModel) -> Candidate {
    canonical(&mut units);
    let weights: Vec<u64> = units.iter().map(|u| u.micros).collect();
    let mut assign = partition::partition(&weights, n);
    if fix_prefix_conflicts(&units, &weights, n, &mut assign) {
        // Rebalance with the owners fixed: remainders stay, and a moved id that could be
        // reached by another id's deselect never goes back to its owner's shard.
        let owner = owners(&units, &assign);
        let family: Vec<Option<usize>> = units
            .iter()
            .map(|u| match &u.kind {
                UnitKind::Moved { .. } if u.family_member => {
                    owner.get(crate::node_id::file_part(&u.key)).copied()
                }
                _ => None,
            })
            .collect();
        let pinned: Vec<Option<usize>> = units
            .iter()
            .zip(&assign)
            .map(|(u, &b)| (u.kind == UnitKind::Remainder).then_some(b))
            .collect();
        let allowed = |i: usize, b: usize| pinned[i].is_none_or(|p| p == b) && family[i] != Some(b);
        partition::improve(&weights, n, &mut assign, &allowed);
    }
    let makespan = with_split_collection(&units, &assign, n, costs)
        .into_iter()
        .max()
        .unwrap_or(0);
    Candidate {
        units,
        assign,
        makespan,
    }
}

/// Per shard, its weight plus the collection of files it reaches only through moved tests or
/// node-id args: a split file is collected by every shard that runs a part of it, which the
/// units' weights (collection on the whole file or its remainder) do not show.
fn with_split_collection(
    units: &[Unit],
    assign: &[usize],
    n: usize,
    costs: &CostModel,
) -> Vec<u64> {
    let weights: Vec<u64> = units.iter().map(|u| u.micros).collect();
    let mut loads = partition::loads(&weights, n, assign);
    if costs.partition_micros("") == 0 {
        return loads;
    }
    let mut present: Vec<std::collections::BTreeSet<&str>> = vec![Default::default(); n];
    for (u, &b) in units.iter().zip(assign) {
        match &u.kind {
            UnitKind::File | UnitKind::Remainder => {
                present[b].insert(u.key.as_str());
            }
            UnitKind::Bundle { files } => present[b].extend(files.iter().map(|(f, _)| f.as_str())),
            UnitKind::Moved { .. } | UnitKind::NodeArg => {}
        }
    }
    for (u, &b) in units.iter().zip(assign) {
        if matches!(u.kind, UnitKind::Moved { .. } | UnitKind::NodeArg) {
            let file = crate::node_id::file_part(&u.key);
            if present[b].insert(file) {
                loads[b] += costs.partition_micros(file);
            }
        }
    }
    loads
}

/// Adds `W ×` each file's learned collection to the units that hold it whole (nothing when
/// nothing is learned).
fn add_collection(units: &mut [Unit], costs: &CostModel) {
    for u in units {
        let extra = match &u.kind {
            UnitKind::File | UnitKind::Remainder => costs.partition_micros(&u.key),
            UnitKind::Bundle { files } => {
                files.iter().map(|(f, _)| costs.partition_micros(f)).sum()
            }
            UnitKind::Moved { .. } | UnitKind::NodeArg => 0,
        };
        u.micros += extra;
    }
}

/// A moved unit that lands on its own file's owner shard simply runs there through the file
/// argument, unless one of the owner's `--deselect` prefixes (ids of the same file placed on
/// other shards) matches it: pytest would then drop it. Such units go to the least loaded other
/// shard instead, which adds their ids to the owner's deselects; repeat until none is left.
/// Returns whether anything moved.
fn fix_prefix_conflicts(units: &[Unit], weights: &[u64], n: usize, assign: &mut [usize]) -> bool {
    if n < 2 {
        return false;
    }
    let owner = owners(units, assign);
    let mut changed = false;
    // Moved units per split file, in canonical order.
    let mut by_file: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, u) in units.iter().enumerate() {
        if matches!(u.kind, UnitKind::Moved { .. }) {
            by_file
                .entry(crate::node_id::file_part(&u.key))
                .or_default()
                .push(i);
        }
    }
    let mut loads = partition::loads(weights, n, assign);
    for (file, members) in by_file {
        let Some(&o) = owner.get(file) else { continue };
        loop {
            let deselected: Vec<&str> = members
                .iter()
                .filter(|&&i| assign[i] != o)
                .filter_map(|&i| match &units[i].kind {
                    UnitKind::Moved { deselect, .. } => Some(deselect.iter().map(String::as_str)),
                    _ => None,
                })
                .flatten()
                .collect();
            let conflicts: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| assign[i] == o)
                .filter(|&i| match &units[i].kind {
                    UnitKind::Moved { select, .. } => select
                        .iter()
                        .any(|id| deselected.iter().any(|d| id.starts_with(d))),
                    _ => false,
                })
                .collect();
            if conflicts.is_empty() {
                break;
            }
            changed = true;
            for i in conflicts {
                let to = (0..n)
                    .filter(|&b| b != o)
                    .min_by_key(|&b| (loads[b], b))
                    .unwrap_or(o);
                loads[o] -= weights[i];
                loads[to] += weights[i];
                assign[i] = to;
            }
        }
    }
    changed
}

/// The shard owning each split file (where its remainder unit is).
fn owners<'u>(units: &'u [Unit], assign: &[usize]) -> BTreeMap<&'u str, usize> {
    units
        .iter()
        .zip(assign)
        .filter(|(u, _)| u.kind == UnitKind::Remainder)
        .map(|(u, &b)| (u.key.as_str(), b))
        .collect()
}

fn seconds(micros: u64) -> f64 {
    round3(micros as f64 / 1e6)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Builds the whole plan for `input.shards` shards.
pub fn partition_plan(input: &PartitionInput<'_>) -> Plan {
    let n = input.shards.max(1) as usize;
    let w = u64::from(input.workers.max(1));
    let applied = Applied::new(input.files, input.sources, input.constraints, input.workers);
    let costs = CostModel::new(input.fixed, input.workers);
    let base = base_units(input);
    let mut adjusted = applied.adjust(input.files, base.clone());
    add_collection(&mut adjusted, &costs);
    let total: u64 = adjusted.iter().map(|u| u.micros).sum();
    let share = total / n as u64;

    // Splits are computed lazily, once per file, and only for files above the threshold.
    let mut splits: BTreeMap<usize, Option<Split>> = BTreeMap::new();
    let mut split_of = |i: usize| -> Option<Split> {
        splits
            .entry(i)
            .or_insert_with(|| {
                let f = &input.files[i];
                let src = if f.complete {
                    None
                } else {
                    (input.sources)(&f.path)
                };
                applied.allowed_split(f, split_file(f), src.as_deref())
            })
            .clone()
    };
    let units_at = |threshold: u64, split_of: &mut dyn FnMut(usize) -> Option<Split>| {
        let mut units = Vec::with_capacity(base.len());
        for (i, u) in base.iter().enumerate() {
            if u.kind == UnitKind::File && n > 1 && u.micros > threshold {
                if let Some(s) = split_of(i) {
                    units.extend(s.moved);
                    units.push(s.remainder);
                    continue;
                }
            }
            units.push(u.clone());
        }
        let mut units = applied.adjust(input.files, units);
        add_collection(&mut units, &costs);
        units
    };

    // The heaviest unit at the finest split that can matter: only a file above the fair share
    // can raise the bound above `total / n` (bundles and serial weights included).
    let finest_units = units_at(share, &mut split_of);
    let heaviest = finest_units
        .iter()
        .max_by(|a, b| a.micros.cmp(&b.micros).then_with(|| b.key.cmp(&a.key)));
    let finest = heaviest.map_or(0, |u| u.micros);
    let longest_test = finest_units.iter().map(|u| u.longest).max().unwrap_or(0);
    let lower_units = total.div_ceil(n as u64).max(finest);
    let good_enough = lower_units + lower_units / 100;
    let bound = Bound {
        total,
        longest_test,
        held: heaviest.map(|u| (u.micros, held_by(u))),
    };

    let mut best = run(units_at(u64::MAX, &mut split_of), n, &costs);
    // Thresholds: the fair share, halved four times, then every file that can be split.
    let thresholds = [share, share / 2, share / 4, share / 8, share / 16, 0];
    for threshold in thresholds {
        if best.makespan <= good_enough {
            break;
        }
        let candidate = run(units_at(threshold, &mut split_of), n, &costs);
        if candidate.makespan < best.makespan {
            best = candidate;
        }
    }
    let mut plan = assemble(&best, input, n, w, &bound);
    let work = Work::new(input.files, input.node_args, input.constraints.dist)
        .with_lines(&input.fixed.lines);
    // Each shard's cost is its own: on a big suite (a million tests to schedule) they are
    // worked out on a few threads, each shard's result the same whichever thread computes it.
    let tests: usize = input.files.iter().map(|f| f.tests.len()).sum();
    let threads = if tests < 50_000 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |t| t.get().min(8))
    };
    let chunk = plan.shards.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in plan.shards.chunks_mut(chunk) {
            let (costs, work) = (&costs, &work);
            scope.spawn(move || {
                for shard in part {
                    shard.cost =
                        Some(costs.shard(&shard.files, &shard.node_ids, &shard.deselect, work));
                }
            });
        }
    });
    plan.predicted_wall_seconds = Some(
        plan.shards
            .iter()
            .filter_map(|s| s.cost.as_ref().map(|c| c.wall_seconds))
            .fold(0.0, f64::max),
    );
    plan.lower_bound_wall_seconds = Some(costs.lower_bound(&work, n as u32, longest_test));
    plan.notes = applied.notes();
    plan.notes.extend(bound.note(n as u64, w));
    plan
}

/// The true lower bound, `max(total / (N·W), longest single test)`, and the unit that a
/// constraint keeps whole, which may hold the plan above it.
struct Bound {
    total: u64,
    longest_test: u64,
    /// The heaviest unit at the finest allowed split and what keeps it whole.
    held: Option<(u64, String)>,
}

impl Bound {
    fn true_bound(&self, n: u64, w: u64) -> u64 {
        self.total.div_ceil(n * w).max(self.longest_test)
    }

    /// What no plan can beat given the constraints: a unit kept whole runs on one shard.
    fn constrained(&self, n: u64, w: u64) -> u64 {
        let held = self.held.as_ref().map_or(0, |(m, _)| m.div_ceil(w));
        self.true_bound(n, w).max(held)
    }

    /// Says which unit keeps the plan above the true bound, and by how much (over 1 %).
    fn note(&self, n: u64, w: u64) -> Option<String> {
        let (bound, floor) = (self.true_bound(n, w), self.constrained(n, w));
        let (_, what) = self.held.as_ref()?;
        (floor > bound + bound / 100).then(|| {
            format!(
                "{what} cannot be split further: no plan goes below {:.1} s, {:.1} s above the \
                 lower bound of {:.1} s",
                seconds(floor),
                seconds(floor - bound),
                seconds(bound)
            )
        })
    }
}

/// Names a unit and the constraint that keeps it whole.
fn held_by(u: &Unit) -> String {
    let file = crate::node_id::file_part(&u.key);
    match &u.kind {
        UnitKind::Bundle { files } => format!(
            "the `xdist_group` bundle {}",
            files
                .iter()
                .map(|(f, _)| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        UnitKind::File => format!("`{file}` (kept whole)"),
        UnitKind::Remainder => format!(
            "what stays with `{file}` (tests the timings do not name, or its module-level tests \
             under `--dist loadscope`)"
        ),
        UnitKind::Moved { .. } => format!("class `{}` (`--dist loadscope`)", u.key),
        UnitKind::NodeArg => format!("the node id `{}`", u.key),
    }
}

/// Every file whole, then every explicit node-id arg.
fn base_units(input: &PartitionInput<'_>) -> Vec<Unit> {
    let mut base: Vec<Unit> = input.files.iter().map(whole_file).collect();
    base.extend(input.node_args.iter().map(|(id, s)| Unit {
        key: id.clone(),
        kind: UnitKind::NodeArg,
        micros: micros(*s),
        longest: micros(*s),
        tests: 1,
        family_member: false,
    }));
    base
}

fn assemble(best: &Candidate, input: &PartitionInput<'_>, n: usize, w: u64, bound: &Bound) -> Plan {
    let shards: Vec<ShardPlan> = accumulate(best, n)
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.into_shard(i as u32 + 1, w))
        .collect();
    let lower = bound.true_bound(n as u64, w);
    let makespan = shards
        .iter()
        .map(|s| s.predicted_seconds)
        .fold(0.0, f64::max);
    let mut plan = Plan {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        fingerprint: String::new(),
        shards_total: n as u32,
        lower_bound_seconds: seconds(lower),
        predicted_makespan_seconds: makespan,
        predicted_wall_seconds: None,
        lower_bound_wall_seconds: None,
        unknown_tests: input.unknown_tests,
        shards,
        notes: Vec::new(),
        timings_source: None,
    };
    plan.fingerprint = fingerprint(&best.units, &plan);
    plan
}

/// One shard's selection while the units are laid out, with the weights that order it.
#[derive(Default)]
struct Acc {
    micros: u64,
    longest: u64,
    files: Vec<(u64, String)>,
    node_ids: Vec<(u64, String)>,
    deselect: Vec<String>,
    /// Moved units that landed on their own owner: their weight joins the file.
    merged: BTreeMap<String, u64>,
}

/// Lays every unit of `best` onto its shard; a moved unit away from its owner adds the
/// owner's deselects.
fn accumulate(best: &Candidate, n: usize) -> Vec<Acc> {
    // Owner shard of every split file.
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (u, &b) in best.units.iter().zip(&best.assign) {
        if u.kind == UnitKind::Remainder {
            owner.insert(u.key.as_str(), b);
        }
    }
    let mut acc: Vec<Acc> = (0..n).map(|_| Acc::default()).collect();
    let mut deselects: Vec<(usize, String)> = Vec::new();
    for (u, &b) in best.units.iter().zip(&best.assign) {
        let a = &mut acc[b];
        a.micros += u.micros;
        a.longest = a.longest.max(u.longest);
        match &u.kind {
            UnitKind::File | UnitKind::Remainder => a.files.push((u.micros, u.key.clone())),
            UnitKind::NodeArg => a.node_ids.push((u.micros, u.key.clone())),
            UnitKind::Bundle { files } => {
                a.files.extend(files.iter().map(|(f, w)| (*w, f.clone())))
            }
            UnitKind::Moved { select, deselect } => {
                let file = crate::node_id::file_part(&u.key);
                match owner.get(file) {
                    Some(&o) if o == b => {
                        *a.merged.entry(file.to_owned()).or_insert(0) += u.micros;
                    }
                    owned => {
                        // No owner cannot happen (a split file's remainder is always a unit);
                        // running the ids by node id would still run every test once.
                        let per = u.micros / select.len().max(1) as u64;
                        a.node_ids.extend(select.iter().map(|s| (per, s.clone())));
                        if let Some(&o) = owned {
                            deselects.extend(deselect.iter().map(|d| (o, d.clone())));
                        }
                    }
                }
            }
        }
    }
    for (o, d) in deselects {
        acc[o].deselect.push(d);
    }
    acc
}

impl Acc {
    /// The shard row: heaviest files and ids first (ties by name), deselects sorted.
    fn into_shard(mut self, index: u32, w: u64) -> ShardPlan {
        for (weight, file) in self.files.iter_mut() {
            if let Some(extra) = self.merged.get(file.as_str()) {
                *weight += extra;
            }
        }
        let by_weight =
            |x: &(u64, String), y: &(u64, String)| y.0.cmp(&x.0).then_with(|| x.1.cmp(&y.1));
        self.files.sort_by(by_weight);
        self.node_ids.sort_by(by_weight);
        self.deselect.sort();
        self.deselect.dedup();
        let predicted = (self.micros.div_ceil(w)).max(self.longest);
        ShardPlan {
            index,
            predicted_seconds: seconds(predicted),
            workers: w as u32,
            files: self.files.into_iter().map(|(_, f)| f).collect(),
            node_ids: self.node_ids.into_iter().map(|(_, f)| f).collect(),
            deselect: self.deselect,
            // Set by `mark_estimated` once the plan is chosen.
            estimated: false,
            // Set by `partition_plan` once the selection is known.
            cost: None,
            processes: Vec::new(),
        }
    }
}

/// sha256 over the canonical units (key, kind, weight) and every shard's selection. The worker
/// count and predicted seconds are left out on purpose (see the module docs).
fn fingerprint(units: &[Unit], plan: &Plan) -> String {
    let mut h = Sha256::new();
    h.update(b"parallel-pytest plan v1\n");
    h.update(plan.shards_total.to_le_bytes());
    for u in units {
        h.update(u.key.as_bytes());
        h.update([0]);
        // The kind's `Debug` text (the fingerprint's bytes since v1), without formatting the
        // 100,000 plain files of a big suite.
        match &u.kind {
            UnitKind::File => h.update(b"File"),
            UnitKind::Remainder => h.update(b"Remainder"),
            UnitKind::NodeArg => h.update(b"NodeArg"),
            kind => h.update(format!("{kind:?}").as_bytes()),
        }
        h.update(u.micros.to_le_bytes());
    }
    for s in &plan.shards {
        for list in [&s.files, &s.node_ids, &s.deselect] {
            for item in list {
                h.update(item.as_bytes());
                h.update([0]);
            }
            h.update([1]);
        }
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::constraints::{Constraints, Dist};
    use crate::timings::TestWork;

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

    fn plan(files: &[FileWork], dist: Dist) -> Plan {
        partition_plan(&PartitionInput {
            files,
            node_args: &[],
            sources: &|_| None,
            shards: 4,
            workers: 2,
            unknown_tests: 0,
            constraints: &Constraints {
                dist,
                ..Constraints::default()
            },
            fixed: &FixedCosts::default(),
        })
    }

    #[test]
    fn the_bound_is_total_over_shards_times_workers_and_a_held_file_is_named() {
        let files = vec![file("big.py", &[1.0; 40]), file("small.py", &[2.0, 6.0])];
        // 48 s over 4 × 2 workers; the longest test is 6 s.
        let free = plan(&files, Dist::Free);
        assert_eq!(free.lower_bound_seconds, 6.0);
        assert!(free.predicted_makespan_seconds <= 6.5, "{free:#?}");
        assert!(free.notes.is_empty(), "{:?}", free.notes);
        // `--dist loadfile` keeps big.py (40 s) whole: 20 s on two workers, 14 s above.
        let held = plan(&files, Dist::LoadFile);
        assert_eq!(held.lower_bound_seconds, 6.0);
        assert!(
            held.notes
                .iter()
                .any(|n| n.contains("`big.py` (kept whole)")
                    && n.contains("no plan goes below 20.0 s, 14.0 s above")),
            "{:?}",
            held.notes
        );
    }

    #[test]
    fn learned_collection_keeps_heavy_imports_apart_and_counts_each_split_file_per_shard() {
        // Two files whose imports cost 3 s each and whose tests are light, two light files
        // whose tests are heavier: by tests alone the heavy imports share a shard.
        let files = vec![
            file("imp_a.py", &[0.5, 0.5]),
            file("imp_b.py", &[0.5, 0.5]),
            file("work_c.py", &[1.0, 1.0]),
            file("work_d.py", &[1.0, 1.0]),
        ];
        let with = |fixed: &FixedCosts| {
            partition_plan(&PartitionInput {
                files: &files,
                node_args: &[],
                sources: &|_| None,
                shards: 2,
                workers: 1,
                unknown_tests: 0,
                constraints: &Constraints::default(),
                fixed,
            })
        };
        let blind = with(&FixedCosts::default());
        let fixed = FixedCosts {
            collection: [
                ("imp_a.py".to_string(), 3.0),
                ("imp_b.py".to_string(), 3.0),
                ("work_c.py".to_string(), 0.0),
                ("work_d.py".to_string(), 0.0),
            ]
            .into(),
            startup: [(1, 1.0)].into(),
            ..FixedCosts::default()
        };
        let knowing = with(&fixed);
        let heavy_together = |p: &Plan| {
            p.shards.iter().any(|s| {
                s.files.contains(&"imp_a.py".to_string())
                    && s.files.contains(&"imp_b.py".to_string())
            })
        };
        assert!(!heavy_together(&knowing), "{knowing:#?}");
        // Each shard: 1 s start-up + one import (3 s) + 3 s of tests.
        for s in &knowing.shards {
            let c = s.cost.as_ref().unwrap();
            assert_eq!(
                (c.startup_seconds, c.collection_seconds),
                (1.0, 3.0),
                "{s:?}"
            );
            assert!(!c.estimated);
        }
        assert_eq!(knowing.predicted_wall_seconds, Some(7.0));
        // Start-up + (6 s tests + 6 s collection) over 2 shards.
        assert_eq!(knowing.lower_bound_wall_seconds, Some(7.0));
        // The blind plan's predictions still carry the (default) fixed costs, marked estimated.
        assert!(
            blind
                .shards
                .iter()
                .all(|s| s.cost.as_ref().unwrap().estimated)
        );
    }
}
