//! `model::build` in named phases, each a small pure function: index the reported tests, find
//! duplicates, fold the tests into totals and failures, pick the slowest, count the shards,
//! compare plan fingerprints, tabulate the shards, find lost tests, and collect the problems.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ci::Shard;
use crate::junit::Outcome;
use crate::junit::merge::MergedTest;
use crate::junit::node_id::{NodeIdMapper, dotted_module, to_junit_names};
use crate::pytest::manifest::Manifest;
use crate::report::location::locate;
use crate::report::rebuild::Rebuilt;
use crate::text::plural;

use super::{
    Failure, Flaky, Inputs, Notice, NoticeKind, Problem, ProblemKind, ShardResources, ShardRow,
    Shards, Slow, Summary, Totals, first_line,
};

pub(super) fn build(inputs: &Inputs) -> Summary {
    let mapper = mapper_for(inputs);
    let index = index_tests(inputs, &mapper);
    let mut problems: Vec<Problem> = inputs.unusable.clone();
    problems.extend(index.problems.iter().cloned());

    let collection = collection_phase(inputs);
    let mut folded = fold_tests(&index.tests, &mapper, &collection.xpassed);
    folded.totals.deselected = collection.deselected;
    problems.extend(crash_problems(&folded.crashes));
    problems.extend(duplicates_problem(&index.tests, inputs));
    let (shards, shard_problems) = count_shards(inputs, index.files_read);
    problems.extend(shard_problems);
    problems.extend(fingerprint_problem(inputs));
    let (shard_rows, crashed) = shard_rows(inputs, &index.per_shard);
    problems.extend(crashed);
    problems.extend(lost_tests_problem(inputs, &index.tests));
    if index.files_read == 0 && inputs.manifests.iter().all(|m| m.manifest.pytest_started) {
        problems.push(Problem::new(
            ProblemKind::NoResults,
            "no JUnit results were found in the inputs",
        ));
    } else if folded.totals.tests == 0 && planned_anything(inputs) {
        // pytest's own meaning of exit 5: a run that ran nothing is not a green run, even
        // when each shard had a good reason.
        problems.push(Problem::new(
            ProblemKind::NoResults,
            format!(
                "no tests ran although the plan had tests ({} deselected by your filters, {} collected nothing)",
                collection.deselected,
                plural_files(collection.collected_nothing.len())
            ),
        ));
    }
    problems.sort_by_key(|a| a.kind);
    let passed_ids = index
        .tests
        .iter()
        .filter(|t| t.test.last.outcome == Outcome::Passed)
        .map(|t| t.id.clone())
        .collect();

    Summary {
        totals: folded.totals,
        failures: folded.failures,
        flaky: folded.flaky,
        slowest: slowest(&index.tests),
        shards,
        wall_seconds: wall_seconds(&shard_rows, index.declared_wall),
        shard_rows,
        problems,
        notices: net_notices(inputs),
        workers: common_workers(inputs),
        files_read: index.files_read,
        outcomes: index
            .tests
            .iter()
            .map(|t| final_outcome(t, &collection.xpassed))
            .collect(),
        observed: index
            .tests
            .into_iter()
            .map(|t| (t.id, t.test.total_seconds))
            .collect(),
        collected_nothing: collection.collected_nothing,
        not_found: collection.not_found,
        // Every shard planned from the same chain; the first manifest that says speaks for all.
        timings_source: inputs
            .manifests
            .iter()
            .find_map(|m| m.manifest.timings_source.clone()),
        passed_ids,
        quarantine: Default::default(),
        coverage: None,
        comparison: None,
        fail_on: Default::default(),
    }
}

fn plural_files(n: usize) -> String {
    crate::text::count(n as u64, "planned file", "planned files")
}

/// What the shards' manifests say pytest collected, all shards together.
#[derive(Default)]
struct CollectionCounts<'a> {
    deselected: u64,
    collected_nothing: Vec<String>,
    not_found: Vec<String>,
    /// Node ids of non-strict XPASSes (JUnit calls them passes).
    xpassed: BTreeSet<&'a str>,
}

fn collection_phase(inputs: &Inputs) -> CollectionCounts<'_> {
    let mut out = CollectionCounts::default();
    for m in &inputs.manifests {
        let c = &m.manifest.collected;
        out.deselected += c.deselected;
        out.collected_nothing.extend(
            c.files
                .iter()
                .filter(|(_, f)| f.collected == 0)
                .map(|(path, _)| path.clone()),
        );
        out.not_found.extend(c.not_found.iter().cloned());
        out.xpassed
            .extend(m.manifest.xpassed.iter().map(String::as_str));
    }
    out.collected_nothing.sort();
    out.collected_nothing.dedup();
    out.not_found.sort();
    out.not_found.dedup();
    out
}

/// Whether any shard that ran pytest was given tests.
fn planned_anything(inputs: &Inputs) -> bool {
    inputs.manifests.iter().any(|m| {
        let s = &m.manifest.selection;
        m.manifest.pytest_started && !(s.node_ids.is_empty() && s.files.is_empty())
    })
}

/// The test files named by the manifests' selections make node ids of xunit2 files exact.
fn mapper_for(inputs: &Inputs) -> NodeIdMapper {
    let known_files: BTreeSet<&str> = inputs
        .manifests
        .iter()
        .flat_map(|m| m.manifest.selection.files.iter().map(String::as_str))
        .collect();
    NodeIdMapper::with_files(known_files.iter().copied())
}

/// One reported test with its node id. Ids are built once and moved into `observed` at the
/// end: with a million tests every clone shows in time and memory.
struct Reported<'a> {
    id: String,
    shard: Option<Shard>,
    test: &'a MergedTest,
    /// Index of its file in `Inputs::files`.
    file: usize,
}

