//! The summary model: everything the renderers show, computed once from the loaded inputs.
//! Pure: takes parsed files and manifests, returns data (no I/O, no clock, no environment).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::ci::Shard;
use crate::junit::merge::{MergedTest, merge_attempts};
use crate::junit::node_id::{NodeIdMapper, dotted_module, to_junit_names};
use crate::junit::{FileReport, Outcome};
use crate::pytest::manifest::Manifest;

use super::location::locate;

/// One JUnit input as the command loaded it.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// As shown to the user (the path given or found).
    pub path: String,
    /// From its manifest or its `junit-I-of-N.xml` name.
    pub shard: Option<Shard>,
    /// The parsed file, or why it could not be read (one line, names the file). Its `cases`
    /// are moved into `tests` by [`LoadedFile::new`].
    pub result: Result<FileReport, String>,
    /// The file's tests, attempts folded (`junit::merge`).
    pub tests: Vec<MergedTest>,
}

impl LoadedFile {
    /// Folds the testcases into tests once, freeing the per-attempt list.
    pub fn new(path: String, shard: Option<Shard>, mut result: Result<FileReport, String>) -> Self {
        let mut tests = match &mut result {
            Ok(report) => merge_attempts(std::mem::take(&mut report.cases)),
            Err(_) => Vec::new(),
        };
        // xdist finishes tests in any order; sorting makes every output of the report
        // (merged JUnit included) independent of it.
        tests.sort_by(|a, b| {
            (&a.last.classname, &a.last.name).cmp(&(&b.last.classname, &b.last.name))
        });
        LoadedFile {
            path,
            shard,
            result,
            tests,
        }
    }
}

/// A shard manifest as the command loaded it.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub path: String,
    pub manifest: Manifest,
    /// Whether the JUnit file it names was found among the inputs.
    pub junit_found: bool,
}

/// Everything the summary is built from.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub files: Vec<LoadedFile>,
    pub manifests: Vec<LoadedManifest>,
    /// Inputs that could not be used at all (unreadable manifest, path or glob matching nothing).
    pub unusable: Vec<Problem>,
    /// `--expect-shards`.
    pub expect_shards: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub skipped: u64,
    pub xfailed: u64,
    pub xpassed: u64,
    /// Passed after at least one failed attempt (also counted in `passed`).
    pub flaky: u64,
    /// Sum of every attempt's time, in seconds.
    pub seconds: f64,
}

/// One failed or errored test (after reruns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub id: String,
    /// Relative to pytest's rootdir.
    pub file: Option<String>,
    /// 1-based.
    pub line: Option<u64>,
    pub outcome: Outcome,
    pub message: String,
    pub shard: Option<u32>,
    #[serde(skip)]
    pub shard_total: Option<u32>,
    #[serde(skip)]
    pub text: Option<String>,
    #[serde(skip)]
    pub attempts: u32,
    /// `gwN` when this is an xdist worker crash.
    #[serde(skip)]
    pub crashed_worker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flaky {
    pub id: String,
    pub attempts: u32,
    pub shard: Option<u32>,
    /// Why an earlier attempt failed (first line).
    pub first_failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slow {
    pub id: String,
    pub seconds: f64,
    pub shard: Option<u32>,
}

/// Predicted vs actual seconds of one shard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardRow {
    pub index: u32,
    pub total: u32,
    pub predicted_seconds: Option<f64>,
    pub actual_seconds: Option<f64>,
    pub workers: Option<u32>,
    pub tests: u64,
    pub failed: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Measured by `run` (issue 8); absent for plain JUnit inputs and older manifests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ShardResources>,
}

/// What a shard's manifest measured, as the shard table shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardResources {
    /// CPU seconds / (wall × workers) of the parallel phase.
    pub cpu_utilisation: Option<f64>,
    pub peak_memory_bytes: u64,
    /// The largest single worker's peak: what the timings store learns for the next run.
    pub peak_worker_memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// Advice lines (memory-bound, CPU-starved, mostly waiting), most pressing first.
    pub advice: Vec<String>,
}

impl ShardResources {
    pub fn from_manifest(m: &Manifest) -> Option<ShardResources> {
        let r = m.resources.as_ref()?;
        r.parallel.measured.then(|| ShardResources {
            cpu_utilisation: r.utilisation,
            peak_memory_bytes: r.peak_rss_bytes,
            peak_worker_memory_bytes: r.peak_worker_rss_bytes,
            memory_limit_bytes: r.memory_limit_bytes,
            advice: r.advice.iter().map(super::advice::line).collect(),
        })
    }

