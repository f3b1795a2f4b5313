//! clap definitions only: no logic here (STYLE.md §1). Every flag can also come from a
//! `PARALLEL_PYTEST_*` variable (see `env_vars.rs`), and most from `[tool.parallel-pytest]`
//! in pyproject.toml; `settings.rs` resolves the three into one `Settings`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ci::Shard;
use crate::env_vars::ours;

#[derive(Debug, Parser)]
#[command(
    name = "parallel-pytest",
    version,
    about = "Split a pytest suite across CI shards and xdist workers, run one shard, report them all.",
    propagate_version = true
)]
pub struct Cli {
    /// Project directory (where pytest's rootdir/config is looked up). Default: current directory.
    #[arg(long, global = true, env = ours::ROOT, value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show where this job runs and what it will use: CI provider, shard, CPUs, memory, workers, Python.
    Env(EnvArgs),
    /// Show the whole plan: which shard runs which tests, predicted seconds, the lower bound.
    Plan(PlanArgs),
    /// Run this job's shard with pytest-xdist and write the shard artifact.
    Run(RunArgs),
    /// Merge every shard's JUnit into a summary, annotations, merged JUnit and the next timings.
    Report(ReportArgs),
    /// Fetch a file (default: the timings store) from the report artifact of the latest
    /// successful run on the default branch, through the CI API; never fails the job.
    FetchTimings(FetchTimingsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FetchTimingsArgs {
    /// Branch whose latest successful run to read. Default: the repository's default branch.
    #[arg(long = "ref", value_name = "BRANCH")]
    pub reference: Option<String>,

    /// File of the artifact to fetch.
    #[arg(long, value_name = "NAME", default_value = "timings.json")]
    pub file: String,

    /// Where to write it (a `<OUT>.source.json` beside it says which run it came from).
    /// Default: `.parallel-pytest/fetched-timings.json` under the root, where `plan` and `run`
    /// look for it.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Seconds the fetch may take. Default: 20.
    #[arg(long, env = ours::TIMINGS_FETCH_TIMEOUT, value_name = "S")]
    pub timeout: Option<f64>,
}

/// Output format for `env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// Output format for `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// JSON for a GitHub `strategy.matrix` via `fromJSON`.
    Matrix,
    /// A GitLab child-pipeline YAML whose shard job has the chosen `parallel:` count.
    GitlabChild,
    /// For each shard count, the predicted wall and the runner time it costs.
    Cost,
}

/// `--workers auto|N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCount {
    Auto,
    Fixed(u32),
}

impl FromStr for WorkerCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(WorkerCount::Auto),
            n => match n.parse::<u32>() {
                Ok(0) | Err(_) => Err(format!(
                    "`{s}` is not a worker count: expected `auto` or a whole number >= 1"
                )),
                Ok(n) => Ok(WorkerCount::Fixed(n)),
            },
        }
    }
}

/// What the machine offers and how many workers to start (`env`, `plan`, `run`).
#[derive(Debug, Clone, Args)]
pub struct MachineArgs {
    /// This job's shard, `I/N` (1-based). Default: `PARALLEL_PYTEST_SHARD`, then
    /// `PARALLEL_PYTEST_JOB_INDEX`/`_TOTAL` (0-based), then the CI provider's variables.
    // No `env =` here: `ci::detect` reads `PARALLEL_PYTEST_SHARD` itself so that it can say
    // which variable a shard came from and name it in errors.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,

    /// xdist workers per shard: `auto` (CPU quota, affinity and memory) or a number.
    #[arg(long, env = ours::WORKERS, value_name = "auto|N")]
    pub workers: Option<WorkerCount>,

    /// Memory budget per xdist worker, in MiB, used to cap `auto` workers. Default: 512.
    #[arg(long, env = ours::MEMORY_PER_WORKER, value_name = "MIB")]
    pub memory_per_worker: Option<u64>,

    /// Python interpreter that has pytest. Default: `python3`, then `python`, on PATH.
    #[arg(long, env = ours::PYTHON, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    #[command(flatten)]
    pub machine: MachineArgs,

    /// `text`: a few readable lines; `json`: one JSON document (keys in the README).
    #[arg(long, env = ours::ENV_FORMAT, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// Inputs of the planner, shared by `plan` and `run` so both compute the identical plan.
#[derive(Debug, Clone, Args)]
pub struct PlanInputs {
    #[command(flatten)]
    pub machine: MachineArgs,

    /// Timing data: JUnit XML, `.test_durations`, or our store (files, folders or globs; repeatable).
    #[arg(long = "timings", env = ours::TIMINGS, value_name = "PATH", value_delimiter = ',')]
    pub timings: Vec<String>,