/// Every readable file's tests, and what the files themselves say.
struct Index<'a> {
    tests: Vec<Reported<'a>>,
    files_read: u32,
    /// Unreadable and truncated files, in input order.
    problems: Vec<Problem>,
    /// The longest time a file declares for itself.
    declared_wall: Option<f64>,
    /// Shard index → (tests, failed or errored).
    per_shard: BTreeMap<u32, (u64, u64)>,
}

fn index_tests<'a>(inputs: &'a Inputs, mapper: &NodeIdMapper) -> Index<'a> {
    let mut index = Index {
        tests: Vec::new(),
        files_read: 0,
        problems: Vec::new(),
        declared_wall: None,
        per_shard: BTreeMap::new(),
    };
    for (file_index, file) in inputs.files.iter().enumerate() {
        let report = match &file.result {
            Ok(report) => report,
            Err(message) => {
                index
                    .problems
                    .push(Problem::new(ProblemKind::Unreadable, message.clone()).at(&file.path));
                continue;
            }
        };
        index.files_read += 1;
        if let Some(reason) = &report.truncated {
            index
                .problems
                .push(truncated_problem(&file.path, reason, file.tests.len()));
        }
        if let Some(s) = report.declared_seconds {
            index.declared_wall = Some(index.declared_wall.map_or(s, |w: f64| w.max(s)));
        }
        for test in &file.tests {
            let last = &test.last;
            let id = mapper.node_id(&last.classname, &last.name, last.file.as_deref());
            if let Some(shard) = file.shard {
                let entry = index.per_shard.entry(shard.index).or_default();
                entry.0 += 1;
                entry.1 += u64::from(last.outcome.is_bad());
            }
            index.tests.push(Reported {
                id,
                shard: file.shard,
                test,
                file: file_index,
            });
        }
    }
    index
}

fn truncated_problem(path: &str, reason: &str, tests: usize) -> Problem {
    Problem::new(
        ProblemKind::Truncated,
        format!(
            "`{path}` is truncated: {reason}; its {tests} complete {} are counted, anything after is lost",
            plural(tests as u64, "test", "tests")
        ),
    )
    .at(path)
}