    /// `39%` CPU and `350 MiB / 15.2 GiB` memory, for the tables.
    pub fn cpu_cell(&self) -> String {
        self.cpu_utilisation
            .map(|u| format!("{:.0}%", 100.0 * u))
            .unwrap_or_default()
    }

    pub fn memory_cell(&self) -> String {
        use super::advice::format_bytes;
        match self.memory_limit_bytes {
            Some(limit) => format!(
                "{} / {}",
                format_bytes(self.peak_memory_bytes),
                format_bytes(limit)
            ),
            None => format_bytes(self.peak_memory_bytes),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A JUnit file that broke part-way: its complete testcases are kept.
    Truncated,
    /// A file that could not be read, is not XML or not JUnit, or an input matching nothing.
    Unreadable,
    MissingShard,
    /// pytest was killed or ended with an internal/usage error on a shard.
    ShardCrashed,
    CrashedWorker,
    LostTests,
    DuplicatedTests,
    FingerprintMismatch,
    /// Nothing to report at all.
    NoResults,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    /// The file it is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Self {
        Problem {
            kind,
            message: message.into(),
            path: None,
        }
    }

    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Shards {
    pub expected: Option<u32>,
    pub found: u32,
    pub missing: Vec<u32>,
}

/// The report, ready to render.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub totals: Totals,
    /// Most useful first: crashes, then by file and line.
    pub failures: Vec<Failure>,
    pub flaky: Vec<Flaky>,
    /// The 10 slowest tests, slowest first.
    pub slowest: Vec<Slow>,
    pub shards: Shards,
    pub shard_rows: Vec<ShardRow>,
    pub problems: Vec<Problem>,
    /// Longest shard wall time (shards run in parallel), else the files' declared times.
    pub wall_seconds: Option<f64>,
    /// Workers per shard when every manifest agrees.
    pub workers: Option<u32>,
    pub files_read: u32,
    /// (node id, seconds over every attempt) of every test, for the timings store.
    pub observed: Vec<(String, f64)>,
}

impl Summary {
    /// No missing shards, unreadable or truncated files, lost or duplicated tests, crashes.
    pub fn complete(&self) -> bool {
        self.problems.is_empty() && self.shards.missing.is_empty()
    }

    /// Green: complete and no failed or errored test.
    pub fn green(&self) -> bool {
        self.complete() && self.totals.failed == 0 && self.totals.errors == 0
    }

