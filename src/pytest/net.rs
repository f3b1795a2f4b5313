//! The net's input for one shard: which shards own files (those that start pytest), every
//! file of the whole plan, and the suite's paths to walk. `net.py` does the walk inside pytest.

use std::path::{Path, PathBuf};

use crate::ci::Shard;
use crate::node_id::file_part;
use crate::plan::{Plan, ShardPlan};
use crate::python::NetFile;

/// The net's input for `shard` of `plan`; its output goes to `net-out-<I>-of-<N>.json`.
/// `discovered` counts as planned: a plan given with `--plan` may leave discovered files out on
/// purpose, and the net is for what discovery cannot see.
pub fn input(
    plan: &Plan,
    shard: Shard,
    roots: &[PathBuf],
    discovered: &[String],
    out_dir: &Path,
) -> NetFile {
    let owners = plan
        .shards
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.index)
        .collect();
    let mut planned = files_of(plan.shards.iter());
    planned.extend(discovered.iter().cloned());
    planned.sort();
    planned.dedup();
    let own = files_of(plan.shards.iter().filter(|s| s.index == shard.index));
    NetFile {
        shard: shard.index,
        own,
        owners,
        planned,
        roots: roots.iter().map(|r| r.display().to_string()).collect(),
        out: out_dir.join(format!("net-out-{}.json", shard.file_stem())),
    }
}

/// The files of these shards' whole files and node ids, sorted, once each.
fn files_of<'a>(shards: impl Iterator<Item = &'a ShardPlan>) -> Vec<String> {
    let mut files: Vec<String> = shards
        .flat_map(|s| {
            s.files
                .iter()
                .map(String::as_str)
                .chain(s.node_ids.iter().map(|n| file_part(n)))
        })
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_the_shards_that_run_and_planned_is_every_file() {
        let row = |index: u32, files: &[&str], ids: &[&str]| ShardPlan {
            index,
            predicted_seconds: 1.0,
            workers: 1,
            files: files.iter().map(|s| s.to_string()).collect(),
            node_ids: ids.iter().map(|s| s.to_string()).collect(),
            deselect: vec![],
            estimated: false,
            cost: None,
            processes: Vec::new(),
        };
        let plan = Plan {
            predicted_wall_seconds: None,
            lower_bound_wall_seconds: None,
            version: "0".into(),
            fingerprint: "fp".into(),
            shards_total: 3,
            lower_bound_seconds: 1.0,
            predicted_makespan_seconds: 1.0,
            unknown_tests: 0,
            shards: vec![
                row(1, &["b.py", "a.py"], &[]),
                row(2, &[], &[]),
                row(3, &[], &["a.py::t", "c.txt::c.txt"]),
            ],
            notes: vec![],
            timings_source: None,
        };
        let shard = Shard { index: 3, total: 3 };
        let discovered = ["d.py".to_owned()];
        let roots = [PathBuf::from("/r/tests")];
        let net = input(&plan, shard, &roots, &discovered, Path::new("/o"));
        assert_eq!(net.owners, vec![1, 3]);
        assert_eq!(net.planned, vec!["a.py", "b.py", "c.txt", "d.py"]);
        assert_eq!(net.own, vec!["a.py", "c.txt"]);
        assert_eq!(net.out, Path::new("/o/net-out-3-of-3.json"));
        assert_eq!(net.roots, vec!["/r/tests"]);
    }
}
