//! Settings of `plan`, and the planner inputs `plan` and `run` share: resolved once from the clap
//! args and `[tool.parallel-pytest]` through [`pick`], so both commands compute the identical plan
//! from the same values.

use std::path::{Path, PathBuf};

use crate::cli::{PlanArgs, PlanFormat, PlanInputs};
use crate::env_vars;
use crate::host;
use crate::plan::constraints::{self, Constraints, DEFAULT_SERIAL_MARKER, Dist};
use crate::plan::{self, ShardCount};
use crate::settings::{
    Origin, Settings, SettingsError, argv_budget, current_dir, find_python, pick,
};
use crate::suite::paths;
use crate::timings;

/// Default time for the whole timings fallback chain.
pub const DEFAULT_TIMINGS_FETCH_SECONDS: f64 = 20.0;
/// Default cap for `--target-seconds` (GitHub's matrix allows 256 jobs).
const DEFAULT_MAX_SHARDS: u32 = 256;
/// Default start-up cost of one shard job (checkout, install), seconds.
const DEFAULT_SHARD_STARTUP_SECONDS: f64 = 30.0;
/// Rows of the cost table (`--format cost`, the text plan with `--target-seconds`) unless
/// `--max-shards` says otherwise; the chosen count is always shown.
const DEFAULT_COST_TABLE_SHARDS: u32 = 16;
/// xdist distribution mode when neither pytest's args, `--dist` nor the config set one.
/// BENCHMARKS.md ("run", `--dist`): on slowest-first timed work `load`, `worksteal` and
/// `loadfile` measured within noise of each other; `load` works with every xdist version
/// (`worksteal` needs 3.2+).
pub const DEFAULT_DIST: &str = "load";

/// What the planner plans from, shared by `plan` and `run`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInputsSettings {
    /// The planner's inputs: where pytest starts (absolute), paths, pytest args,
    /// `PYTEST_ADDOPTS`, timings (relative to the cwd for flags, the root for pyproject), the
    /// interpreter that collects with `--collect` (found as `run` finds it) and the constraints.
    pub plan: plan::Inputs,
    /// `--dist` from pytest's args (it wins on pytest's command line), else `--dist`, else
    /// pyproject, else [`DEFAULT_DIST`].
    pub dist: String,
    /// `--workers N` / pyproject; `None` is `auto`.
    pub forced_workers: Option<u32>,
    /// `--memory-per-worker` / pyproject; `None`: the default, raised to the peak the timings
    /// store learned.
    pub memory_per_worker_mib: Option<u64>,
    /// The timings fallback chain may ask the CI API, within this time; `None`: opted out
    /// (`--no-timings-fetch` / `PARALLEL_PYTEST_NO_TIMINGS_FETCH` / `timings-fetch = false`).
    pub timings_fetch: Option<std::time::Duration>,
    /// Why `--launcher processes` was set aside for xdist (pytest options it cannot honour),
    /// for `plan` and `run` to print.
    pub launcher_note: Option<String>,
}