    /// `2 failed, 120 passed, 1 flaky in 31.2s`, pytest's word order.
    pub fn headline(&self) -> String {
        let t = &self.totals;
        let mut parts = Vec::new();
        for (n, word) in [
            (t.failed, "failed"),
            (t.passed, "passed"),
            (t.skipped, "skipped"),
            (t.xfailed, "xfailed"),
            (t.xpassed, "xpassed"),
            (t.errors, if t.errors == 1 { "error" } else { "errors" }),
            (t.flaky, "flaky"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        if parts.is_empty() {
            parts.push("no tests ran".into());
        }
        let mut line = parts.join(", ");
        if let Some(wall) = self.wall_seconds {
            line.push_str(&format!(" in {}", seconds(wall)));
        }
        if !self.complete() {
            let n = self.problems.len().max(self.shards.missing.len());
            line.push_str(&format!(
                " ({} {})",
                n,
                plural(n as u64, "problem", "problems")
            ));
        }
        line
    }

    /// Node ids to rerun locally (failed and errored), in report order.
    pub fn rerun_ids(&self) -> Vec<&str> {
        self.failures.iter().map(|f| f.id.as_str()).collect()
    }
}

pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `0.31s`, `12.4s`, `3m 05s`.
pub fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}s")
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = s.round() as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// Builds the summary. `known_files` (test files from the manifests' selections) make the node
/// ids of xunit2 files exact; without them pytest's class naming is used (see `junit::node_id`).
pub fn build(inputs: &Inputs) -> Summary {
    let mut summary = Summary::default();
    let mut problems: Vec<Problem> = inputs.unusable.clone();

    let known_files: BTreeSet<&str> = inputs
        .manifests
        .iter()
        .flat_map(|m| m.manifest.selection.files.iter().map(String::as_str))
        .collect();
    let mapper = NodeIdMapper::with_files(known_files.iter().copied());

    let mut duplicates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut per_shard_tests: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    // (node id, shard, test, file index). Ids are built once and moved into `observed` at the
    // end: with a million tests every clone shows in time and memory.
    let mut all_tests: Vec<(String, Option<Shard>, &MergedTest, usize)> = Vec::new();
    let mut declared_wall: Option<f64> = None;

    for (file_index, file) in inputs.files.iter().enumerate() {
        let report = match &file.result {
            Ok(report) => report,
            Err(message) => {
                problems
                    .push(Problem::new(ProblemKind::Unreadable, message.clone()).at(&file.path));
                continue;
            }
        };
        summary.files_read += 1;
        if let Some(reason) = &report.truncated {
            problems.push(
                Problem::new(
                    ProblemKind::Truncated,
                    format!(
                        "`{}` is truncated: {reason}; its {} complete {} are counted, anything after is lost",
                        file.path,
                        file.tests.len(),
                        plural(file.tests.len() as u64, "test", "tests")
                    ),
                )
                .at(&file.path),
            );
        }
        if let Some(s) = report.declared_seconds {
            declared_wall = Some(declared_wall.map_or(s, |w: f64| w.max(s)));
        }
        for test in &file.tests {
            let id = mapper.node_id(
                &test.last.classname,
                &test.last.name,
                test.last.file.as_deref(),
            );
            if let Some(shard) = file.shard {
                let entry = per_shard_tests.entry(shard.index).or_default();
                entry.0 += 1;
                entry.1 += u64::from(test.last.outcome.is_bad());
            }
            all_tests.push((id, file.shard, test, file_index));
        }
    }
    // Node id → the file it was first seen in: the same test in two files is a duplicate.
    {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(all_tests.len());
        for (id, _, _, file_index) in &all_tests {
            match seen.get(id.as_str()) {
                Some(&first) if first != *file_index => {
                    duplicates
                        .entry(id.clone())
                        .or_insert_with(|| vec![inputs.files[first].path.clone()])
                        .push(inputs.files[*file_index].path.clone());
                }
                Some(_) => {}
                None => {
                    seen.insert(id, *file_index);
                }
            }
        }
    }

    // Totals, failures, flaky, slowest.
    let mut failures = Vec::new();
    let mut crashes: Vec<(Option<Shard>, String, String)> = Vec::new();
    for (id, shard, test, _) in &all_tests {
        let t = &mut summary.totals;
        t.tests += 1;
        t.seconds += test.total_seconds;
        match test.last.outcome {
            Outcome::Passed => t.passed += 1,
            Outcome::Failed => t.failed += 1,
            Outcome::Error => t.errors += 1,
            Outcome::Skipped => t.skipped += 1,
            Outcome::Xfailed => t.xfailed += 1,
            Outcome::Xpassed => t.xpassed += 1,
        }
        if test.is_flaky() {
            t.flaky += 1;
            summary.flaky.push(Flaky {
                id: id.clone(),
                attempts: test.attempts,
                shard: shard.map(|s| s.index),
                first_failure: test
                    .first_failure
                    .as_deref()
                    .map(|m| first_line(m).to_owned()),
            });
        }
        if test.last.outcome.is_bad() {
            let worker = test.last.crashed_worker().map(str::to_owned);
            if let Some(w) = &worker {
                crashes.push((*shard, w.clone(), id.clone()));
            }
            let (file, line) = locate(&test.last, &mapper);
            failures.push(Failure {
                id: id.clone(),
                file,
                line,
                outcome: test.last.outcome,
                message: test
                    .last
                    .message
                    .clone()
                    .or_else(|| test.last.text.as_deref().map(|t| first_line(t).to_owned()))
                    .unwrap_or_default(),
                shard: shard.map(|s| s.index),
                shard_total: shard.map(|s| s.total),
                text: test.last.text.clone(),
                attempts: test.attempts,
                crashed_worker: worker,
            });
        }
    }
    // Crashes first (they hide other tests' results), then by location, then id.
    failures.sort_by(|a, b| {
        (a.crashed_worker.is_none(), &a.file, a.line, &a.id).cmp(&(
            b.crashed_worker.is_none(),
            &b.file,
            b.line,
            &b.id,
        ))
    });
    summary.failures = failures;
    // The 10 slowest: select by index, clone only those ids.
    let mut order: Vec<usize> = (0..all_tests.len()).collect();
    let slower = |a: &usize, b: &usize| {
        let (x, y) = (&all_tests[*a], &all_tests[*b]);
        y.2.last
            .time_seconds
            .total_cmp(&x.2.last.time_seconds)
            .then_with(|| x.0.cmp(&y.0))
    };
    if order.len() > 10 {
        order.select_nth_unstable_by(9, slower);
        order.truncate(10);
    }
    order.sort_by(slower);
    let slow: Vec<Slow> = order
        .into_iter()
        .map(|i| Slow {
            id: all_tests[i].0.clone(),
            seconds: all_tests[i].2.last.time_seconds,
            shard: all_tests[i].1.map(|s| s.index),
        })
        .collect();
    summary.slowest = slow;

    for (shard, worker, id) in &crashes {
        let at = shard.map(|s| format!(" on shard {s}")).unwrap_or_default();
        problems.push(Problem::new(
            ProblemKind::CrashedWorker,
            format!("xdist worker `{worker}` crashed{at} while running `{id}`"),
        ));
    }

    // Duplicates across files.
    if !duplicates.is_empty() {
        let n = duplicates.len();
        let examples: Vec<String> = duplicates
            .iter()
            .take(5)
            .map(|(id, files)| format!("`{id}` ({})", files.join(", ")))
            .collect();
        problems.push(Problem::new(
            ProblemKind::DuplicatedTests,
            format!(
                "{n} {} ran in more than one file: {}{}",
                plural(n as u64, "test", "tests"),
                examples.join("; "),
                more_suffix(n, 5)
            ),
        ));
    }

    // Shards: expected, found, missing, balance.
    let manifest_total = inputs
        .manifests
        .iter()
        .map(|m| m.manifest.shard_total)
        .max();
    let file_total = inputs
        .files
        .iter()
        .filter_map(|f| f.shard.map(|s| s.total))
        .max();
    let expected = inputs.expect_shards.or(manifest_total).or(file_total);
    let mut found: BTreeSet<u32> = BTreeSet::new();
    for f in &inputs.files {
        if let (Some(s), Ok(_)) = (f.shard, &f.result) {
            found.insert(s.index);
        }
    }
    for m in &inputs.manifests {
        // An empty shard never starts pytest and writes no JUnit: its manifest is its report.
        if !m.manifest.pytest_started {
            found.insert(m.manifest.shard_index);
        } else if !m.junit_found {
            problems.push(
                Problem::new(
                    ProblemKind::MissingShard,
                    format!(
                        "shard {}/{} ran pytest but its JUnit file `{}` is not among the inputs",
                        m.manifest.shard_index, m.manifest.shard_total, m.manifest.junit_file
                    ),
                )
                .at(&m.path),
            );
        }
    }
    if let Some(n) = expected {
        summary.shards.missing = (1..=n).filter(|i| !found.contains(i)).collect();
        for i in found.iter().filter(|&&i| i > n) {
            problems.push(Problem::new(
                ProblemKind::MissingShard,
                format!("a report for shard {i} arrived but only {n} shards were expected"),
            ));
        }
    }
    summary.shards.expected = expected;
    summary.shards.found = if expected.is_some() {
        found.len() as u32
    } else {
        summary.files_read
    };
    if !summary.shards.missing.is_empty() {
        let list: Vec<String> = summary
            .shards
            .missing
            .iter()
            .map(|i| format!("{i}/{}", expected.unwrap_or(0)))
            .collect();
        problems.push(Problem::new(
            ProblemKind::MissingShard,
            format!(
                "{} of {} shards did not report: {}",
                list.len(),
                expected.unwrap_or(0),
                list.join(", ")
            ),
        ));
    }

    // Fingerprints.
    let fingerprints: BTreeMap<&str, Vec<String>> =
        inputs.manifests.iter().fold(BTreeMap::new(), |mut acc, m| {
            acc.entry(m.manifest.fingerprint.as_str())
                .or_insert_with(Vec::new)
                .push(format!(
                    "{}/{}",
                    m.manifest.shard_index, m.manifest.shard_total
                ));
            acc
        });
    if fingerprints.len() > 1 {
        let groups: Vec<String> = fingerprints
            .iter()
            .map(|(fp, shards)| format!("`{}` on shard {}", short(fp), shards.join(", ")))
            .collect();
        problems.push(Problem::new(
            ProblemKind::FingerprintMismatch,
            format!(
                "shards computed different plans, so tests may be lost or run twice: {}",
                groups.join("; ")
            ),
        ));
    }

    // Shard crashes (killed, internal error, usage error) and the balance table.
    let mut rows: BTreeMap<u32, ShardRow> = BTreeMap::new();
    for m in &inputs.manifests {
        let man = &m.manifest;
        let bad_exit = matches!(man.exit_code, Some(c) if !(0..=1).contains(&c) && c != 5);
        let interrupted = man.interrupted_by.is_some();
        if man.signal.is_some()
            || bad_exit
            || interrupted
            || (man.pytest_started && man.exit_code.is_none())
        {
            let how = match (&man.interrupted_by, &man.signal, man.exit_code) {
                (Some(sig), _, _) => format!("was interrupted by {sig} (job cancelled?)"),
                (None, Some(sig), _) => format!("was killed by {sig}"),
                (None, None, Some(code)) => format!("exited with code {code}"),
                (None, None, None) => "did not finish".into(),
            };
            problems.push(
                Problem::new(
                    ProblemKind::ShardCrashed,
                    format!(
                        "pytest on shard {}/{} {how}",
                        man.shard_index, man.shard_total
                    ),
                )
                .at(&m.path),
            );
        }
        let counts = per_shard_tests
            .get(&man.shard_index)
            .copied()
            .unwrap_or_default();
        rows.insert(
            man.shard_index,
            ShardRow {
                index: man.shard_index,
                total: man.shard_total,
                predicted_seconds: Some(man.predicted_seconds),
                actual_seconds: Some(man.wall_seconds),
                workers: Some(man.workers),
                tests: counts.0,
                failed: counts.1,
                exit_code: man.exit_code,
                signal: man.signal.clone(),
                resources: ShardResources::from_manifest(man),
            },
        );
    }
    for f in &inputs.files {
        let (Some(shard), Ok(report)) = (f.shard, &f.result) else {
            continue;
        };
        let counts = per_shard_tests
            .get(&shard.index)
            .copied()
            .unwrap_or_default();
        rows.entry(shard.index).or_insert(ShardRow {
            index: shard.index,
            total: shard.total,
            predicted_seconds: None,
            actual_seconds: report.declared_seconds,
            workers: None,
            tests: counts.0,
            failed: counts.1,
            exit_code: None,
            signal: None,
            resources: None,
        });
    }
    summary.shard_rows = rows.into_values().collect();
    let walls: Vec<f64> = summary
        .shard_rows
        .iter()
        .filter_map(|r| r.actual_seconds)
        .collect();
    summary.wall_seconds = if walls.is_empty() {
        declared_wall
    } else {
        walls.into_iter().reduce(f64::max)
    };
    let workers: BTreeSet<u32> = inputs
        .manifests
        .iter()
        .map(|m| m.manifest.workers)
        .collect();
    summary.workers = (workers.len() == 1).then(|| *workers.iter().next().unwrap_or(&1));

    // Lost tests: planned node ids no file reported; planned files with no test at all.
    let mut lost_ids: Vec<String> = Vec::new();
    let mut lost_files: Vec<String> = Vec::new();
    let planned = inputs.manifests.iter().any(|m| {
        m.manifest.pytest_started
            && m.junit_found
            && !(m.manifest.selection.node_ids.is_empty() && m.manifest.selection.files.is_empty())
    });
    if planned {
        let reported_keys: BTreeSet<(&str, &str)> = all_tests
            .iter()
            .map(|(_, _, t, _)| (t.last.classname.as_str(), t.last.name.as_str()))
            .collect();
        let reported_modules: BTreeSet<&str> = all_tests
            .iter()
            .map(|(_, _, t, _)| t.last.classname.as_str())
            .collect();
        for m in &inputs.manifests {
            if !m.manifest.pytest_started || !m.junit_found {
                continue; // already a missing shard, or nothing to run.
            }
            for id in &m.manifest.selection.node_ids {
                let (classname, name) = to_junit_names(id);
                if !planned_id_reported(&reported_keys, &classname, &name) {
                    lost_ids.push(id.clone());
                }
            }
            for file in &m.manifest.selection.files {
                let module = dotted_module(file);
                let reported = reported_modules
                    .range(module.as_str()..)
                    .next()
                    .is_some_and(|c| *c == module || c.starts_with(&format!("{module}.")));
                if !reported {
                    lost_files.push(file.clone());
                }
            }
        }
    }
    if !lost_ids.is_empty() || !lost_files.is_empty() {
        let mut parts = Vec::new();
        if !lost_ids.is_empty() {
            let shown: Vec<String> = lost_ids.iter().take(10).map(|i| format!("`{i}`")).collect();
            parts.push(format!(
                "{} planned {} never reported: {}{}",
                lost_ids.len(),
                plural(lost_ids.len() as u64, "test was", "tests were"),
                shown.join(", "),
                more_suffix(lost_ids.len(), 10)
            ));
        }
        if !lost_files.is_empty() {
            let shown: Vec<String> = lost_files
                .iter()
                .take(10)
                .map(|i| format!("`{i}`"))
                .collect();
            parts.push(format!(
                "no test of {} planned {} was reported (lost, or the file has no tests): {}{}",
                lost_files.len(),
                plural(lost_files.len() as u64, "file", "files"),
                shown.join(", "),
                more_suffix(lost_files.len(), 10)
            ));
        }
        problems.push(Problem::new(ProblemKind::LostTests, parts.join("; ")));
    }

    if summary.files_read == 0 && inputs.manifests.iter().all(|m| m.manifest.pytest_started) {
        problems.push(Problem::new(
            ProblemKind::NoResults,
            "no JUnit results were found in the inputs",
        ));
    }
    problems.sort_by_key(|a| a.kind);
    summary.problems = problems;
    summary.observed = all_tests
        .into_iter()
        .map(|(id, _, test, _)| (id, test.total_seconds))
        .collect();
    summary
}

fn more_suffix(n: usize, shown: usize) -> String {
    if n > shown {
        format!(" and {} more", n - shown)
    } else {
        String::new()
    }
}

fn short(fp: &str) -> &str {
    &fp[..crate::junit::reader::floor_char_boundary(fp, 12)]
}

pub fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

/// Whether a planned node id, as JUnit `(classname, name)`, shows up among the reported tests.
///
/// The planner moves groups of tests by a prefix id the way pytest's `--deselect` matches them:
/// `file.py::test_f` stands for every `test_f[...]` case and `file.py::TestC` for every method
/// of the class (and of nested classes). Such an id is reported when any member of its group is.
fn planned_id_reported(reported: &BTreeSet<(&str, &str)>, classname: &str, name: &str) -> bool {
    if reported.contains(&(classname, name)) {
        return true;
    }
    let cases = format!("{name}[");
    let has_case = reported
        .range((classname, cases.as_str())..)
        .next()
        .is_some_and(|(c, n)| *c == classname && n.starts_with(&cases));
    if has_case {
        return true;
    }
    let class = format!("{classname}.{name}");
    let nested = format!("{class}.");
    reported
        .range((class.as_str(), "")..)
        .next()
        .is_some_and(|(c, _)| *c == class || c.starts_with(&nested))
}

#[cfg(test)]
mod planned_id_tests {
    use super::*;

    #[test]
    fn group_ids_are_covered_by_their_members() {
        let reported: BTreeSet<(&str, &str)> = [
            ("tests.test_search", "test_rank[shoes]"),
            ("tests.test_reports.TestMonthly", "test_total"),
            ("tests.test_users", "test_roundtrip"),
        ]
        .into_iter()
        .collect();
        assert!(planned_id_reported(
            &reported,
            "tests.test_users",
            "test_roundtrip"
        ));
        assert!(planned_id_reported(
            &reported,
            "tests.test_search",
            "test_rank"
        ));
        assert!(planned_id_reported(
            &reported,
            "tests.test_reports",
            "TestMonthly"
        ));
        // A prefix that is not a group boundary does not count.
        assert!(!planned_id_reported(
            &reported,
            "tests.test_search",
            "test_ran"
        ));
        assert!(!planned_id_reported(
            &reported,
            "tests.test_reports",
            "TestMonth"
        ));
        assert!(!planned_id_reported(
            &reported,
            "tests.test_users",
            "test_gone"
        ));
    }
}
