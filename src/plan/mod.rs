//! Who runs what? Deterministic partition of the suite over shards × workers, fingerprint.
//!
//! [`build`] is the single entry point used by `plan` and `run`, so both compute the identical
//! plan: discover the suite (`suite`), read timings (`timings`), estimate unknowns, split heavy
//! files, partition, fingerprint. `pytest::command` turns one shard's plan into pytest args.

pub mod build;
pub mod constraints;
pub mod cost;
pub mod model;
pub mod partition;
pub mod processes;
#[cfg(test)]
mod proptests;
pub mod render;
pub mod units;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use model::{Plan, ShardPlan};

use crate::junit::node_id::NodeIdMapper;
use crate::node_id::{NodeId, file_part};
use crate::suite::markers::{self, Marks};
use crate::suite::{self, Suite, SuiteError, paths};
use crate::timings::{self, TimingsError, estimate};

/// How many shards to plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShardCount {
    Fixed(u32),
    /// The smallest count whose predicted makespan plus `startup_seconds` is at most `seconds`.
    Target {
        seconds: f64,
        max_shards: u32,
        startup_seconds: f64,
        /// `--max-runner-minutes` in seconds: the fewest shards that meet the target within
        /// this runner time, else the fastest count within it.
        max_runner_seconds: Option<f64>,
    },
}

/// What each shard count costs (`plan --format cost`, and the text plan's section with
/// `--target-seconds`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CostTable {
    /// Start-up of one shard job outside pytest (`--shard-startup-seconds`).
    pub job_startup_seconds: f64,
    pub target_seconds: Option<f64>,
    pub max_runner_seconds: Option<f64>,
    pub rows: Vec<CostRow>,
}

/// One shard count of a [`CostTable`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CostRow {
    pub shards: u32,
    /// The slowest shard's predicted wall (pytest, fixed costs included): the plan's own
    /// `predicted_wall_seconds` for this count.
    pub wall_seconds: f64,
    /// Runner time of all shard jobs: each pays the job start-up plus its own predicted wall.
    pub runner_seconds: f64,
    /// The count the plan uses.
    pub chosen: bool,
}

/// Runner seconds of a plan: `N × job start-up + Σ shard walls` (an empty shard's job still
/// starts, but runs no pytest).
pub fn runner_seconds(plan: &Plan, job_startup: f64) -> f64 {
    let walls: f64 = plan.shards.iter().map(ShardPlan::predicted_wall).sum();
    ((f64::from(plan.shards_total) * job_startup + walls) * 1000.0).round() / 1000.0
}

/// Everything the plan depends on besides the shard and worker counts. `plan` and `run` fill
/// it from the same settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// Where pytest will be started (`--root`, else the current directory).
    pub invocation_dir: PathBuf,
    /// Test paths given before `--`.
    pub paths: Vec<PathBuf>,
    /// Args after `--`, for pytest.
    pub pytest_args: Vec<String>,
    /// `PYTEST_ADDOPTS` as pytest will see it.
    pub env_addopts: Option<String>,
    /// `--timings` specs, relative to `timings_base`; empty → the defaults under the root.
    pub timings: Vec<String>,
    pub timings_base: PathBuf,
    /// `Some(python)` with `--collect`.
    pub collect_with: Option<PathBuf>,
    /// Serial marker and `--dist` mode.
    pub constraints: constraints::Constraints,
    /// Our own folders (the out dir), passed to `--collect`'s pytest as `--ignore` whatever
    /// the project's `norecursedirs` says: nothing of ours is ever a test.
    pub ignore: Vec<PathBuf>,
    /// `--launcher`: with `processes`, the suite is planned as `N·W` one-process sub-shards,
    /// `W` to a shard (see `processes.rs`).
    pub launcher: processes::Launcher,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Timings(#[from] TimingsError),
    #[error("`--shards` / `PARALLEL_PYTEST_SHARDS` / `shards` must be at least 1")]
    ZeroShards,
    #[error("`--target-seconds {0}` must be a positive number of seconds")]
    TargetSeconds(f64),
    #[error("`--shard-startup-seconds {0}` must be zero or more")]
    StartupSeconds(f64),
    #[error("`--max-runner-minutes` must be a positive number of minutes")]
    RunnerBudget,
}

