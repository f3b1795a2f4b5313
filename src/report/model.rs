//! The summary model: everything the renderers show, computed once from the loaded inputs.
//! Pure: takes parsed files and manifests, returns data (no I/O, no clock, no environment).

use serde::Serialize;

use crate::ci::Shard;
use crate::junit::merge::{MergedTest, merge_attempts, merge_attempts_with};
use crate::junit::writer::SuiteInput;
use crate::junit::{FileReport, Outcome};
use crate::pytest::manifest::Manifest;
use crate::text::{plural, seconds};

mod build;

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
    pub fn new(path: String, shard: Option<Shard>, result: Result<FileReport, String>) -> Self {
        Self::with_twins(path, shard, result, &Twins::new())
    }

    /// [`LoadedFile::new`], with the node ids several items share (from the manifests): their
    /// repeated testcases are separate tests, not attempts of one.
    pub fn with_twins(
        path: String,
        shard: Option<Shard>,
        mut result: Result<FileReport, String>,
        twins: &Twins,
    ) -> Self {
        let count = |classname: &str, name: &str| {
            twins
                .get(&(classname.to_owned(), name.to_owned()))
                .copied()
                .unwrap_or(1)
        };
        let mut tests = match &mut result {
            Ok(report) if twins.is_empty() => merge_attempts(std::mem::take(&mut report.cases)),
            Ok(report) => merge_attempts_with(std::mem::take(&mut report.cases), &count),
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

impl Inputs {
    /// One suite per readable file for the merged JUnit (`junit::writer`), named after its shard.
    pub fn merged_suites(&self) -> Vec<SuiteInput<'_>> {
        self.files
            .iter()
            .filter_map(|f| {
                let report = f.result.as_ref().ok()?;
                Some(SuiteInput {
                    name: match f.shard {
                        Some(s) => format!("shard {s} ({})", f.path),
                        None => f.path.clone(),
                    },
                    tests: &f.tests,
                    seconds: report.declared_seconds,
                })
            })
            .collect()
    }
}

/// JUnit (classname, name) → how many distinct tests share it, from the manifests' `twins`.
pub type Twins = std::collections::HashMap<(String, String), usize>;

/// The manifests' `twins` as JUnit names, the largest count where shards disagree.
pub fn twins_of(manifests: &[LoadedManifest]) -> Twins {
    let mut out = Twins::new();
    for m in manifests {
        for (id, n) in &m.manifest.collected.twins {
            let key = crate::junit::node_id::to_junit_names(id);
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            let slot = out.entry(key).or_insert(n);
            *slot = (*slot).max(n);
        }
    }
    out
}

/// A shard manifest as the command loaded it.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub path: String,
    pub manifest: Manifest,
    /// Whether the JUnit file it names was found among the inputs.
    pub junit_found: bool,
    /// Without that file, what the shard's results log told (its tests are among the files).
    pub rebuilt: Option<super::rebuild::Rebuilt>,
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
    /// `--expect-shard I/N`: a shard job's report on itself, so no other shard is expected.
    pub only_shard: Option<Shard>,
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
    /// Planned tests the user's `-k`/`-m`/`--deselect` deselected (not in `tests`).
    pub deselected: u64,
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

impl Failure {
    /// The one line shown next to the test: a worker crash named as such (pytest's JUnit
    /// wording, "failed on setup with …", hides it), else the message's first line.
    pub fn headline(&self) -> std::borrow::Cow<'_, str> {
        match &self.crashed_worker {
            Some(w) => format!("crashed the xdist worker {w}").into(),
            None => first_line(&self.message).into(),
        }
    }
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

impl ShardRow {
    /// The prediction to compare with the actual wall: with fixed costs when the manifest has
    /// them, else the tests' seconds alone.
    pub fn predicted_wall(&self) -> Option<f64> {
        self.predicted_wall_seconds.or(self.predicted_seconds)
    }
}

/// Predicted vs actual seconds of one shard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardRow {
    pub index: u32,
    pub total: u32,
    pub predicted_seconds: Option<f64>,
    /// `predicted_seconds` is a guess from test counts (no test of the shard was timed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
    /// The predicted wall with fixed costs (start-up + collection + tests); absent for plain
    /// JUnit inputs and manifests of older versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_wall_seconds: Option<f64>,
    /// Some fixed cost in `predicted_wall_seconds` was a documented default, not learned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wall_estimated: bool,
    /// `(predicted wall − actual) / actual × 100`, one decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_percent: Option<f64>,
    /// Fixed costs the shard measured, for the timings store.
    #[serde(skip)]
    pub measured_costs: Option<crate::pytest::manifest::ShardCosts>,
    pub actual_seconds: Option<f64>,
    pub workers: Option<u32>,
    pub tests: u64,
    pub failed: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Measured by `run`; absent for plain JUnit inputs and older manifests.
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
    /// Two manifests or JUnit files claim the same shard: one artifact shadows another.
    Collision,
    FingerprintMismatch,
    /// Nothing to report at all.
    NoResults,
    /// A shard that should have written coverage data (coverage was on, or other shards have
    /// it) has none among the inputs.
    MissingCoverage,
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

/// Something the user should know that does not make the report incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Files pytest collects that discovery did not plan; the net ran them (warning).
    DiscoveryMissed,
    /// Planned files pytest does not collect in a plain run; the net left them out (warning).
    NotCollected,
    /// Tests of the timings store whose file still exists and that no shard reported.
    NotReported,
    /// Coverage data was found but could not be combined (no `coverage` in the chosen Python,
    /// or `coverage combine` failed): the report says so and stays as it is.
    CoverageSkipped,
    /// `--base` could not be read: no comparison (warning).
    BaseUnusable,
    /// The base run's report was itself incomplete (warning).
    BaseIncomplete,
    /// `--fail-on new` without a base: every failure fails the job (warning).
    NoBase,
    /// Failures also failing on the base, and whether `--fail-on new` lets the job pass.
    StillFailing,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub message: String,
    /// How many files or tests it is about.
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Shards {
    pub expected: Option<u32>,
    /// The one shard reported on (`--expect-shard`); `expected` is then its total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<Shard>,
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
    /// Warnings and notices that leave the report complete.
    pub notices: Vec<Notice>,
    /// Longest shard wall time (shards run in parallel), else the files' declared times.
    pub wall_seconds: Option<f64>,
    /// Workers per shard when every manifest agrees.
    pub workers: Option<u32>,
    pub files_read: u32,
    /// (node id, seconds over every attempt) of every test, for the timings store.
    pub observed: Vec<(String, f64)>,
    /// The final outcome of each test of `observed`, in the same order (for the results file).
    pub outcomes: Vec<Outcome>,
    /// Planned files in which pytest collected no test (empty, or a plugin filtered them):
    /// not lost.
    pub collected_nothing: Vec<String>,
    /// Planned node ids that matched no test (renamed or deleted since the timings): not lost.
    pub not_found: Vec<String>,
    /// Where the plan's timings came from (from the shard manifests).
    pub timings_source: Option<crate::timings::Provenance>,
    /// Node ids that passed in this run (for the quarantine: a quarantined test that passed).
    pub passed_ids: Vec<String>,
    /// Quarantined failures, covered passes and expired entries; empty without a quarantine.
    pub quarantine: super::quarantine::QuarantineReport,
    /// Every shard's coverage data combined; `None` when no shard wrote any.
    pub coverage: Option<super::coverage::CoverageReport>,
    /// This run against the base run (`report --base`).
    pub comparison: Option<super::compare::Comparison>,
    /// `--fail-on` as given; see [`Summary::fail_on_applied`].
    pub fail_on: super::compare::FailOn,
}

impl Summary {
    /// The report is whole: no problem at all (every expected shard reported, every input
    /// read to its end, no planned test lost or run twice, no pytest or xdist worker crashed).
    /// Failing tests do not make it false; they make it not [`Summary::green`].
    pub fn complete(&self) -> bool {
        self.problems.is_empty() && self.shards.missing.is_empty()
    }

    /// Green: complete and no failed or errored test.
    pub fn green(&self) -> bool {
        self.complete()
            && self.totals.failed == 0
            && self.totals.errors == 0
            && self.quarantine.expired.is_empty()
    }

    /// `--fail-on new` only applies against a base; without one it is `all`.
    pub fn fail_on_applied(&self) -> super::compare::FailOn {
        use super::compare::FailOn;
        match (self.fail_on, &self.comparison) {
            (FailOn::New, Some(_)) => FailOn::New,
            _ => FailOn::All,
        }
    }

    /// The job passes: green, or complete with every failure also failing on the base (or
    /// quarantined) under `--fail-on new`. Missing shards, lost tests, expired quarantine
    /// entries and the like always fail it.
    pub fn passes_job(&self) -> bool {
        use super::compare::FailOn;
        match (self.fail_on_applied(), &self.comparison) {
            (FailOn::New, Some(c)) => {
                let quarantined: std::collections::HashSet<&str> = self
                    .quarantine
                    .failed
                    .iter()
                    .map(|q| q.failure.id.as_str())
                    .collect();
                self.complete()
                    && self.quarantine.expired.is_empty()
                    && c.new_failures
                        .iter()
                        .all(|id| quarantined.contains(id.as_str()))
            }
            _ => self.green(),
        }
    }

    /// `2 failed, 120 passed, 1 flaky in 31.2s`, pytest's word order.
    pub fn headline(&self) -> String {
        let t = &self.totals;
        let mut parts = Vec::new();
        for (n, word) in [
            (t.failed, "failed"),
            (t.passed, "passed"),
            (t.skipped, "skipped"),
            (t.deselected, "deselected"),
            (t.xfailed, "xfailed"),
            (t.xpassed, "xpassed"),
            (t.errors, if t.errors == 1 { "error" } else { "errors" }),
            (t.flaky, "flaky"),
            (self.quarantine.failed.len() as u64, "quarantined"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        if parts.is_empty() {
            parts.push("no tests ran".into());
        }
        let expired = self.quarantine.expired.len() as u64;
        if expired > 0 {
            parts.push(crate::text::count(
                expired,
                "expired quarantine entry",
                "expired quarantine entries",
            ));
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

/// Builds the summary. Test files named by the manifests' selections make the node ids of
/// xunit2 files exact; without them pytest's class naming is used (see `junit::node_id`).
pub fn build(inputs: &Inputs) -> Summary {
    build::build(inputs)
}

/// The first non-blank line, without trailing space.
pub fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}
