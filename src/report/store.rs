//! The next timings store: the previous stores smoothed with what this run observed, so the
//! next plan balances on fresh numbers. A broken previous store or an unwritable path is a
//! warning: the test results decide the exit code, not the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ci::Shard;
use crate::pytest::results_log;
use crate::timings::Selectable;

use crate::junit::NodeIdMapper;
use crate::junit::reader::CUT_MARK;

use crate::timings::store::{FixedCostObservation, ShardError};
use crate::timings::{self, Store, store::looks_like_store};

use super::Summary;
use super::model::{LoadedManifest, Notice, NoticeKind};

/// Longest node id the store keeps (name, classname and file are each capped at 4 KiB on
/// reading, so a real id never comes close).
const MAX_STORED_ID_BYTES: usize = 16 * 1024;

/// Folds `summary`'s durations into the stores named by `previous` (resolved from `base`) and
/// writes the result to `out`, with the markers and keywords the shards' results logs (beside
/// `manifests`) recorded, and `provenance` (this run, from the CI environment; never the
/// previous stores'). Says on stderr what it skipped.
pub fn update(
    previous: &[String],
    base: &Path,
    out: &Path,
    summary: &Summary,
    manifests: &[LoadedManifest],
    provenance: Option<timings::RunOrigin>,
) {
    if summary.files_read == 0 {
        eprintln!(
            "note: no test results were read, so `{}` was left as it was",
            out.display()
        );
        return;
    }
    let mut store = Store::default();
    match timings::sources::resolve(previous, base, base) {
        Ok(paths) => {
            for path in paths {
                match read_previous(&path) {
                    Ok(previous) => merge_previous(&mut store, previous),
                    Err(err) => eprintln!(
                        "warning: ignoring previous timings: {err}; the store starts afresh"
                    ),
                }
            }
        }
        Err(err) => eprintln!("warning: ignoring previous timings: {err}"),
    }
    observe(&mut store, summary);
    let (selectable, lines) = from_results_logs(manifests);
    store.observe_selectables(&selectable);
    store.observe_lines(lines.iter().map(|(id, line)| (id, *line)));
    store.provenance = provenance;
    if let Err(err) = store.write(out) {
        eprintln!("warning: {err}");
    }
}

/// Safety net: tests of the previous stores (the timings the plan balanced on) whose file still
/// exists under `base` and that no shard reported. A notice, not a problem: a deleted or renamed
/// test, a `-k`/`-m` selection, or a skipped parametrization are all legitimate.
pub fn not_reported(previous: &[String], base: &Path, summary: &Summary) -> Option<Notice> {
    if summary.files_read == 0 {
        return None;
    }
    let paths = timings::sources::resolve(previous, base, base).ok()?;
    if paths.is_empty() {
        // No previous store: nothing to miss, and no set of a million reported ids to build.
        return None;
    }
    let reported: std::collections::HashSet<&str> =
        summary.observed.iter().map(|(id, _)| id.as_str()).collect();
    let mut missing: Vec<String> = Vec::new();
    let mut exists = std::collections::HashMap::new();
    for path in paths {
        let Ok(store) = read_previous(&path) else {
            continue;
        };
        for id in store.tests.keys() {
            let file = crate::node_id::file_part(id).to_owned();
            let present = *exists
                .entry(file.clone())
                .or_insert_with(|| base.join(&file).is_file());
            if present && !reported.contains(id.as_str()) {
                missing.push(id.clone());
            }
        }
    }
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return None;
    }
    let shown: Vec<String> = missing.iter().take(10).map(|i| format!("`{i}`")).collect();
    let more = missing.len().saturating_sub(10);
    Some(Notice {
        kind: NoticeKind::NotReported,
        message: format!(
            "{} in the timings, whose file still exists, no shard reported (renamed, deselected or lost?): {}{}",
            crate::text::count(missing.len() as u64, "test", "tests"),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
        count: missing.len() as u64,
    })
}

/// A previous store, or a JUnit file read as one.
fn read_previous(path: &PathBuf) -> Result<Store, String> {
    let text = fs_err::read_to_string(path).unwrap_or_default();
    if looks_like_store(&text) {
        Store::from_json(&text).map_err(|e| e.with_path(&path.display().to_string()).to_string())
    } else {
        timings::load(
            std::slice::from_ref(path),
            &timings::mapper_now(NodeIdMapper::new()),
        )
        .map(|t| Store::from_seconds(t.tests.into_map().iter()))
        .map_err(|e| e.to_string())
    }
}

/// Later stores add tests; the largest learned per-worker memory wins.
fn merge_previous(store: &mut Store, previous: Store) {
    store.tests.extend(previous.tests);
    store.collection.extend(previous.collection);
    store.startup.extend(previous.startup);
    if !previous.shard_errors.is_empty() {
        store.shard_errors = previous.shard_errors;
    }
    if previous.worker_memory.as_ref().map(|m| m.peak_bytes)
        > store.worker_memory.as_ref().map(|m| m.peak_bytes)
    {
        store.worker_memory = previous.worker_memory;
    }
}