/// The plan and what a person needs to trust it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Plan,
    pub rootdir: PathBuf,
    pub invocation_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    /// The paths pytest walks, absolute (see [`suite::Suite::roots`]).
    pub roots: Vec<PathBuf>,
    /// The test files discovery found (rootdir-relative), for the net.
    pub discovered: Vec<String>,
    pub timings_sources: Vec<PathBuf>,
    pub estimate: estimate::EstimateSummary,
    /// Tests named by the timings or collection, files, and units, for the summary.
    pub files: usize,
    pub known_tests: usize,
    /// Timed tests the user's `-k`/`-m` will deselect, by their stored markers and keywords:
    /// still planned, but weighing nothing in the balance.
    pub filtered_tests: usize,
    pub warnings: Vec<String>,
    /// Set when `--target-seconds` could not be met.
    pub target_note: Option<String>,
    /// What shard counts `1..=M` cost, when asked for.
    pub cost_table: Option<CostTable>,
}

/// Discover, read timings, estimate, partition over `shards` shards of `workers` xdist workers
/// (1 = no xdist). Deterministic for the same inputs.
pub fn build(req: &Inputs, shards: ShardCount, workers: u32) -> Result<Planned, PlanError> {
    build_with_costs(req, shards, workers, None)
}

/// Which cost table to compute: shard counts `1..=max(up_to, chosen)`, each job paying
/// `job_startup_seconds` outside pytest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableRequest {
    pub up_to: u32,
    pub job_startup_seconds: f64,
}