impl PlanInputsSettings {
    pub fn resolve(inputs: &PlanInputs, settings: &Settings) -> Result<Self, SettingsError> {
        let cwd = current_dir()?;
        let file = &settings.file;
        let (timings, timings_base) = if inputs.timings.is_empty() {
            // From pyproject: relative to the project root.
            (
                file.timings.clone().unwrap_or_default(),
                settings.root.clone(),
            )
        } else {
            (inputs.timings.clone(), cwd.clone())
        };
        let dist = pick(
            constraints::dist_from_args(&inputs.pytest_args).or(inputs.dist.clone()),
            file.dist.clone(),
            DEFAULT_DIST.to_owned(),
        )
        .value;
        let serial_marker = pick(
            inputs.serial_marker.clone(),
            file.serial_marker.clone(),
            DEFAULT_SERIAL_MARKER.to_owned(),
        )
        .value;
        crate::pytest::serial::validate_marker(&serial_marker).map_err(|e| {
            SettingsError::Invalid {
                setting: "--serial-marker",
                message: format!("`--serial-marker` / `serial-marker`: {e}"),
            }
        })?;
        let collect_with = match inputs.collect {
            true => Some(find_python(&settings.machine, &cwd)?),
            false => None,
        };
        let memory = &settings.machine.memory_per_worker_mib;
        let timings_fetch =
            super::fetch_limit(!inputs.no_timings_fetch, inputs.timings_fetch_timeout, file)?;
        let mut launcher = pick(
            inputs.launcher,
            file.launcher,
            plan::processes::Launcher::default(),
        )
        .value;
        let env_addopts = std::env::var(env_vars::ci::PYTEST_ADDOPTS).ok();
        let launcher_note = (launcher == plan::processes::Launcher::Processes)
            .then(|| crate::pytest::processes::refusal(&inputs.pytest_args, env_addopts.as_deref()))
            .flatten();
        if launcher_note.is_some() {
            launcher = plan::processes::Launcher::Xdist;
        }
        Ok(PlanInputsSettings {
            timings_fetch,
            launcher_note,
            plan: plan::Inputs {
                invocation_dir: paths::absolute(&cwd, &settings.root),
                paths: inputs.paths.clone(),
                pytest_args: inputs.pytest_args.clone(),
                env_addopts,
                timings,
                timings_base,
                collect_with,
                constraints: Constraints {
                    dist: Dist::parse(Some(&dist)),
                    serial_marker,
                    collected: None,
                },
                // `run --out-dir` adds its own; here the configured or default one.
                launcher,
                ignore: vec![paths::absolute(
                    &paths::absolute(&cwd, &settings.root),
                    file.out_dir
                        .as_deref()
                        .unwrap_or(Path::new(".parallel-pytest")),
                )],
            },
            dist,
            forced_workers: settings.machine.forced_workers(),
            memory_per_worker_mib: (memory.origin != Origin::Default).then_some(memory.value),
        })
    }

    /// Workers per shard for the plan: the forced count, else the host's budget (`auto`).
    pub fn workers(&self) -> u32 {
        match self.forced_workers {
            Some(n) => n.max(1),
            None => host::detect()
                .workers(self.memory_per_worker(), None)
                .count
                .max(1),
        }
    }

    /// The configured budget; else the learned peak of one worker plus a quarter for headroom,
    /// when the store has one and it is above the default; else the default.
    fn memory_per_worker(&self) -> u64 {
        if let Some(mib) = self.memory_per_worker_mib {
            return mib;
        }
        let p = &self.plan;
        let paths = timings::sources::resolve(&p.timings, &p.timings_base, &p.invocation_dir)
            .unwrap_or_default();
        learned_mib(
            host::DEFAULT_MEMORY_PER_WORKER_MIB,
            timings::store::learned_worker_memory(&paths),
        )
    }
}

/// The default budget, raised to a learned peak × 1.25 (rounded up to MiB).
fn learned_mib(default_mib: u64, learned_bytes: Option<u64>) -> u64 {
    const MIB: u64 = 1024 * 1024;
    match learned_bytes {
        Some(b) => default_mib.max((b.saturating_add(b / 4)).div_ceil(MIB)),
        None => default_mib,
    }
}

/// `--target-seconds` and what bounds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub seconds: f64,
    pub max_shards: u32,
    pub startup_seconds: f64,
    /// `--max-runner-minutes` / pyproject, in seconds.
    pub max_runner_seconds: Option<f64>,
}

/// Everything `plan` needs, resolved once.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    pub inputs: PlanInputsSettings,
    /// `--shards` / pyproject `shards`; `None`: the CI shard total, else 1.
    pub shards: Option<u32>,
    /// `--target-seconds` / pyproject (a `--shards` flag overrides a pyproject target).
    pub target: Option<Target>,
    pub format: PlanFormat,
    /// Where `run` writes the shard artifact, for the command `plan` shows.
    pub out_dir: PathBuf,
    /// The interpreter `run` would start, for the command `plan` shows; the lookup error when
    /// there is none.
    pub python: Result<PathBuf, String>,
    /// Bytes of paths `run` puts on pytest's argv.
    pub argv_budget: usize,
    /// The cost table to compute (`--format cost`, or a target); `None`: none.
    pub cost_table: Option<plan::TableRequest>,
}