    /// Never fetch timings through the CI API (the fallback chain stops at local files).
    #[arg(long, env = ours::NO_TIMINGS_FETCH)]
    pub no_timings_fetch: bool,

    /// Seconds the whole timings fallback chain may take. Default: 20.
    #[arg(long, env = ours::TIMINGS_FETCH_TIMEOUT, value_name = "S")]
    pub timings_fetch_timeout: Option<f64>,

    /// Collect exact node ids with `pytest --collect-only -q` before planning.
    #[arg(long)]
    pub collect: bool,

    /// xdist distribution mode passed to pytest (`--dist`).
    #[arg(long, env = ours::DIST, value_name = "MODE")]
    pub dist: Option<String>,

    /// How a shard starts its workers: `xdist` (one pytest with `-n W`) or `processes` (`W`
    /// plain pytest processes, each with its own planned share). Default: `xdist`.
    #[arg(long, env = ours::LAUNCHER, value_name = "KIND")]
    pub launcher: Option<crate::plan::processes::Launcher>,

    /// Marker of tests that must run outside xdist, after the parallel phase.
    #[arg(long, env = ours::SERIAL_MARKER, value_name = "NAME")]
    pub serial_marker: Option<String>,

    /// Test paths (files or folders), as you would give pytest. Default: pytest's `testpaths`/rootdir.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,

    /// Arguments after `--` go to pytest untouched.
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub inputs: PlanInputs,

    /// Number of shards to plan. Default: the CI shard total, else 1.
    #[arg(long, env = ours::SHARDS, value_name = "N")]
    pub shards: Option<u32>,

    /// Pick the smallest shard count whose predicted makespan is at most this many seconds.
    #[arg(long, env = ours::TARGET_SECONDS, value_name = "S", conflicts_with = "shards")]
    pub target_seconds: Option<f64>,

    /// Upper bound on the shard count chosen by `--target-seconds`. Default: 256.
    #[arg(long, env = ours::MAX_SHARDS, value_name = "N")]
    pub max_shards: Option<u32>,

    /// Fixed start-up cost of one shard job (checkout, install), in seconds. Default: 30.
    #[arg(long, env = ours::SHARD_STARTUP_SECONDS, value_name = "S")]
    pub shard_startup_seconds: Option<f64>,

    /// With `--target-seconds`: the runner time all shard jobs together may cost, in minutes;
    /// the fewest shards that meet the target within it, else the fastest within it.
    #[arg(long, env = ours::MAX_RUNNER_MINUTES, value_name = "M")]
    pub max_runner_minutes: Option<f64>,

    /// `text`: a table per shard; `json`: the plan document (`run --plan` reads it); `matrix`:
    /// a GitHub matrix; `gitlab-child`: a child pipeline; `cost`: predicted wall and runner
    /// time per shard count.
    #[arg(long, env = ours::PLAN_FORMAT, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: PlanInputs,

    /// Where the shard artifact (JUnit + manifest) goes.
    #[arg(long, env = ours::OUT_DIR, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Print this shard's plan row and the exact pytest command, and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print only the pytest command (shell-quoted), for scripts that run pytest themselves.
    #[arg(long, conflicts_with = "dry_run")]
    pub print_command: bool,

    /// Run this shard of a plan saved with `plan --format json` instead of planning again.
    #[arg(long = "plan", env = ours::PLAN, value_name = "PATH")]
    pub plan_file: Option<PathBuf>,

    /// Seconds pytest gets to write its report after SIGINT/SIGTERM before it is terminated.
    #[arg(long, env = ours::GRACE_SECONDS, value_name = "S")]
    pub grace_seconds: Option<f64>,

    /// Leave `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, ... unset: by default, with more than
    /// one worker, each worker's numeric thread pools get its share of the CPUs.
    #[arg(long, env = ours::NO_THREAD_LIMITS)]
    pub no_thread_limits: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Shard artifacts or plain JUnit files: files, folders or globs. Default: `.parallel-pytest/`.
    #[arg(value_name = "INPUTS")]
    pub inputs: Vec<String>,

    /// Number of shards that must have reported. Default: from the manifests.
    #[arg(long, env = ours::EXPECT_SHARDS, value_name = "N")]
    pub expect_shards: Option<u32>,

    /// Report on this one shard only (a shard job's own report): no other shard is expected.
    #[arg(long, value_name = "I/N", conflicts_with = "expect_shards")]
    pub expect_shard: Option<Shard>,

    /// `text`: the summary for a terminal; `json`: one JSON document (keys in the README).
    #[arg(long, env = ours::REPORT_FORMAT, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,