/// [`build`], with the [`CostTable`] when asked for; each row is the plan for that count, as
/// `--shards N` makes it.
pub fn build_with_costs(
    req: &Inputs,
    shards: ShardCount,
    workers: u32,
    table: Option<TableRequest>,
) -> Result<Planned, PlanError> {
    let suite = suite::load(&suite::SuiteRequest {
        invocation_dir: req.invocation_dir.clone(),
        paths: req.paths.clone(),
        pytest_args: req.pytest_args.clone(),
        env_addopts: req.env_addopts.clone(),
    })?;
    let invocation_dir = paths::absolute(
        &std::env::current_dir().unwrap_or_default(),
        &req.invocation_dir,
    );
    let expect_tests = !suite.files.is_empty() || !suite.node_ids.is_empty();
    let (collected, collected_marks) = collect(req, &invocation_dir, expect_tests)?;
    let known_files: Vec<String> = match &collected {
        Some(ids) => {
            let mut f: Vec<String> = ids.iter().map(|i| file_part(i).to_owned()).collect();
            f.sort();
            f.dedup();
            f
        }
        None => suite.files.clone(),
    };
    let rootdir = suite.rootdir.clone();
    let source_of = |path: &str| read_source(&rootdir.join(path));
    let serial_marker = &req.constraints.serial_marker;
    let (loaded, scanned) = std::thread::scope(|scope| {
        // Without `--collect` the plan reads every test file for its markers. That waits on the
        // file system while loading the timings keeps a CPU busy: on a big suite each takes
        // about half the plan's time, so they run side by side.
        let scan = collected.is_none().then(|| {
            scope.spawn(|| constraints::scan_marks(&known_files, &source_of, serial_marker))
        });
        let loaded = (|| -> Result<_, PlanError> {
            let sources =
                timings::sources::resolve(&req.timings, &req.timings_base, &invocation_dir)?;
            let mapper: timings::LazyMapper<'_> =
                std::cell::LazyCell::new(Box::new(|| NodeIdMapper::with_files(&known_files)));
            let mut timings = timings::load(&sources, &mapper)?;
            let mut warnings = suite.warnings.clone();
            let filtered = deselected_by_filters(&suite.args, &timings.selectable, &mut warnings);
            // Explicit node-id args (without `--collect`) are units of their own: their timed
            // tests, else (`None`) the median test once it is known.
            let node_args_timed = match collected {
                Some(_) => Vec::new(),
                None => node_args_timed(&suite, &timings.tests, &filtered),
            };
            let (files, summary) = estimate::build(
                &suite.rootdir,
                &known_files,
                collected.as_deref(),
                std::mem::take(&mut timings.tests),
                &filtered,
            );
            Ok((timings, warnings, filtered, node_args_timed, files, summary))
        })();
        let scanned = scan.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (loaded, scanned)
    });
    let (timings, mut warnings, filtered, node_args_timed, files, summary) = loaded?;
    let node_args: Vec<(String, f64)> = node_args_timed
        .iter()
        .map(|(arg, s)| (arg.clone(), s.unwrap_or(summary.median_test_seconds)))
        .collect();
    let unknown =
        summary.unknown + node_args_timed.iter().filter(|(_, s)| s.is_none()).count() as u64;
    let constraints = constraints::Constraints {
        collected: collected_marks.or(scanned),
        ..req.constraints.clone()
    };
    let input = |shards: u32, workers: u32| build::PartitionInput {
        files: &files,
        node_args: &node_args,
        sources: &source_of,
        shards,
        workers,
        unknown_tests: unknown,
        constraints: &constraints,
        fixed: &timings.fixed,
    };
    let workers = workers.max(1);
    let launcher = req.launcher;
    // `N` shards of `W` xdist workers, or `N·W` one-process sub-shards grouped `W` to a shard.
    let plan_for = |n: u32| match launcher {
        processes::Launcher::Xdist => build::partition_plan(&input(n, workers)),
        processes::Launcher::Processes => processes::group(
            build::partition_plan(&input(n.saturating_mul(workers), 1)),
            n,
            workers,
        ),
    };
    let (mut plan, target_note) = partition(shards, plan_for)?;
    let cost_table = table.map(|request| {
        let (target, budget) = match shards {
            ShardCount::Target {
                seconds,
                max_runner_seconds,
                ..
            } => (Some(seconds), max_runner_seconds),
            ShardCount::Fixed(_) => (None, None),
        };
        let job_startup = request.job_startup_seconds;
        let rows = (1..=request.up_to.max(plan.shards_total))
            .map(|n| {
                let row_plan = if n == plan.shards_total {
                    plan.clone()
                } else {
                    plan_for(n)
                };
                CostRow {
                    shards: n,
                    wall_seconds: row_plan.wall_makespan(),
                    runner_seconds: runner_seconds(&row_plan, job_startup),
                    chosen: n == plan.shards_total,
                }
            })
            .collect();
        CostTable {
            job_startup_seconds: job_startup,
            target_seconds: target,
            max_runner_seconds: budget,
            rows,
        }
    });
    let timed_args: BTreeSet<&str> = node_args_timed
        .iter()
        .filter(|(_, s)| s.is_some())
        .map(|(arg, _)| arg.as_str())
        .collect();
    mark_estimated(&mut plan, &files, &timed_args);
    warnings.extend(timings.warnings);
    Ok(Planned {
        plan,
        rootdir: suite.rootdir,
        invocation_dir,
        config_file: suite.config_file,
        roots: suite.roots,
        discovered: suite.files,
        timings_sources: timings.sources,
        estimate: summary,
        known_tests: files.iter().map(|f| f.tests.len()).sum(),
        filtered_tests: files
            .iter()
            .flat_map(|f| &f.tests)
            .filter(|t| filtered.contains(&t.id))
            .count(),
        files: files.len(),
        warnings,
        target_note,
        cost_table,
    })
}