impl PlanSettings {
    pub fn resolve(args: &PlanArgs, settings: &Settings) -> Result<Self, SettingsError> {
        let file = &settings.file;
        let cwd = current_dir()?;
        let target_seconds = args.target_seconds.or(if args.shards.is_some() {
            None
        } else {
            file.target_seconds
        });
        let job_startup = pick(
            args.shard_startup_seconds,
            file.shard_startup_seconds,
            DEFAULT_SHARD_STARTUP_SECONDS,
        )
        .value;
        let target = target_seconds.map(|seconds| Target {
            seconds,
            max_shards: pick(args.max_shards, file.max_shards, DEFAULT_MAX_SHARDS).value,
            startup_seconds: job_startup,
            max_runner_seconds: args
                .max_runner_minutes
                .or(file.max_runner_minutes)
                .map(|m| m * 60.0),
        });
        // `--max-runner-minutes` means nothing without a target to choose for.
        if target.is_none() && args.max_runner_minutes.is_some() {
            return Err(SettingsError::Invalid {
                setting: "--max-runner-minutes",
                message: "`--max-runner-minutes` needs `--target-seconds`: it bounds the shard count the target chooses".into(),
            });
        }
        if let Some(m) = args.max_runner_minutes.or(file.max_runner_minutes)
            && !(m.is_finite() && m > 0.0)
        {
            return Err(SettingsError::Invalid {
                setting: "--max-runner-minutes",
                message: format!(
                    "`--max-runner-minutes {m}` / `max-runner-minutes` must be a positive number of minutes"
                ),
            });
        }
        // Only where it is printed: each row is one more plan (the matrix and the child
        // pipeline do not show it).
        let shows_table = match args.format {
            PlanFormat::Cost => true,
            PlanFormat::Text => target.is_some(),
            PlanFormat::Json | PlanFormat::Matrix | PlanFormat::GitlabChild => false,
        };
        let cost_table = shows_table.then(|| plan::TableRequest {
            up_to: pick(args.max_shards, file.max_shards, DEFAULT_COST_TABLE_SHARDS).value,
            job_startup_seconds: job_startup,
        });
        Ok(PlanSettings {
            cost_table,
            inputs: PlanInputsSettings::resolve(&args.inputs, settings)?,
            shards: args.shards.or(file.shards),
            target,
            format: args.format,
            out_dir: out_dir(None, settings, &cwd),
            python: find_python(&settings.machine, &cwd).map_err(|e| e.to_string()),
            argv_budget: argv_budget(std::env::var(env_vars::ours::ARGV_BUDGET).ok())?,
        })
    }

    /// The shard count: the target, else `--shards`/pyproject, else `ci_total`, else 1.
    pub fn shard_count(&self, ci_total: Option<u32>) -> ShardCount {
        match self.target {
            Some(t) => ShardCount::Target {
                seconds: t.seconds,
                max_shards: t.max_shards,
                startup_seconds: t.startup_seconds,
                max_runner_seconds: t.max_runner_seconds,
            },
            None => ShardCount::Fixed(self.shards.or(ci_total).unwrap_or(1)),
        }
    }
}

/// `--out-dir` (`flag`), else pyproject `out-dir`, else `<root>/.parallel-pytest`; absolute.
pub fn out_dir(flag: Option<PathBuf>, settings: &Settings, cwd: &Path) -> PathBuf {
    let default = settings.root.join(".parallel-pytest");
    paths::absolute(
        cwd,
        &pick(flag, settings.file.out_dir.clone(), default).value,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
