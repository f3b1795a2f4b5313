//! `parallel-pytest plan`: show the whole plan (text), print it as JSON (contract), or as a
//! GitHub `strategy.matrix` (`--format matrix`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ci;
use crate::cli::{PlanArgs, PlanFormat, PlanInputs};
use crate::env_vars;
use crate::error::Error;
use crate::host;
use crate::plan::{self, PlanError, PlanRequest, Planned, ShardCount};
use crate::report::annotations::{guard_for_github_log, stop_token};
use crate::report::escape;
use crate::settings::Settings;

/// Default cap for `--target-seconds` (GitHub's matrix allows 256 jobs).
pub const DEFAULT_MAX_SHARDS: u32 = 256;
/// Default start-up cost of one shard job (checkout, install), seconds.
pub const DEFAULT_SHARD_STARTUP_SECONDS: f64 = 30.0;

pub fn execute(root: Option<PathBuf>, args: PlanArgs) -> Result<ExitCode, Error> {
    let settings = Settings::load(root, &args.inputs.machine)?;
    let ci =
        ci::detect_from_env(settings.machine.shard).map_err(|e| Error::usage(e.to_string()))?;
    let this_shard = ci.shard.as_ref().map(|c| c.shard());
    let shards = shard_count(&args, &settings, this_shard.map(|s| s.total))?;
    let workers = plan_workers(&settings, &args.inputs);
    let request = plan_request(&settings, &args.inputs, shards, workers)?;
    let planned = plan::build(&request).map_err(plan_error)?;
    // Warnings and notes quote node ids and paths from timings stores and the suite: inert in
    // a CI log, like everything `report` prints.
    for w in &planned.warnings {
        eprintln!("warning: {}", escape::terminal(w));
    }
    if let Some(note) = &planned.target_note {
        eprintln!("warning: {}", escape::terminal(note));
    }
    for note in &planned.plan.notes {
        eprintln!("note: {}", escape::terminal(note));
    }
    match args.format {
        PlanFormat::Json => {
            let json =
                serde_json::to_string_pretty(&planned.plan).map_err(|e| Error::Failed(e.into()))?;
            println!("{}", inert_json(&json));
        }
        PlanFormat::Matrix => println!("{}", inert_json(&matrix_json(&planned.plan))),
        PlanFormat::Text => {
            let text = escape::terminal(&render_text(
                &planned,
                this_shard.filter(|s| s.total == planned.plan.shards_total),
            ));
            if std::env::var(crate::env_vars::ci::GITHUB_ACTIONS).as_deref() == Ok("true") {
                print!("{}", guard_for_github_log(&text, &stop_token()));
            } else {
                print!("{text}");
            }
        }
        // Rendered by the GitLab stage (issue 7) from the same plan.
        PlanFormat::GitlabChild => print!(
            "{}",
            plan::gitlab_child::render_for_plan(planned.plan.shards_total)?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// JSON that is the same data but can never hold a legacy `##[command]` (which a GitHub log
/// matches anywhere in a line): `#` in strings becomes its `\u0023` escape where it would form
/// one. Lines of JSON never start with `::`.
fn inert_json(json: &str) -> String {
    json.replace("##[", "#\\u0023[")
}

/// Workers per shard for the plan: `--workers N`, else the host's budget (`auto`), with the
/// per-worker memory learned by the timings store when the user did not set one (issue 8).
pub fn plan_workers(settings: &Settings, inputs: &PlanInputs) -> u32 {
    match settings.machine.forced_workers() {
        Some(n) => n.max(1),
        None => host::detect()
            .workers(memory_per_worker_mib(settings, inputs), None)
            .count
            .max(1),
    }
}

/// `--memory-per-worker` (or pyproject) when given; else the learned peak of one worker plus a
/// quarter for headroom, when the store has one and it is above the default; else the default.
pub fn memory_per_worker_mib(settings: &Settings, inputs: &PlanInputs) -> u64 {
    let configured = &settings.machine.memory_per_worker_mib;
    if configured.origin != crate::settings::Origin::Default {
        return configured.value;
    }
    let (specs, base) = if !inputs.timings.is_empty() {
        (
            inputs.timings.clone(),
            std::env::current_dir().unwrap_or_default(),
        )
    } else {
        (
            settings.file.timings.clone().unwrap_or_default(),
            settings.root.clone(),
        )
    };
    let paths = crate::timings::sources::resolve(&specs, &base, &settings.root).unwrap_or_default();
    learned_mib(
        configured.value,
        crate::timings::store::learned_worker_memory(&paths),
    )
}

/// The default budget, raised to a learned peak × 1.25 (rounded up to MiB).
pub fn learned_mib(default_mib: u64, learned_bytes: Option<u64>) -> u64 {
    const MIB: u64 = 1024 * 1024;
    match learned_bytes {
        Some(b) => default_mib.max((b.saturating_add(b / 4)).div_ceil(MIB)),
        None => default_mib,
    }
}

/// Maps planner errors: bad input is a usage error (exit 2 with the culprit named).
pub fn plan_error(e: PlanError) -> Error {
    match e {
        PlanError::Suite(crate::suite::SuiteError::Collect { .. }) => {
            Error::Failed(anyhow::anyhow!(e.to_string()))
        }
        PlanError::Suite(crate::suite::SuiteError::Io(m)) => Error::Failed(anyhow::anyhow!(m)),
        other => Error::usage(other.to_string()),
    }
}

/// `--shards`, `--target-seconds` (flag/env, then pyproject), else the CI shard total, else 1.
fn shard_count(
    args: &PlanArgs,
    settings: &Settings,
    ci_total: Option<u32>,
) -> Result<ShardCount, Error> {
    let file = &settings.file;
    let target = args.target_seconds.or(if args.shards.is_some() {
        None
    } else {
        file.target_seconds
    });
    if let Some(seconds) = target {
        return Ok(ShardCount::Target {
            seconds,
            max_shards: args
                .max_shards
                .or(file.max_shards)
                .unwrap_or(DEFAULT_MAX_SHARDS),
            startup_seconds: args
                .shard_startup_seconds
                .or(file.shard_startup_seconds)
                .unwrap_or(DEFAULT_SHARD_STARTUP_SECONDS),
        });
    }
    let n = args.shards.or(file.shards).or(ci_total).unwrap_or(1);
    if n == 0 {
        return Err(Error::usage(
            "`--shards` / `PARALLEL_PYTEST_SHARDS` must be at least 1",
        ));
    }
    Ok(ShardCount::Fixed(n))
}

/// The planner request from resolved settings; `run` builds the same one.
pub fn plan_request(
    settings: &Settings,
    inputs: &PlanInputs,
    shards: ShardCount,
    workers: u32,
) -> Result<PlanRequest, Error> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Failed(anyhow::anyhow!("failed to read the current directory: {e}")))?;
    let (timings, timings_base) = if !inputs.timings.is_empty() {
        (inputs.timings.clone(), cwd.clone())
    } else {
        // From pyproject: relative to the project root.
        (
            settings.file.timings.clone().unwrap_or_default(),
            settings.root.clone(),
        )
    };
    let collect_with = if inputs.collect {
        Some(
            settings
                .machine
                .python
                .as_ref()
                .map(|p| p.value.clone())
                .unwrap_or_else(|| PathBuf::from("python3")),
        )
    } else {
        None
    };
    Ok(PlanRequest {
        invocation_dir: settings.root.clone(),
        paths: inputs.paths.clone(),
        pytest_args: inputs.pytest_args.clone(),
        env_addopts: std::env::var(env_vars::ci::PYTEST_ADDOPTS).ok(),
        timings,
        timings_base,
        collect_with,
        shards,
        workers,
        constraints: plan::constraints::Constraints {
            dist: plan::constraints::Dist::parse(
                plan::constraints::dist_from_args(&inputs.pytest_args)
                    .or(inputs.dist.clone())
                    .or(settings.file.dist.clone())
                    .as_deref(),
            ),
            serial_marker: inputs
                .serial_marker
                .clone()
                .or(settings.file.serial_marker.clone())
                .unwrap_or_else(|| crate::pytest::serial::DEFAULT_MARKER.to_string()),
            collected: None,
        },
    })
}

/// `{"shard": ["1/3", "2/3", "3/3"]}` for `strategy: { matrix: ${{ fromJSON(...) }} }`.
pub fn matrix_json(plan: &plan::Plan) -> String {
    let shards: Vec<String> = (1..=plan.shards_total)
        .map(|i| format!("{i}/{}", plan.shards_total))
        .collect();
    serde_json::json!({ "shard": shards }).to_string()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The human summary: one row per shard with a bar, bound, unknowns, fingerprint.
pub fn render_text(planned: &Planned, this_shard: Option<ci::Shard>) -> String {
    let plan = &planned.plan;
    let mut out = String::new();
    let workers = plan.shards.first().map_or(1, |s| s.workers);
    let _ = writeln!(
        out,
        "plan: {} × {} · {} · fingerprint {}",
        plural(plan.shards_total as usize, "shard", "shards"),
        plural(workers as usize, "worker", "workers"),
        plural(planned.files, "test file", "test files"),
        plan.fingerprint
    );
    let _ = writeln!(
        out,
        "{:<9} {:>11} {:>6} {:>9} {:>9}",
        "shard", "predicted", "files", "node ids", "deselect"
    );
    let width = 30.0;
    for s in &plan.shards {
        let bar_len = if plan.predicted_makespan_seconds > 0.0 {
            (s.predicted_seconds / plan.predicted_makespan_seconds * width).round() as usize
        } else {
            0
        };
        let label = format!("{}/{}", s.index, plan.shards_total);
        let empty = if s.is_empty() { "  (empty)" } else { "" };
        let _ = writeln!(
            out,
            "{:<9} {:>9.1} s {:>6} {:>9} {:>9}  {}{}",
            label,
            s.predicted_seconds,
            s.files.len(),
            s.node_ids.len(),
            s.deselect.len(),
            "█".repeat(bar_len),
            empty
        );
    }
    let ratio = if plan.lower_bound_seconds > 0.0 {
        plan.predicted_makespan_seconds / plan.lower_bound_seconds
    } else {
        1.0
    };
    let _ = writeln!(
        out,
        "lower bound {:.1} s · predicted makespan {:.1} s ({ratio:.3} × bound)",
        plan.lower_bound_seconds, plan.predicted_makespan_seconds
    );
    let what = if planned.estimate.unknown_are_files {
        ("file", "files")
    } else {
        ("test", "tests")
    };
    let _ = writeln!(
        out,
        "timings: {} ({} timed); {} without timing: {}",
        if planned.timings_sources.is_empty() {
            "none found".to_owned()
        } else {
            planned
                .timings_sources
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        },
        plural(planned.known_tests, "test", "tests"),
        plural(plan.unknown_tests as usize, what.0, what.1),
        planned.estimate.rule
    );
    let _ = writeln!(
        out,
        "rootdir: `{}`{}",
        planned.rootdir.display(),
        planned
            .config_file
            .as_ref()
            .map(|c| format!(" · config `{}`", c.display()))
            .unwrap_or_default()
    );
    if let Some(shard) = this_shard
        && let Some(row) = plan.shards.iter().find(|s| s.index == shard.index)
    {
        if row.is_empty() {
            let _ = writeln!(
                out,
                "this job (shard {shard}): nothing to run; pytest will not be started"
            );
        } else {
            let mut cmd = vec!["python".to_owned(), "-m".into(), "pytest".into()];
            if row.workers > 1 {
                cmd.push("-n".into());
                cmd.push(row.workers.to_string());
            }
            cmd.extend(plan::selection_args(
                row,
                &planned.rootdir,
                &planned.invocation_dir,
            ));
            let shown =
                shlex::try_join(cmd.iter().map(String::as_str)).unwrap_or_else(|_| cmd.join(" "));
            let _ = writeln!(out, "this job (shard {shard}): {shown}");
            // `run` passes the same selection through its selection plugin (no argv limit,
            // stale ids skipped) and adds its JUnit and worker options.
            let _ = writeln!(
                out,
                "  (the exact command `run` starts: `parallel-pytest run --dry-run --shard {shard}`)"
            );
        }
    }
    out
}

#[cfg(test)]
mod isolation_tests {
    use super::learned_mib;

    #[test]
    fn learned_worker_memory_raises_the_budget_with_headroom_only() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(learned_mib(512, None), 512);
        // 100 MiB learned: the 512 MiB default already leaves room.
        assert_eq!(learned_mib(512, Some(100 * MIB)), 512);
        // 800 MiB learned → 1000 MiB per worker.
        assert_eq!(learned_mib(512, Some(800 * MIB)), 1000);
    }
}