/// A test file's text (for the marker scan and stale-name checks), read with as few system
/// calls as a file allows: open, read to the end, close. Every plan without `--collect` reads
/// every test file, and `fs::read_to_string` first asks for the file's size and position
/// (two `statx` and an `lseek` more per file: 300,000 calls on a suite of 100,000 files).
fn read_source(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 8 * 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// Marks every shard none of whose tests has a timing (its seconds come from test counts).
/// Outside the fingerprint: it follows from the same inputs and selects nothing.
fn mark_estimated(plan: &mut Plan, files: &[estimate::FileWork], timed_args: &BTreeSet<&str>) {
    // Hashed: a big suite has 100,000 files and a million ids, and only lookups happen here.
    type FxSet<'a> = HashSet<&'a str, rustc_hash::FxBuildHasher>;
    let by_path: HashMap<&str, &estimate::FileWork, rustc_hash::FxBuildHasher> =
        files.iter().map(|f| (f.path.as_str(), f)).collect();
    let planned_ids: FxSet<'_> = plan
        .shards
        .iter()
        .flat_map(|s| &s.node_ids)
        .map(String::as_str)
        .collect();
    // Only the ids some shard selects by id need looking up.
    let timed_ids: HashSet<String, rustc_hash::FxBuildHasher> = files
        .iter()
        .flat_map(|f| &f.tests)
        .filter(|t| t.known && planned_ids.contains(t.id.as_str()))
        .map(|t| t.id.clone())
        .collect();
    for shard in &mut plan.shards {
        let timed_file = shard.files.iter().any(|f| {
            by_path.get(f.as_str()).is_some_and(|w| {
                w.tests
                    .iter()
                    .any(|t| t.known && !shard.deselect.contains(&t.id))
            })
        });
        let timed_id = shard
            .node_ids
            .iter()
            .any(|id| timed_ids.contains(id.as_str()) || timed_args.contains(id.as_str()));
        shard.estimated = !shard.is_empty() && !timed_file && !timed_id;
    }
}

/// Timed tests the user's `-k`/`-m` will deselect, judged by pytest's own expression rules over
/// the markers and keywords a run stored for them. A test with nothing stored, or one the
/// expression cannot be decided for (`marker(arg=...)`), is kept: the plan errs towards
/// running. An expression pytest would refuse filters nothing here (pytest will say why).
fn deselected_by_filters(
    args: &suite::args::ParsedArgs,
    selectable: &HashMap<String, timings::Selectable>,
    warnings: &mut Vec<String>,
) -> HashSet<String> {
    use suite::expression;
    let mut parsed = |flag: &str, text: Option<&str>| -> Option<expression::Expr> {
        let text = text?;
        // pytest's own "no filter": `-k` strips leading blanks first, `-m` does not.
        let empty = if flag == "-k" {
            text.trim_start().is_empty()
        } else {
            text.is_empty()
        };
        if empty {
            return None;
        }
        match expression::parse(text) {
            Ok(e) => Some(e),
            Err(err) => {
                warnings.push(format!(
                    "`{flag} {text}` is not an expression pytest accepts ({err}); the plan \
                     balances as if every test runs"
                ));
                None
            }
        }
    };
    let keyword = parsed("-k", args.keyword_expr.as_deref());
    let mark = parsed("-m", args.mark_expr.as_deref());
    if keyword.is_none() && mark.is_none() {
        return HashSet::new();
    }
    selectable
        .iter()
        .filter(|(_, sel)| {
            // pytest applies `-k`, then `-m`: a test runs only when neither says no.
            let k = keyword
                .as_ref()
                .and_then(|e| e.matches_keywords(&sel.keywords));
            let m = mark.as_ref().and_then(|e| e.matches_markers(&sel.markers));
            k == Some(false) || m == Some(false)
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// Collected node ids with `--collect`, and the markers pytest itself reports for them.
type Collected = (Option<Vec<String>>, Option<BTreeMap<String, Marks>>);

/// With `--collect`, pytest says which tests exist and which markers they carry.
fn collect(
    req: &Inputs,
    invocation_dir: &Path,
    expect_tests: bool,
) -> Result<Collected, PlanError> {
    let Some(python) = &req.collect_with else {
        return Ok((None, None));
    };
    // Before the user's args, which may end in `--` and paths.
    let mut args: Vec<String> = req
        .ignore
        .iter()
        .map(|p| format!("--ignore={}", p.display()))
        .collect();
    args.extend(req.pytest_args.iter().cloned());
    args.extend(req.paths.iter().map(|p| p.display().to_string()));
    let marker = &req.constraints.serial_marker;
    let collection = suite::collect(&suite::CollectRequest {
        python,
        dir: invocation_dir,
        args: &args,
        serial_marker: marker,
        expect_tests,
    })?;
    let marks = markers::marks_from_collected(&collection, marker);
    Ok((Some(collection.node_ids()), Some(marks)))
}

/// Each explicit node-id arg with the summed seconds of the timed tests under it (`None`: none
/// timed).
fn node_args_timed(
    suite: &Suite,
    timed: &timings::IdSeconds,
    filtered: &HashSet<String>,
) -> Vec<(String, Option<f64>)> {
    let timed: Vec<(NodeId, f64)> = if suite.node_ids.is_empty() {
        Vec::new()
    } else {
        timed
            .iter()
            // What the user's filter deselects costs nothing here either.
            .filter(|(id, _)| !filtered.contains(*id))
            .map(|(id, s)| (NodeId::from(id.as_str()), s.max(estimate::MIN_TEST_SECONDS)))
            .collect()
    };
    suite
        .node_ids
        .iter()
        .map(|arg| {
            // Summed in sorted order: the map's order differs between processes, and a float
            // sum in a different order can differ in the last bit.
            let mut matching: Vec<(&NodeId, f64)> = timed
                .iter()
                .filter(|(id, _)| id.is_within(arg))
                .map(|(id, s)| (id, *s))
                .collect();
            matching.sort_by(|a, b| a.0.cmp(b.0));
            let s: f64 = matching.iter().map(|(_, s)| s).sum();
            (arg.clone(), (s > 0.0).then_some(s))
        })
        .collect()
}

/// The plan for a fixed shard count, or the smallest count that meets the target.
fn partition(
    shards: ShardCount,
    plan_for: impl FnMut(u32) -> Plan,
) -> Result<(Plan, Option<String>), PlanError> {
    match shards {
        ShardCount::Fixed(0) => Err(PlanError::ZeroShards),
        ShardCount::Fixed(n) => {
            let mut plan_for = plan_for;
            Ok((plan_for(n), None))
        }
        ShardCount::Target {
            seconds,
            max_shards,
            startup_seconds,
            max_runner_seconds: None,
        } => choose_shard_count(seconds, max_shards, startup_seconds, plan_for),
        ShardCount::Target {
            seconds,
            max_shards,
            startup_seconds,
            max_runner_seconds: Some(budget),
        } => choose_within_budget(seconds, max_shards, startup_seconds, budget, plan_for),
    }
}

/// `--target-seconds` must be positive and the per-shard start-up not negative.
fn check_target(target: f64, startup: f64) -> Result<(), PlanError> {
    if !(target.is_finite() && target > 0.0) {
        return Err(PlanError::TargetSeconds(target));
    }
    if !(startup.is_finite() && startup >= 0.0) {
        return Err(PlanError::StartupSeconds(startup));
    }
    Ok(())
}

/// `--target-seconds` with `--max-runner-minutes`: the fewest shards that meet the target and
/// whose runner time fits the budget; when none does, the fastest count within the budget;
/// when even one shard costs more, one shard. Counts whose job start-ups alone exceed the
/// budget are never planned.
fn choose_within_budget(
    target: f64,
    max_shards: u32,
    startup: f64,
    budget: f64,
    mut plan_for: impl FnMut(u32) -> Plan,
) -> Result<(Plan, Option<String>), PlanError> {
    check_target(target, startup)?;
    if !(budget.is_finite() && budget > 0.0) {
        return Err(PlanError::RunnerBudget);
    }
    let minutes = budget / 60.0;
    let mut fastest: Option<Plan> = None;
    for n in 1..=max_shards.max(1) {
        if f64::from(n) * startup > budget {
            break;
        }
        let plan = plan_for(n);
        if runner_seconds(&plan, startup) > budget {
            continue;
        }
        if plan.wall_makespan() + startup <= target {
            return Ok((plan, None));
        }
        if fastest
            .as_ref()
            .is_none_or(|f| plan.wall_makespan() < f.wall_makespan())
        {
            fastest = Some(plan);
        }
    }
    Ok(match fastest {
        Some(plan) => {
            let note = format!(
                "no shard count within the runner budget of {minutes} min meets the target of {target} s; using the fastest within it: {} shards, predicted {:.1} s",
                plan.shards_total,
                plan.wall_makespan() + startup
            );
            (plan, Some(note))
        }
        None => {
            let plan = plan_for(1);
            let note = format!(
                "even one shard costs more runner time ({:.1} min) than the budget of {minutes} min; using one shard",
                runner_seconds(&plan, startup) / 60.0
            );
            (plan, Some(note))
        }
    })
}

/// `--target-seconds`: the smallest `n ≤ max_shards` whose makespan + start-up fits.
/// The lower bound only falls as `n` grows, so counts whose bound already misses are skipped.
fn choose_shard_count(
    target: f64,
    max_shards: u32,
    startup: f64,
    mut plan_for: impl FnMut(u32) -> Plan,
) -> Result<(Plan, Option<String>), PlanError> {
    check_target(target, startup)?;
    let max_shards = max_shards.max(1);
    let first = plan_for(1);
    if first.wall_makespan() + startup <= target {
        return Ok((first, None));
    }
    // A shard count below `total / (target - startup)` cannot fit (makespan ≥ total / n), so
    // start there. With one shard the prediction is at least the total work per worker.
    let start = if target > startup {
        (first.wall_makespan() / (target - startup)).ceil() as u32
    } else {
        max_shards
    };
    let mut best: Option<Plan> = Some(first);
    let mut n = start.clamp(2, max_shards.max(2));
    while n <= max_shards {
        let plan = plan_for(n);
        if plan.wall_makespan() + startup <= target {
            return Ok((plan, None));
        }
        // When the bound comes from the longest unsplittable item rather than the total, more
        // shards cannot bring it under the target: stop instead of planning up to `max_shards`.
        let spread: f64 = plan.shards.iter().map(|s| s.predicted_seconds).sum();
        let floor_bound = plan.lower_bound_seconds * f64::from(n) > spread * 1.001 + 0.001;
        let floor = plan
            .lower_bound_wall_seconds
            .unwrap_or(plan.lower_bound_seconds);
        let unreachable = floor_bound && floor + startup > target;
        let better = best
            .as_ref()
            .is_none_or(|b| plan.wall_makespan() < b.wall_makespan());
        if better {
            best = Some(plan);
        }
        if unreachable {
            break;
        }
        n += 1;
    }
    let plan = match best {
        Some(p) => p,
        None => plan_for(max_shards),
    };
    let note = format!(
        "no shard count up to {max_shards} meets the target of {target} s (with {startup} s start-up per shard); using {} shards, predicted {:.1} s",
        plan.shards_total,
        plan.wall_makespan() + startup
    );
    Ok((plan, Some(note)))
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    fn sel(markers: &[&str], keywords: &[&str]) -> timings::Selectable {
        timings::Selectable {
            markers: markers.iter().map(|s| (*s).to_owned()).collect(),
            keywords: keywords.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn deselected(k: Option<&str>, m: Option<&str>) -> (Vec<String>, Vec<String>) {
        let args = suite::args::ParsedArgs {
            keyword_expr: k.map(str::to_owned),
            mark_expr: m.map(str::to_owned),
            ..Default::default()
        };
        let stored = HashMap::from([
            (
                "t.py::slow".to_owned(),
                sel(&["slow"], &["slow", "t.py", "test_slow"]),
            ),
            ("t.py::fast".to_owned(), sel(&[], &["t.py", "test_fast"])),
            (
                "t.py::db".to_owned(),
                sel(&["db"], &["db", "t.py", "test_db"]),
            ),
        ]);
        let mut warnings = Vec::new();
        let mut ids: Vec<String> = deselected_by_filters(&args, &stored, &mut warnings)
            .into_iter()
            .collect();
        ids.sort();
        (ids, warnings)
    }

    #[test]
    fn a_test_runs_only_when_neither_filter_says_no() {
        assert_eq!(deselected(None, None).0, Vec::<String>::new());
        assert_eq!(deselected(None, Some("not slow")).0, vec!["t.py::slow"]);
        assert_eq!(
            deselected(Some("FAST or slow"), Some("not slow")).0,
            vec!["t.py::db", "t.py::slow"]
        );
        // Blank `-k` filters nothing (pytest strips it); a blank `-m` is an empty expression,
        // which pytest evaluates as false for every test.
        assert_eq!(deselected(Some("  "), None).0, Vec::<String>::new());
        assert_eq!(deselected(None, Some(" ")).0.len(), 3);
        // Marker arguments are not stored: a test with the marker cannot be decided (kept),
        // one without it can.
        assert_eq!(
            deselected(None, Some("db(host='x')")).0,
            vec!["t.py::fast", "t.py::slow"]
        );
    }

    #[test]
    fn an_expression_pytest_refuses_filters_nothing_and_says_so() {
        let (ids, warnings) = deselected(None, Some("not (slow"));
        assert!(ids.is_empty());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("`-m not (slow`"), "{warnings:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::cost::ShardCost;

    /// A plan of `n` shards, each predicted `1 + 12 / n` s of wall.
    fn synthetic(n: u32) -> Plan {
        let wall = 1.0 + 12.0 / f64::from(n);
        Plan {
            version: String::new(),
            fingerprint: String::new(),
            shards_total: n,
            lower_bound_seconds: 0.0,
            predicted_makespan_seconds: wall,
            predicted_wall_seconds: Some(wall),
            lower_bound_wall_seconds: None,
            unknown_tests: 0,
            timings_source: None,
            shards: (1..=n)
                .map(|i| ShardPlan {
                    index: i,
                    predicted_seconds: wall,
                    workers: 1,
                    files: vec![format!("t{i}.py")],
                    node_ids: vec![],
                    deselect: vec![],
                    estimated: false,
                    cost: Some(ShardCost {
                        wall_seconds: wall,
                        ..ShardCost::default()
                    }),
                    processes: Vec::new(),
                })
                .collect(),
            notes: vec![],
        }
    }

    #[test]
    fn runner_budget_picks_the_fewest_meeting_the_target_else_the_fastest_within_it() {
        // Job start-up 10 s; N shards cost 11 N + 12 s of runner time; the target of 16 s needs
        // N ≥ 3 (15 s), which costs 45 s.
        let pick = |budget: f64| {
            let (plan, note) = choose_within_budget(16.0, 8, 10.0, budget, synthetic).unwrap();
            (plan.shards_total, note)
        };
        assert_eq!(runner_seconds(&synthetic(3), 10.0), 45.0);
        assert_eq!(pick(60.0), (3, None));
        let (n, note) = pick(40.0);
        assert_eq!(n, 2, "the fastest within 40 s (34 s)");
        assert!(note.unwrap().contains("runner budget"));
        let (n, note) = pick(20.0);
        assert_eq!(n, 1);
        assert!(note.unwrap().contains("even one shard"));
        assert!(matches!(
            choose_within_budget(16.0, 8, 10.0, 0.0, synthetic),
            Err(PlanError::RunnerBudget)
        ));
    }
}
