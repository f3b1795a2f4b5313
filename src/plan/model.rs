//! The plan as data: what `plan --format json` prints (the contract) and what `run`
//! executes. Paths and node ids are relative to pytest's rootdir, as pytest prints them.

use serde::{Deserialize, Serialize};

/// The whole partition of the suite over every shard. Every shard computes it independently;
/// the same inputs give a byte-identical `Plan` (invariant 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Version of parallel-pytest that made the plan.
    pub version: String,
    /// Hash over the plan's inputs and result; shards with different fingerprints disagree.
    pub fingerprint: String,
    pub shards_total: u32,
    /// `max(total / (N·W), longest single test)`: what no plan can beat. When a constraint
    /// keeps the plan above it, `notes` says which unit and by how much.
    pub lower_bound_seconds: f64,
    pub predicted_makespan_seconds: f64,
    /// The slowest shard's predicted wall with fixed costs (start-up + collection + tests,
    /// see `plan/cost.rs`); absent in plans from older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_wall_seconds: Option<f64>,
    /// The lower bound with fixed costs: start-up + (tests + every file's collection) over
    /// `N·W` workers, or the longest test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound_wall_seconds: Option<f64>,
    /// Tests (or files) with no timing, estimated by the documented rule.
    pub unknown_tests: u64,
    pub shards: Vec<ShardPlan>,
    /// What the planner did because of how tests must be kept together: files kept
    /// whole for `--dist loadscope`/`loadfile` or `xdist_group`, files bundled onto one shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Where the timings came from (`plan`/`run` fill it after planning; outside the
    /// fingerprint, which covers the selection only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings_source: Option<crate::timings::Provenance>,
}

/// One shard's selection. Empty selections are valid and must never run pytest (invariant 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardPlan {
    /// 1-based.
    pub index: u32,
    pub predicted_seconds: f64,
    pub workers: u32,
    /// Whole files this shard runs, slowest first.
    pub files: Vec<String>,
    /// Single tests this shard runs from files split across shards.
    pub node_ids: Vec<String>,
    /// Ids this shard must skip inside its own `files` (they run elsewhere).
    pub deselect: Vec<String>,
    /// No test of this shard has a timing: `predicted_seconds` is a guess from test counts.
    /// Absent (false) in plans from older versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
    /// The predicted wall with fixed costs and its parts; absent in plans from older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<super::cost::ShardCost>,
    /// With `--launcher processes`: the shard's plain pytest processes, each a one-worker
    /// selection of its own (`index` 1..=W); the fields above are then their union. Empty with
    /// xdist (and absent from plans of older versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ShardPlan>,
}

impl Plan {
    /// The slowest shard's predicted wall: with fixed costs when the plan has them.
    pub fn wall_makespan(&self) -> f64 {
        self.predicted_wall_seconds
            .unwrap_or(self.predicted_makespan_seconds)
    }
}

impl ShardPlan {
    /// This shard's predicted wall: with fixed costs when the plan has them.
    pub fn predicted_wall(&self) -> f64 {
        self.cost
            .as_ref()
            .map_or(self.predicted_seconds, |c| c.wall_seconds)
    }
}

/// What to call a shard's predicted seconds: a guess from test counts when none of its
/// tests has a timing, so it does not read as measured next to the actual time.
pub fn prediction_label(estimated: bool) -> &'static str {
    if estimated {
        "estimated from test counts:"
    } else {
        "predicted"
    }
}

impl ShardPlan {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.node_ids.is_empty()
    }

    /// Workers to start: the forced count, else the plan's, never more than the tests there
    /// are: a shard of only parametrized node ids (`f.py::t[1]`) has exactly one test per id.
    /// A file, or a node id naming a class or function, may hold any number of tests, so
    /// otherwise the count stands.
    pub fn workers_to_start(&self, forced: Option<u32>) -> u32 {
        let w = forced.unwrap_or(self.workers).max(1);
        let exact = self.files.is_empty() && self.node_ids.iter().all(|id| id.ends_with(']'));
        if exact {
            let n = u32::try_from(self.node_ids.len()).unwrap_or(u32::MAX);
            w.min(n.max(1))
        } else {
            w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(files: usize, node_ids: usize, workers: u32) -> ShardPlan {
        ShardPlan {
            index: 1,
            predicted_seconds: 2.0,
            workers,
            files: (0..files).map(|i| format!("t{i}.py")).collect(),
            node_ids: (0..node_ids).map(|i| format!("x.py::t[{i}]")).collect(),
            deselect: vec![],
            estimated: false,
            cost: None,
            processes: Vec::new(),
        }
    }

    #[test]
    fn workers_never_exceed_known_tests() {
        assert_eq!(sp(0, 1, 4).workers_to_start(None), 1);
        assert_eq!(sp(0, 3, 4).workers_to_start(None), 3);
        assert_eq!(sp(2, 0, 4).workers_to_start(None), 4);
        assert_eq!(sp(2, 0, 4).workers_to_start(Some(1)), 1);
        assert_eq!(sp(2, 0, 0).workers_to_start(None), 1);
        // A class or function id may hold many tests: no cap.
        let mut group = sp(0, 1, 4);
        group.node_ids = vec!["x.py::TestBig".into()];
        assert_eq!(group.workers_to_start(None), 4);
    }
}