/// Markers and keywords, and the line pytest reported, per test from the results logs of both
/// phases of every shard (a manifest from an artifact names only its own shard; the logs sit
/// beside it).
fn from_results_logs(
    manifests: &[LoadedManifest],
) -> (BTreeMap<String, Selectable>, BTreeMap<String, u64>) {
    let mut out = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for m in manifests {
        let Ok(shard) = Shard::new(m.manifest.shard_index.into(), m.manifest.shard_total.into())
        else {
            continue;
        };
        let dir = Path::new(&m.path).parent().unwrap_or(Path::new("."));
        for serial in [false, true] {
            let path = dir.join(results_log::file_name(&shard.file_stem(), serial));
            let Some(log) = results_log::read(&path) else {
                continue;
            };
            for t in log.tests.into_iter().filter(|t| storable(&t.id)) {
                if let Some(line) = t.line {
                    lines.insert(t.id.clone(), line);
                }
                if let Some(sel) = t.selectable {
                    out.insert(t.id, sel);
                }
            }
        }
    }
    (out, lines)
}

/// A stand-in for an over-long name names no real test: never persist it.
fn storable(id: &str) -> bool {
    !id.contains(CUT_MARK) && id.len() <= MAX_STORED_ID_BYTES
}

/// This run's durations, the peak worker memory of any shard, and the fixed costs and
/// prediction error of every shard that measured them (not of one cut short by a signal:
/// it measured the crash, not the suite).
fn observe(store: &mut Store, summary: &Summary) {
    store.observe_run(
        summary
            .observed
            .iter()
            .filter(|(id, _)| storable(id))
            .map(|(id, s)| (id.as_str(), *s)),
    );
    store.observe_worker_memory(
        summary
            .shard_rows
            .iter()
            .filter_map(|r| r.resources.as_ref()?.peak_worker_memory_bytes)
            .max(),
    );
    let whole = || summary.shard_rows.iter().filter(|r| r.signal.is_none());
    let costs: Vec<FixedCostObservation> = whole()
        .filter_map(|r| {
            let c = r.measured_costs.as_ref()?;
            Some(FixedCostObservation {
                workers: c.startup_workers.or(r.workers)?,
                startup_seconds: c.startup_seconds,
                collection: c.collection.clone(),
            })
        })
        .collect();
    let errors: BTreeMap<String, ShardError> = whole()
        .filter_map(|r| {
            r.error_percent?;
            let e = ShardError::new(r.predicted_wall_seconds?, r.actual_seconds?)?;
            Some((format!("{}/{}", r.index, r.total), e))
        })
        .collect();
    store.observe_fixed_costs(&costs, errors);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_read_leaves_the_store_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.json");
        update(&[], dir.path(), &out, &Summary::default(), &[], None);
        assert!(!out.exists());
    }

    #[test]
    fn stored_tests_nobody_reported_are_a_notice_when_their_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test_a.py"), "").unwrap();
        let store = Store::from_seconds(
            [
                ("test_a.py::test_x".to_string(), 1.0),
                ("test_a.py::test_gone".to_string(), 1.0),
                ("test_deleted.py::test_y".to_string(), 1.0),
            ]
            .iter()
            .map(|(k, v)| (k, v)),
        );
        store.write(&dir.path().join("t.json")).unwrap();
        let mut summary = Summary {
            files_read: 1,
            ..Summary::default()
        };
        summary.observed.push(("test_a.py::test_x".into(), 1.0));
        let notice = not_reported(&["t.json".into()], dir.path(), &summary).unwrap();
        assert_eq!(notice.count, 1);
        assert!(
            notice.message.contains("`test_a.py::test_gone`"),
            "{}",
            notice.message
        );
        summary.observed.push(("test_a.py::test_gone".into(), 1.0));
        assert!(not_reported(&["t.json".into()], dir.path(), &summary).is_none());
    }

    #[test]
    fn observed_durations_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub/t.json");
        let mut summary = Summary {
            files_read: 1,
            ..Summary::default()
        };
        summary
            .observed
            .push(("tests/test_a.py::test_x".into(), 1.5));
        let origin = timings::RunOrigin {
            platform: "GitLab".into(),
            run_id: Some(9),
            ..timings::RunOrigin::default()
        };
        update(&[], dir.path(), &out, &summary, &[], Some(origin.clone()));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("tests/test_a.py::test_x"), "{text}");
        assert_eq!(Store::read(&out).unwrap().provenance, Some(origin));
        // The previous store's provenance is never carried over: it named another run.
        let again = dir.path().join("again.json");
        update(
            &[out.display().to_string()],
            dir.path(),
            &again,
            &summary,
            &[],
            None,
        );
        let again = Store::read(&again).unwrap();
        assert!(again.tests.contains_key("tests/test_a.py::test_x"));
        assert_eq!(again.provenance, None);
    }

    #[test]
    fn stand_ins_for_oversized_names_are_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.json");
        let mut summary = Summary {
            files_read: 1,
            ..Summary::default()
        };
        let stand_in = format!("tests/test_a.py::test_aaaa{CUT_MARK}104857600 bytes, sha256 0a]");
        summary.observed.push((stand_in, 1.0));
        summary
            .observed
            .push((format!("tests/test_a.py::{}", "b".repeat(20_000)), 1.0));
        summary
            .observed
            .push(("tests/test_a.py::test_ok".into(), 1.0));
        update(&[], dir.path(), &out, &summary, &[], None);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("test_ok"), "{text}");
        assert!(
            !text.contains("test_aaaa") && !text.contains("bbbb"),
            "{text}"
        );
    }
}