    /// Write the Markdown summary here. Default: `$GITHUB_STEP_SUMMARY` when set.
    #[arg(long, env = ours::SUMMARY, value_name = "PATH")]
    pub summary: Option<PathBuf>,

    /// Previous timings to smooth the new store with (repeatable).
    #[arg(long = "timings", env = ours::TIMINGS, value_name = "PATH", value_delimiter = ',')]
    pub timings: Vec<String>,

    /// Where to write the updated timings store. Default: `.parallel-pytest/timings.json`.
    #[arg(long, env = ours::TIMINGS_OUT, value_name = "PATH")]
    pub timings_out: Option<PathBuf>,

    /// Write the merged JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub junit_out: Option<PathBuf>,

    /// Write GitLab Code Quality JSON here.
    #[arg(long, value_name = "PATH")]
    pub codequality_out: Option<PathBuf>,

    /// Also write the `--format json` document here (the GitHub Action reads its outputs from it).
    #[arg(long, value_name = "PATH")]
    pub json_out: Option<PathBuf>,

    /// Write the shards' combined coverage as Cobertura XML here (GitLab's `coverage_report`).
    #[arg(long, value_name = "PATH", env = ours::COVERAGE_XML)]
    pub coverage_xml: Option<PathBuf>,
    /// Where to write the compact results file (each test's outcome and seconds) a later run
    /// compares with. Default: `.parallel-pytest/results.json`.
    #[arg(long, env = ours::RESULTS_OUT, value_name = "PATH")]
    pub results_out: Option<PathBuf>,

    /// A base run's results file (its `--results-out`) to compare this run with: new failures,
    /// still failing, fixed, new, removed and slower tests.
    #[arg(long, env = ours::BASE, value_name = "PATH")]
    pub base: Option<PathBuf>,

    /// Which failing tests fail the job: `all` (default), or `new`: only those not failing
    /// on `--base` (missing shards, lost tests and other problems still fail it).
    #[arg(long, env = ours::FAIL_ON, value_name = "new|all")]
    pub fail_on: Option<crate::report::compare::FailOn>,

    /// Without `--base`, never fetch the base run's results through the CI API (then there is
    /// no comparison). The same switch turns off `plan`/`run`'s timings fetch.
    #[arg(long, env = ours::NO_TIMINGS_FETCH)]
    pub no_timings_fetch: bool,

    /// Seconds the fetch of the base run's results may take. Default: 20.
    #[arg(long, env = ours::TIMINGS_FETCH_TIMEOUT, value_name = "S")]
    pub timings_fetch_timeout: Option<f64>,

    #[command(flatten)]
    pub github: GithubPublishArgs,

    #[command(flatten)]
    pub gitlab: GitLabPublishArgs,
}

/// `report`: what to publish through the GitHub API. All optional; without a token the
/// report still works and says what it skipped.
#[derive(Debug, Clone, Args)]
pub struct GithubPublishArgs {
    /// Create a GitHub check run carrying every annotation (needs `checks: write`).
    #[arg(long, env = ours::CHECK_RUN, value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::SetTrue)]
    pub check_run: bool,

    /// Create or update one sticky comment on the pull request (needs `pull-requests: write`).
    #[arg(long, env = ours::COMMENT, value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::SetTrue)]
    pub comment: bool,

    /// Name of the check run; also keys the sticky comment. Default: `parallel-pytest`.
    #[arg(long, env = ours::CHECK_NAME, value_name = "NAME")]
    pub check_name: Option<String>,

    /// GitHub token. Prefer the variable (a flag shows in the process list). Default: `GITHUB_TOKEN`.
    #[arg(long, env = ours::GITHUB_TOKEN, value_name = "TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,

    /// Exit 2 when a requested check run or comment could not be published (default: warn only).
    #[arg(long, env = ours::FAIL_ON_PUBLISH_ERROR, value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::SetTrue)]
    pub fail_on_publish_error: bool,

    /// Seconds all publishing (check run, comment, MR note, retries included) may take before
    /// it is given up, so a hung API cannot hold the job.
    #[arg(long, env = ours::PUBLISH_TIMEOUT, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub publish_timeout: u64,
}

/// Publishing to GitLab from `report`.
#[derive(Debug, Clone, Args)]
pub struct GitLabPublishArgs {
    /// Post the summary as one GitLab merge request note, edited in place on later pipelines.
    #[arg(long, env = ours::MR_NOTE, value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::SetTrue)]
    pub mr_note: bool,

    /// Name of the variable that holds a GitLab access token with `api` scope (not the token).
    #[arg(
        long,
        env = ours::TOKEN_VARIABLE,
        value_name = "NAME",
        default_value = ours::GITLAB_TOKEN
    )]
    pub token_variable: String,
}