/// Node id → the files it ran in, for ids reported by more than one file.
fn duplicates(tests: &[Reported<'_>], inputs: &Inputs) -> BTreeMap<String, Vec<String>> {
    let mut duplicates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(tests.len());
    for t in tests {
        match seen.get(t.id.as_str()) {
            Some(&first) if first != t.file => {
                duplicates
                    .entry(t.id.clone())
                    .or_insert_with(|| vec![inputs.files[first].path.clone()])
                    .push(inputs.files[t.file].path.clone());
            }
            Some(_) => {}
            None => {
                seen.insert(&t.id, t.file);
            }
        }
    }
    duplicates
}

fn duplicates_problem(tests: &[Reported<'_>], inputs: &Inputs) -> Option<Problem> {
    let duplicates = duplicates(tests, inputs);
    if duplicates.is_empty() {
        return None;
    }
    let n = duplicates.len();
    let examples: Vec<String> = duplicates
        .iter()
        .take(5)
        .map(|(id, files)| format!("`{id}` ({})", files.join(", ")))
        .collect();
    Some(Problem::new(
        ProblemKind::DuplicatedTests,
        format!(
            "{n} {} ran in more than one file: {}{}",
            plural(n as u64, "test", "tests"),
            examples.join("; "),
            more_suffix(n, 5)
        ),
    ))
}

/// Totals, failures (sorted), flaky tests and worker crashes of the reported tests.
#[derive(Default)]
struct Folded {
    totals: Totals,
    failures: Vec<Failure>,
    flaky: Vec<Flaky>,
    /// (shard, worker, node id) of each xdist worker crash.
    crashes: Vec<(Option<Shard>, String, String)>,
}

fn fold_tests(tests: &[Reported<'_>], mapper: &NodeIdMapper, xpassed: &BTreeSet<&str>) -> Folded {
    let mut folded = Folded::default();
    for t in tests {
        count(&mut folded.totals, t.test);
        if t.test.last.outcome == Outcome::Passed && xpassed.contains(t.id.as_str()) {
            folded.totals.passed -= 1;
            folded.totals.xpassed += 1;
        }
        if t.test.is_flaky() {
            folded.totals.flaky += 1;
            folded.flaky.push(Flaky {
                id: t.id.clone(),
                attempts: t.test.attempts,
                shard: t.shard.map(|s| s.index),
                first_failure: t
                    .test
                    .first_failure
                    .as_deref()
                    .map(|m| first_line(m).to_owned()),
            });
        }
        if t.test.last.outcome.is_bad() {
            let failure = failure_of(t, mapper);
            if let Some(w) = &failure.crashed_worker {
                folded.crashes.push((t.shard, w.clone(), t.id.clone()));
            }
            folded.failures.push(failure);
        }
    }
    // Crashes first (they hide other tests' results), then by location, then id.
    folded.failures.sort_by(|a, b| {
        (a.crashed_worker.is_none(), &a.file, a.line, &a.id).cmp(&(
            b.crashed_worker.is_none(),
            &b.file,
            b.line,
            &b.id,
        ))
    });
    folded
}

/// The outcome the totals count: a plain pass the plugin recorded as a non-strict XPASS is one.
fn final_outcome(t: &Reported<'_>, xpassed: &BTreeSet<&str>) -> Outcome {
    match t.test.last.outcome {
        Outcome::Passed if xpassed.contains(t.id.as_str()) => Outcome::Xpassed,
        other => other,
    }
}

fn count(t: &mut Totals, test: &MergedTest) {
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
}

fn failure_of(t: &Reported<'_>, mapper: &NodeIdMapper) -> Failure {
    let last = &t.test.last;
    let (file, line) = locate(last, mapper);
    Failure {
        id: t.id.clone(),
        file,
        line,
        outcome: last.outcome,
        message: last
            .message
            .clone()
            .or_else(|| last.text.as_deref().map(|t| first_line(t).to_owned()))
            .unwrap_or_default(),
        shard: t.shard.map(|s| s.index),
        shard_total: t.shard.map(|s| s.total),
        text: last.text.clone(),
        attempts: t.test.attempts,
        crashed_worker: last.crashed_worker().map(str::to_owned),
    }
}

fn crash_problems(crashes: &[(Option<Shard>, String, String)]) -> Vec<Problem> {
    crashes
        .iter()
        .map(|(shard, worker, id)| {
            let at = shard.map(|s| format!(" on shard {s}")).unwrap_or_default();
            Problem::new(
                ProblemKind::CrashedWorker,
                format!("xdist worker `{worker}` crashed{at} while running `{id}`"),
            )
        })
        .collect()
}

/// The 10 slowest tests by their last attempt, slowest first: selected by index, so only those
/// ids are cloned.
fn slowest(tests: &[Reported<'_>]) -> Vec<Slow> {
    let mut order: Vec<usize> = (0..tests.len()).collect();
    let slower = |a: &usize, b: &usize| {
        let (x, y) = (&tests[*a], &tests[*b]);
        y.test
            .last
            .time_seconds
            .total_cmp(&x.test.last.time_seconds)
            .then_with(|| x.id.cmp(&y.id))
    };
    if order.len() > 10 {
        order.select_nth_unstable_by(9, slower);
        order.truncate(10);
    }
    order.sort_by(slower);
    order
        .into_iter()
        .map(|i| Slow {
            id: tests[i].id.clone(),
            seconds: tests[i].test.last.time_seconds,
            shard: tests[i].shard.map(|s| s.index),
        })
        .collect()
}

/// Expected, found and missing shards, and the problems they make: a manifest whose JUnit is
/// not among the inputs, a shard beyond the expected count, shards that never reported.
fn count_shards(inputs: &Inputs, files_read: u32) -> (Shards, Vec<Problem>) {
    let mut problems = Vec::new();
    let expected = inputs
        .only_shard
        .map(|s| s.total)
        .or(inputs.expect_shards)
        .or_else(|| {
            inputs
                .manifests
                .iter()
                .map(|m| m.manifest.shard_total)
                .max()
        })
        .or_else(|| {
            inputs
                .files
                .iter()
                .filter_map(|f| f.shard.map(|s| s.total))
                .max()
        });
    let mut found: BTreeSet<u32> = inputs
        .files
        .iter()
        .filter(|f| f.result.is_ok())
        .filter_map(|f| f.shard.map(|s| s.index))
        .collect();
    for m in &inputs.manifests {
        // An empty shard never starts pytest and writes no JUnit: its manifest is its report.
        if !m.manifest.pytest_started {
            found.insert(m.manifest.shard_index);
        } else if !m.junit_found && m.rebuilt.is_none() {
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
    let mut shards = Shards {
        expected,
        found: if expected.is_some() {
            found.len() as u32
        } else {
            files_read
        },
        missing: Vec::new(),
        only: None,
    };
    if let Some(only) = inputs.only_shard {
        shards.only = Some(only);
        shards.found = u32::from(found.contains(&only.index));
        problems.extend(only_shard_problems(only, &found));
        if !found.contains(&only.index) {
            shards.missing = vec![only.index];
        }
        return (shards, problems);
    }
    let Some(n) = expected else {
        return (shards, problems);
    };
    shards.missing = (1..=n).filter(|i| !found.contains(i)).collect();
    for i in found.iter().filter(|&&i| i > n) {
        problems.push(Problem::new(
            ProblemKind::MissingShard,
            format!("a report for shard {i} arrived but only {n} shards were expected"),
        ));
    }
    if !shards.missing.is_empty() {
        let list: Vec<String> = shards.missing.iter().map(|i| format!("{i}/{n}")).collect();
        problems.push(Problem::new(
            ProblemKind::MissingShard,
            format!(
                "{} of {n} shards did not report: {}",
                list.len(),
                list.join(", ")
            ),
        ));
    }
    (shards, problems)
}

/// A shard job's report on itself: reports of other shards are out of place, and its own
/// missing report is said as such (never "1 of 1 shards").
fn only_shard_problems(only: Shard, found: &BTreeSet<u32>) -> Vec<Problem> {
    let mut problems: Vec<Problem> = found
        .iter()
        .filter(|&&i| i != only.index)
        .map(|i| {
            Problem::new(
                ProblemKind::MissingShard,
                format!("a report for shard {i} arrived but only shard {only} was expected"),
            )
        })
        .collect();
    if !found.contains(&only.index) {
        problems.push(Problem::new(
            ProblemKind::MissingShard,
            format!("shard {only} did not report"),
        ));
    }
    problems
}

/// Shards that computed different plans may lose tests or run them twice.
fn fingerprint_problem(inputs: &Inputs) -> Option<Problem> {
    let mut fingerprints: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in &inputs.manifests {
        fingerprints
            .entry(m.manifest.fingerprint.as_str())
            .or_default()
            .push(format!(
                "{}/{}",
                m.manifest.shard_index, m.manifest.shard_total
            ));
    }
    if fingerprints.len() <= 1 {
        return None;
    }
    let groups: Vec<String> = fingerprints
        .iter()
        .map(|(fp, shards)| format!("`{}` on shard {}", short(fp), shards.join(", ")))
        .collect();
    Some(Problem::new(
        ProblemKind::FingerprintMismatch,
        format!(
            "shards computed different plans, so tests may be lost or run twice: {}",
            groups.join("; ")
        ),
    ))
}

/// The balance table, one row per shard (from its manifest, else from its JUnit file), and a
/// problem for each shard whose pytest crashed.
fn shard_rows(
    inputs: &Inputs,
    per_shard: &BTreeMap<u32, (u64, u64)>,
) -> (Vec<ShardRow>, Vec<Problem>) {
    let counts = |i: u32| per_shard.get(&i).copied().unwrap_or_default();
    let mut problems = Vec::new();
    let mut rows: BTreeMap<u32, ShardRow> = BTreeMap::new();
    for m in &inputs.manifests {
        let man = &m.manifest;
        if let Some(how) = shard_crash(man) {
            let message = match &m.rebuilt {
                Some(rebuilt) => rebuilt_crash(man, &how, rebuilt),
                None => format!(
                    "pytest on shard {}/{} {how}",
                    man.shard_index, man.shard_total
                ),
            };
            problems.push(Problem::new(ProblemKind::ShardCrashed, message).at(&m.path));
        }
        let (tests, failed) = counts(man.shard_index);
        rows.insert(
            man.shard_index,
            ShardRow {
                index: man.shard_index,
                total: man.shard_total,
                predicted_seconds: Some(man.predicted_seconds),
                estimated: man.estimated,
                predicted_wall_seconds: man.predicted_cost.as_ref().map(|c| c.wall_seconds),
                wall_estimated: man.predicted_cost.as_ref().is_some_and(|c| c.estimated),
                error_percent: man.predicted_cost.as_ref().and_then(|c| {
                    let e =
                        crate::timings::store::ShardError::new(c.wall_seconds, man.wall_seconds)?;
                    man.pytest_started.then_some(e.error_percent)
                }),
                measured_costs: man.fixed_costs.clone(),
                actual_seconds: Some(man.wall_seconds),
                workers: Some(man.workers),
                tests,
                failed,
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
        let (tests, failed) = counts(shard.index);
        rows.entry(shard.index).or_insert(ShardRow {
            index: shard.index,
            total: shard.total,
            predicted_seconds: None,
            estimated: false,
            predicted_wall_seconds: None,
            wall_estimated: false,
            error_percent: None,
            measured_costs: None,
            actual_seconds: report.declared_seconds,
            workers: None,
            tests,
            failed,
            exit_code: None,
            signal: None,
            resources: None,
        });
    }
    (rows.into_values().collect(), problems)
}

/// The one line for a shard rebuilt from its results log: how pytest ended, the test it was
/// running, and how many finished before it (their results are in the report).
fn rebuilt_crash(man: &Manifest, how: &str, rebuilt: &Rebuilt) -> String {
    let on = if man.shard_total > 1 {
        format!(" on shard {}/{}", man.shard_index, man.shard_total)
    } else {
        String::new()
    };
    let finished = format!(
        "{} {}",
        rebuilt.finished,
        plural(rebuilt.finished as u64, "test", "tests")
    );
    let phase = if rebuilt.serial {
        " in the serial phase"
    } else {
        ""
    };
    match &rebuilt.running {
        Some(id) => {
            format!("pytest{on} {how} while running `{id}`{phase}; {finished} finished before it")
        }
        None => format!("pytest{on} {how}{phase} after {finished} finished"),
    }
}

/// How pytest on a shard ended badly (killed, interrupted, internal or usage error, or never
/// finished), or `None`. Exit codes 0, 1 and 5 are test outcomes, not crashes.
fn shard_crash(man: &Manifest) -> Option<String> {
    let bad_exit = matches!(man.exit_code, Some(c) if !(0..=1).contains(&c) && c != 5);
    let unfinished = man.pytest_started && man.exit_code.is_none();
    if man.signal.is_none() && !bad_exit && man.interrupted_by.is_none() && !unfinished {
        return None;
    }
    Some(match (&man.interrupted_by, &man.signal, man.exit_code) {
        (Some(sig), _, _) => format!("was interrupted by {sig} (job cancelled?)"),
        (None, Some(sig), _) => format!("was killed by {sig}"),
        (None, None, Some(code)) => format!("exited with code {code}"),
        (None, None, None) => "did not finish".into(),
    })
}

/// Shards run in parallel: the longest shard, else the longest time a file declares.
fn wall_seconds(rows: &[ShardRow], declared: Option<f64>) -> Option<f64> {
    rows.iter()
        .filter_map(|r| r.actual_seconds)
        .reduce(f64::max)
        .or(declared)
}

/// Workers per shard when every manifest agrees.
fn common_workers(inputs: &Inputs) -> Option<u32> {
    let workers: BTreeSet<u32> = inputs
        .manifests
        .iter()
        .map(|m| m.manifest.workers)
        .collect();
    (workers.len() == 1).then(|| *workers.iter().next().unwrap_or(&1))
}

/// What the shards' nets found: files discovery missed (and where they ran), planned files
/// pytest does not collect.
fn net_notices(inputs: &Inputs) -> Vec<Notice> {
    let mut missed: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    let mut left_out: BTreeSet<&str> = BTreeSet::new();
    for net in inputs
        .manifests
        .iter()
        .filter_map(|m| m.manifest.net.as_ref())
    {
        for f in &net.missed {
            missed.entry(f.shard).or_default().push(&f.file);
        }
        left_out.extend(net.not_collected.iter().map(String::as_str));
    }
    let quoted = |files: &mut dyn Iterator<Item = &str>, n: usize| -> String {
        let shown: Vec<String> = files.take(10).map(|f| format!("`{f}`")).collect();
        format!("{}{}", shown.join(", "), more_suffix(n, 10))
    };
    let mut notices = Vec::new();
    let n: usize = missed.values().map(Vec::len).sum();
    if n > 0 {
        let places: Vec<String> = missed
            .iter()
            .map(|(shard, files)| {
                format!(
                    "shard {shard}: {}",
                    quoted(&mut files.iter().copied(), files.len())
                )
            })
            .collect();
        let shards: Vec<String> = missed.keys().map(u32::to_string).collect();
        notices.push(Notice {
            kind: NoticeKind::DiscoveryMissed,
            message: format!(
                "discovery missed {}; {} in {} {} ({}): plan with `--collect`, or fix the config discovery reads",
                crate::text::count(n as u64, "file", "files"),
                plural(n as u64, "it ran", "they ran"),
                plural(shards.len() as u64, "shard", "shards"),
                shards.join(", "),
                places.join("; ")
            ),
            count: n as u64,
        });
    }
    if !left_out.is_empty() {
        notices.push(Notice {
            kind: NoticeKind::NotCollected,
            message: format!(
                "{} planned, but pytest does not collect {} in a plain run (`collect_ignore` or a hook), so {} left out: {}",
                crate::text::count(left_out.len() as u64, "file was", "files were"),
                plural(left_out.len() as u64, "it", "them"),
                plural(left_out.len() as u64, "it was", "they were"),
                quoted(&mut left_out.iter().copied(), left_out.len())
            ),
            count: left_out.len() as u64,
        });
    }
    notices
}

/// Planned node ids no file reported, and planned files with no reported test at all.
fn lost_tests(inputs: &Inputs, tests: &[Reported<'_>]) -> (Vec<String>, Vec<String>) {
    let mut lost_ids = Vec::new();
    let mut lost_files = Vec::new();
    // Only shards that ran pytest and whose JUnit arrived: the others are missing shards.
    let ran: Vec<&Manifest> = inputs
        .manifests
        .iter()
        .filter(|m| m.manifest.pytest_started && m.junit_found)
        .map(|m| &m.manifest)
        .collect();
    if !planned_anything(inputs) {
        return (lost_ids, lost_files);
    }
    let reported_keys: BTreeSet<(&str, &str)> = tests
        .iter()
        .map(|t| (t.test.last.classname.as_str(), t.test.last.name.as_str()))
        .collect();
    let reported_modules: BTreeSet<&str> = tests
        .iter()
        .map(|t| t.test.last.classname.as_str())
        .collect();
    for m in ran {
        // Not lost: an id that matched nothing (renamed or deleted since the timings), an id
        // or a file the user's filters deselected whole, a file with no test in it.
        let c = &m.collected;
        let not_lost: BTreeSet<&String> = c.not_found.iter().chain(&c.deselected_ids).collect();
        for id in &m.selection.node_ids {
            if not_lost.contains(id) {
                continue;
            }
            let (classname, name) = to_junit_names(id);
            if !planned_id_reported(&reported_keys, &classname, &name) {
                lost_ids.push(id.clone());
            }
        }
        let left_out = m.net.as_ref().map(|n| n.not_collected.as_slice());
        for file in &m.selection.files {
            if left_out.is_some_and(|l| l.contains(file))
                || c.files
                    .get(file)
                    .is_some_and(|f| f.collected == f.deselected)
            {
                continue;
            }
            if !module_reported(&reported_modules, &dotted_module(file)) {
                lost_files.push(file.clone());
            }
        }
    }
    (lost_ids, lost_files)
}

/// A module is reported when a testcase's classname is the module or a class inside it.
fn module_reported(reported_modules: &BTreeSet<&str>, module: &str) -> bool {
    reported_modules
        .range(module..)
        .next()
        .is_some_and(|c| *c == module || c.starts_with(&format!("{module}.")))
}

fn lost_tests_problem(inputs: &Inputs, tests: &[Reported<'_>]) -> Option<Problem> {
    let (lost_ids, lost_files) = lost_tests(inputs, tests);
    let shown = |items: &[String]| -> String {
        let quoted: Vec<String> = items.iter().take(10).map(|i| format!("`{i}`")).collect();
        format!("{}{}", quoted.join(", "), more_suffix(items.len(), 10))
    };
    let mut parts = Vec::new();
    if !lost_ids.is_empty() {
        parts.push(format!(
            "{} planned {} never reported: {}",
            lost_ids.len(),
            plural(lost_ids.len() as u64, "test was", "tests were"),
            shown(&lost_ids)
        ));
    }
    if !lost_files.is_empty() {
        parts.push(format!(
            "no test of {} planned {} was reported (lost, or the file has no tests): {}",
            lost_files.len(),
            plural(lost_files.len() as u64, "file", "files"),
            shown(&lost_files)
        ));
    }
    (!parts.is_empty()).then(|| Problem::new(ProblemKind::LostTests, parts.join("; ")))
}

fn more_suffix(n: usize, shown: usize) -> String {
    if n > shown {
        format!(" and {} more", n - shown)
    } else {
        String::new()
    }
}

fn short(fp: &str) -> &str {
    &fp[..crate::text::floor_char_boundary(fp, 12)]
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
mod tests {
    use super::*;
    use crate::junit::{FileReport, TestCase};
    use crate::report::model::{LoadedFile, LoadedManifest};

    fn case(classname: &str, name: &str, outcome: Outcome, seconds: f64) -> TestCase {
        TestCase {
            classname: classname.into(),
            name: name.into(),
            file: None,
            line: None,
            time_seconds: seconds,
            outcome,
            message: outcome.is_bad().then(|| format!("{name} went wrong")),
            text: None,
            inner_reruns: 0,
        }
    }

    fn file(path: &str, shard: Option<(u32, u32)>, cases: Vec<TestCase>) -> LoadedFile {
        let report = FileReport {
            cases,
            truncated: None,
            declared_seconds: Some(2.0),
            suites: 1,
            ..FileReport::default()
        };
        LoadedFile::new(path.into(), shard.map(shard_of), Ok(report))
    }

    fn shard_of((index, total): (u32, u32)) -> Shard {
        format!("{index}/{total}").parse().unwrap()
    }

    fn manifest(index: u32, total: u32, extra: serde_json::Value) -> LoadedManifest {
        let mut json = serde_json::json!({
            "manifest_version": 1, "tool_version": "0", "fingerprint": "fp-aaaaaaaaaaaa",
            "shard_index": index, "shard_total": total,
            "selection": {"files": [], "node_ids": [], "deselect": []},
            "predicted_seconds": 1.0, "wall_seconds": 3.0, "workers": 2,
            "exit_code": 0, "signal": null, "pytest_started": true,
            "junit_file": format!("junit-{index}-of-{total}.xml"),
            "python": {"executable": "python3", "version": "3.12", "pytest": "8"},
        });
        for (k, v) in extra.as_object().unwrap() {
            json[k] = v.clone();
        }
        LoadedManifest {
            path: format!("shard-{index}-of-{total}.json"),
            manifest: serde_json::from_value(json).unwrap(),
            junit_found: true,
            rebuilt: None,
        }
    }

    fn inputs(files: Vec<LoadedFile>, manifests: Vec<LoadedManifest>) -> Inputs {
        Inputs {
            files,
            manifests,
            ..Inputs::default()
        }
    }

    fn ids<'a>(tests: &'a [Reported<'_>]) -> Vec<&'a str> {
        tests.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn index_counts_per_shard_and_names_bad_files() {
        let mut truncated = file(
            "junit-1-of-2.xml",
            Some((1, 2)),
            vec![
                case("tests.test_a", "test_ok", Outcome::Passed, 0.1),
                case("tests.test_a", "test_bad", Outcome::Failed, 0.2),
            ],
        );
        if let Ok(report) = &mut truncated.result {
            report.truncated = Some("unexpected end".into());
            report.declared_seconds = Some(7.0);
        }
        let unreadable = LoadedFile::new("x.xml".into(), None, Err("`x.xml` is empty".into()));
        let inputs = inputs(vec![truncated, unreadable], vec![]);
        let index = index_tests(&inputs, &NodeIdMapper::new());
        assert_eq!(
            ids(&index.tests),
            ["tests/test_a.py::test_bad", "tests/test_a.py::test_ok"]
        );
        assert_eq!(index.files_read, 1);
        assert_eq!(index.per_shard[&1], (2, 1));
        assert_eq!(index.declared_wall, Some(7.0));
        let kinds: Vec<ProblemKind> = index.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::Truncated, ProblemKind::Unreadable]);
        assert!(
            index.problems[0]
                .message
                .contains("its 2 complete tests are counted")
        );
    }

    #[test]
    fn the_same_test_in_two_files_is_a_duplicate() {
        let c = || vec![case("tests.test_a", "test_x", Outcome::Passed, 0.1)];
        let inputs = inputs(
            vec![file("a.xml", None, c()), file("b.xml", None, c())],
            vec![],
        );
        let index = index_tests(&inputs, &NodeIdMapper::new());
        let problem = duplicates_problem(&index.tests, &inputs).unwrap();
        assert_eq!(
            problem.message,
            "1 test ran in more than one file: `tests/test_a.py::test_x` (a.xml, b.xml)"
        );
        let one = super::super::Inputs {
            files: vec![file("a.xml", None, c())],
            ..Inputs::default()
        };
        assert!(duplicates_problem(&index_tests(&one, &NodeIdMapper::new()).tests, &one).is_none());
    }

    #[test]
    fn folding_counts_outcomes_and_puts_crashes_first() {
        let mut crash = case("tests.test_z", "test_crash", Outcome::Error, 0.0);
        crash.message =
            Some("worker 'gw1' crashed while running 'tests/test_z.py::test_crash'".into());
        let inputs = inputs(
            vec![file(
                "j.xml",
                Some((2, 3)),
                vec![
                    case("tests.test_a", "test_f", Outcome::Failed, 0.5),
                    case("tests.test_a", "test_f", Outcome::Passed, 0.5),
                    case("tests.test_a", "test_g", Outcome::Failed, 0.5),
                    case("tests.test_b", "test_s", Outcome::Skipped, 0.0),
                    crash,
                ],
            )],
            vec![],
        );
        let mapper = NodeIdMapper::new();
        let folded = fold_tests(
            &index_tests(&inputs, &mapper).tests,
            &mapper,
            &BTreeSet::new(),
        );
        let t = folded.totals;
        assert_eq!(
            (t.tests, t.passed, t.failed, t.errors, t.skipped, t.flaky),
            (4, 1, 1, 1, 1, 1)
        );
        let failed: Vec<&str> = folded.failures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            failed,
            ["tests/test_z.py::test_crash", "tests/test_a.py::test_g"]
        );
        assert_eq!(folded.failures[1].message, "test_g went wrong");
        assert_eq!(
            folded.flaky[0].first_failure.as_deref(),
            Some("test_f went wrong")
        );
        let crashes = crash_problems(&folded.crashes);
        assert_eq!(
            crashes[0].message,
            "xdist worker `gw1` crashed on shard 2/3 while running `tests/test_z.py::test_crash`"
        );
    }

    #[test]
    fn slowest_are_ten_by_time_then_id() {
        let cases = (0..12)
            .map(|i| {
                case(
                    "tests.test_a",
                    &format!("test_{i:02}"),
                    Outcome::Passed,
                    f64::from(i % 6),
                )
            })
            .collect();
        let inputs = inputs(vec![file("j.xml", None, cases)], vec![]);
        let index = index_tests(&inputs, &NodeIdMapper::new());
        let slow: Vec<String> = slowest(&index.tests).into_iter().map(|s| s.id).collect();
        assert_eq!(slow.len(), 10);
        assert_eq!(slow[0], "tests/test_a.py::test_05");
        assert_eq!(slow[1], "tests/test_a.py::test_11");
    }

    #[test]
    fn a_shard_reporting_on_itself_expects_no_other_shard() {
        let c = || vec![case("tests.test_a", "test_x", Outcome::Passed, 0.1)];
        let mut own = inputs(vec![file("junit-2-of-3.xml", Some((2, 3)), c())], vec![]);
        own.only_shard = Some(shard_of((2, 3)));
        let (shards, problems) = count_shards(&own, 1);
        assert_eq!(
            (shards.found, shards.missing.len(), problems.len()),
            (1, 0, 0)
        );

        own.only_shard = Some(shard_of((3, 3)));
        let (shards, problems) = count_shards(&own, 1);
        assert_eq!(shards.missing, [3]);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "a report for shard 2 arrived but only shard 3/3 was expected",
                "shard 3/3 did not report",
            ]
        );
    }

    #[test]
    fn shards_counted_against_the_expected_number() {
        let c = || vec![case("tests.test_a", "test_x", Outcome::Passed, 0.1)];
        let mut no_junit = manifest(2, 3, serde_json::json!({}));
        no_junit.junit_found = false;
        let mut extra = inputs(
            vec![
                file("junit-1-of-3.xml", Some((1, 3)), c()),
                file("junit-4-of-4.xml", Some((4, 4)), c()),
            ],
            vec![no_junit],
        );
        extra.expect_shards = Some(3);
        let (shards, problems) = count_shards(&extra, 2);
        assert_eq!(
            shards,
            Shards {
                expected: Some(3),
                found: 2,
                missing: vec![2, 3],
                only: None,
            }
        );
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "shard 2/3 ran pytest but its JUnit file `junit-2-of-3.xml` is not among the inputs",
                "a report for shard 4 arrived but only 3 shards were expected",
                "2 of 3 shards did not report: 2/3, 3/3",
            ]
        );
        let plain = inputs(vec![file("a.xml", None, c())], vec![]);
        assert_eq!(
            count_shards(&plain, 1),
            (
                Shards {
                    expected: None,
                    found: 1,
                    missing: vec![],
                    only: None,
                },
                vec![]
            )
        );
    }

    #[test]
    fn different_plan_fingerprints_are_a_problem() {
        let same = inputs(
            vec![],
            vec![
                manifest(1, 2, serde_json::json!({})),
                manifest(2, 2, serde_json::json!({})),
            ],
        );
        assert!(fingerprint_problem(&same).is_none());
        let other = manifest(
            2,
            2,
            serde_json::json!({"fingerprint": "fp-bbbbbbbbbbbbbbbb"}),
        );
        let differ = inputs(vec![], vec![manifest(1, 2, serde_json::json!({})), other]);
        assert_eq!(
            fingerprint_problem(&differ).unwrap().message,
            "shards computed different plans, so tests may be lost or run twice: `fp-aaaaaaaaa` on shard 1/2; `fp-bbbbbbbbb` on shard 2/2"
        );
    }

    #[test]
    fn shard_crashes_say_how() {
        let how = |extra| shard_crash(&manifest(1, 1, extra).manifest);
        assert_eq!(how(serde_json::json!({})), None);
        assert_eq!(how(serde_json::json!({"exit_code": 1})), None);
        assert_eq!(how(serde_json::json!({"exit_code": 5})), None);
        assert_eq!(
            how(serde_json::json!({"exit_code": 3})).as_deref(),
            Some("exited with code 3")
        );
        assert_eq!(
            how(serde_json::json!({"exit_code": null, "signal": "SIGKILL"})).as_deref(),
            Some("was killed by SIGKILL")
        );
        assert_eq!(
            how(serde_json::json!({"interrupted_by": "SIGTERM"})).as_deref(),
            Some("was interrupted by SIGTERM (job cancelled?)")
        );
        assert_eq!(
            how(serde_json::json!({"exit_code": null})).as_deref(),
            Some("did not finish")
        );
        assert_eq!(
            how(serde_json::json!({"exit_code": null, "pytest_started": false})),
            None
        );
    }

    #[test]
    fn rows_come_from_manifests_then_files_and_set_the_wall_time() {
        let c = || vec![case("tests.test_a", "test_x", Outcome::Failed, 0.1)];
        let inputs = inputs(
            vec![
                file("junit-1-of-2.xml", Some((1, 2)), c()),
                file("junit-2-of-2.xml", Some((2, 2)), c()),
            ],
            vec![manifest(1, 2, serde_json::json!({"exit_code": 4}))],
        );
        let index = index_tests(&inputs, &NodeIdMapper::new());
        let (rows, problems) = shard_rows(&inputs, &index.per_shard);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].actual_seconds, rows[0].workers, rows[0].failed),
            (Some(3.0), Some(2), 1)
        );
        assert_eq!((rows[1].actual_seconds, rows[1].workers), (Some(2.0), None));
        assert_eq!(
            problems[0].message,
            "pytest on shard 1/2 exited with code 4"
        );
        assert_eq!(wall_seconds(&rows, Some(9.0)), Some(3.0));
        assert_eq!(wall_seconds(&[], Some(9.0)), Some(9.0));
        assert_eq!(common_workers(&inputs), Some(2));
    }

    #[test]
    fn deselected_empty_and_vanished_are_not_lost_and_xpass_is_counted() {
        let extra = serde_json::json!({
            "selection": {
                "files": ["tests/test_a.py", "tests/test_slow.py", "tests/test_empty.py"],
                "node_ids": ["tests/test_b.py::test_gone", "tests/test_c.py::test_slow"],
                "deselect": []
            },
            "files": {
                "tests/test_a.py": {"collected": 2, "deselected": 0},
                "tests/test_slow.py": {"collected": 3, "deselected": 3},
                "tests/test_empty.py": {"collected": 0, "deselected": 0},
                "tests/test_c.py": {"collected": 1, "deselected": 1}
            },
            "deselected": 4,
            "not_found": ["tests/test_b.py::test_gone"],
            "deselected_ids": ["tests/test_c.py::test_slow"],
            "xpassed": ["tests/test_a.py::test_xp"]
        });
        let inputs = inputs(
            vec![file(
                "junit-1-of-1.xml",
                Some((1, 1)),
                vec![
                    case("tests.test_a", "test_x", Outcome::Passed, 0.1),
                    case("tests.test_a", "test_xp", Outcome::Passed, 0.1),
                ],
            )],
            vec![manifest(1, 1, extra)],
        );
        let summary = build(&inputs);
        assert!(summary.complete(), "{:?}", summary.problems);
        let t = summary.totals;
        assert_eq!((t.tests, t.passed, t.xpassed, t.deselected), (2, 1, 1, 4));
        assert_eq!(summary.collected_nothing, ["tests/test_empty.py"]);
        assert_eq!(summary.not_found, ["tests/test_b.py::test_gone"]);
        assert_eq!(
            summary.headline(),
            "1 passed, 4 deselected, 1 xpassed in 3.00s"
        );
    }

    #[test]
    fn a_run_where_every_shard_ran_nothing_is_not_green() {
        let extra = serde_json::json!({
            "selection": {"files": ["tests/test_slow.py"], "node_ids": [], "deselect": []},
            "exit_code": 5,
            "files": {"tests/test_slow.py": {"collected": 3, "deselected": 3}},
            "deselected": 3
        });
        let inputs = inputs(
            vec![file("junit-1-of-1.xml", Some((1, 1)), vec![])],
            vec![manifest(1, 1, extra)],
        );
        let summary = build(&inputs);
        assert!(!summary.complete());
        assert_eq!(summary.problems[0].kind, ProblemKind::NoResults);
        assert!(summary.problems[0].message.starts_with("no tests ran"));
    }

    #[test]
    fn planned_tests_and_files_nobody_reported_are_lost() {
        let selection = serde_json::json!({"selection": {
            "files": ["tests/test_a.py", "tests/test_gone.py"],
            "node_ids": ["tests/test_a.py::test_x", "tests/test_a.py::test_y"],
            "deselect": []
        }});
        let inputs = inputs(
            vec![file(
                "j.xml",
                Some((1, 1)),
                vec![case("tests.test_a", "test_x", Outcome::Passed, 0.1)],
            )],
            vec![manifest(1, 1, selection)],
        );
        let index = index_tests(&inputs, &mapper_for(&inputs));
        let (ids, files) = lost_tests(&inputs, &index.tests);
        assert_eq!(
            (ids.as_slice(), files.as_slice()),
            (
                &["tests/test_a.py::test_y".to_owned()][..],
                &["tests/test_gone.py".to_owned()][..]
            )
        );
        assert_eq!(
            lost_tests_problem(&inputs, &index.tests).unwrap().message,
            "1 planned test was never reported: `tests/test_a.py::test_y`; no test of 1 planned file was reported (lost, or the file has no tests): `tests/test_gone.py`"
        );
        assert!(module_reported(
            &["tests.test_a.TestC"].into_iter().collect(),
            "tests.test_a"
        ));
        assert!(!module_reported(
            &["tests.test_ab"].into_iter().collect(),
            "tests.test_a"
        ));
    }

    #[test]
    fn complete_means_no_problem_and_failing_tests_keep_it() {
        let failing = || {
            vec![
                case("tests.test_a", "test_ok", Outcome::Passed, 0.1),
                case("tests.test_a", "test_bad", Outcome::Failed, 0.1),
            ]
        };
        let whole = build(&inputs(
            vec![file("junit-1-of-1.xml", Some((1, 1)), failing())],
            vec![],
        ));
        assert!(whole.complete() && !whole.green(), "{whole:?}");

        let mut crash = case("tests.test_z", "test_crash", Outcome::Error, 0.0);
        crash.message =
            Some("worker 'gw1' crashed while running 'tests/test_z.py::test_crash'".into());
        let mut cases = failing();
        cases.push(crash);
        let crashed = build(&inputs(
            vec![file("junit-1-of-1.xml", Some((1, 1)), cases)],
            vec![],
        ));
        assert!(!crashed.complete(), "a crashed worker: {crashed:?}");

        let mut missing = inputs(
            vec![file("junit-1-of-2.xml", Some((1, 2)), failing())],
            vec![],
        );
        missing.expect_shards = Some(2);
        assert!(!build(&missing).complete());
    }

    #[test]
    fn nothing_at_all_is_a_problem_and_not_green() {
        let summary = build(&Inputs::default());
        assert_eq!(summary.problems[0].kind, ProblemKind::NoResults);
        assert!(!summary.green());
    }

    #[test]
    fn net_findings_are_notices_and_left_out_files_are_not_lost() {
        let net = serde_json::json!({
            "selection": {"files": ["tests/test_a.py", "old/test_old.py"], "node_ids": [], "deselect": []},
            "net": {"missed": [{"file": "tests/test_y.yaml", "shard": 2}],
                    "not_collected": ["old/test_old.py"], "files_checked": 3, "walk_seconds": 0.01}});
        let inputs = inputs(
            vec![file(
                "j.xml",
                Some((2, 2)),
                vec![case("tests.test_a", "test_x", Outcome::Passed, 0.1)],
            )],
            vec![manifest(2, 2, net)],
        );
        let summary = build(&inputs);
        assert!(
            summary
                .problems
                .iter()
                .all(|p| p.kind != ProblemKind::LostTests)
        );
        let kinds: Vec<NoticeKind> = summary.notices.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [NoticeKind::DiscoveryMissed, NoticeKind::NotCollected]
        );
        assert!(
            summary.notices[0]
                .message
                .starts_with("discovery missed 1 file; it ran in shard 2"),
            "{}",
            summary.notices[0].message
        );
    }

    #[test]
    fn planned_tests_with_empty_junit_are_no_results() {
        let selection = serde_json::json!({"selection": {
            "files": ["tests/test_a.py"], "node_ids": [], "deselect": []}});
        let inputs = inputs(
            vec![file("j.xml", Some((1, 1)), vec![])],
            vec![manifest(1, 1, selection)],
        );
        let summary = build(&inputs);
        assert!(
            summary
                .problems
                .iter()
                .any(|p| p.kind == ProblemKind::NoResults && p.message.contains("no tests ran")),
            "{:?}",
            summary.problems
        );
        assert!(!summary.complete());
        // An empty plan with an empty result is an empty suite, not a problem.
        let empty = inputs_empty_plan();
        assert!(build(&empty).problems.is_empty());
    }

    fn inputs_empty_plan() -> Inputs {
        inputs(
            vec![file("j.xml", Some((1, 1)), vec![])],
            vec![manifest(1, 1, serde_json::json!({}))],
        )
    }

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
