//! `parallel-pytest run`: compute the plan exactly as `plan` does, run this shard's selection
//! with pytest (+ xdist), write `junit-<I>-of-<N>.xml` and `shard-<I>-of-<N>.json`, and return
//! pytest's exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::ci::{self, Shard};
use crate::cli::RunArgs;
use crate::env_vars::ours;
use crate::error::Error;
use crate::plan::{self, Plan, ShardCount, ShardPlan};
use crate::pytest::command::{self, PytestCommand};
use crate::pytest::interpreter;
use crate::pytest::manifest::SerialPhase;
use crate::pytest::manifest::{MANIFEST_VERSION, Manifest, PythonInfo, Selection};
use crate::pytest::serial;
use crate::pytest::{crash, process};
use crate::settings::Settings;
use crate::settings::plan::PlanInputsSettings;
use crate::suite;

/// xdist distribution mode when neither `--dist` nor the config sets one. BENCHMARKS.md ("run",
/// `--dist`): on slowest-first timed work `load`, `worksteal` and `loadfile` measured within
/// noise of each other; `load` works with every xdist version (`worksteal` needs 3.2+).
pub const DEFAULT_DIST: &str = "load";

/// Everything `run` needs, resolved once (flags > env > pyproject > defaults).
#[derive(Debug, Clone)]
struct Resolved {
    cwd: PathBuf,
    root: PathBuf,
    out_dir: PathBuf,
    python: PathBuf,
    dist: String,
    grace: Duration,
    shard_flag: Option<Shard>,
    /// `--workers N` / pyproject `workers = N`.
    workers_flag: Option<u32>,
    /// `--serial-marker` / pyproject `serial-marker`, else `serial` (issue 8).
    serial_marker: String,
    argv_budget: usize,
}

pub fn execute(root: Option<PathBuf>, args: RunArgs) -> Result<ExitCode, Error> {
    let (resolved, settings) = resolve(root, &args)?;
    let ci = ci::detect_from_env(resolved.shard_flag).map_err(|e| Error::usage(e.to_string()))?;
    let ci_shard = ci.shard.map(|c| c.shard());
    let Obtained {
        plan,
        rootdir,
        invocation_dir,
    } = obtain_plan(&args, &resolved, &settings, ci_shard)?;
    let shard = this_shard(ci_shard, &plan)?;
    let shard_plan = plan
        .shards
        .iter()
        .find(|s| s.index == shard.index)
        .cloned()
        .ok_or_else(|| {
            Error::usage(format!(
                "the plan has no row for shard {shard} (it lists {} shards)",
                plan.shards.len()
            ))
        })?;
    let workers = shard_plan.workers_to_start(resolved.workers_flag);

    if shard_plan.is_empty() {
        return empty_shard(&args, &resolved, &plan, shard, &shard_plan);
    }

    let inputs = command::Inputs {
        python: &resolved.python,
        rootdir: &rootdir,
        invocation_dir: &invocation_dir,
        out_dir: &resolved.out_dir,
        id: shard,
        shard: &shard_plan,
        workers,
        dist: &resolved.dist,
        argv_budget: resolved.argv_budget,
        user_args: &args.inputs.pytest_args,
    };
    let mut cmd = command::build(&inputs);
    let stem = shard.file_stem();
    let serial_out = resolved.out_dir.join(format!("serial-{stem}.txt"));
    let serial_junit = resolved.out_dir.join(format!("junit-{stem}.serial.xml"));
    let marker = &resolved.serial_marker;
    // `--print-command` is for scripts that run pytest themselves, in one go: splitting off
    // the serial tests there would lose them, so that command only registers the marker.
    let phase = (!args.print_command).then_some(serial::Phase::Parallel);
    serial::add_plugin(
        &mut cmd,
        serial::plugin_args(phase, marker, Some(&serial_out)),
    );
    // Whether xdist is installed is known for sure only once pytest has run (the plugin
    // records it); for the dry run, a shard that uses workers needs it anyway.
    let serial_cmd = serial::serial_command(&inputs, marker, &serial_junit, workers > 1);
    write_command_files(&cmd)?;

    if args.print_command {
        println!("{}", cmd.shell(Some(&resolved.cwd)));
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        println!("{}", plan_row(shard, &shard_plan, workers));
        println!("{}", cmd.shell(Some(&resolved.cwd)));
        // On stderr: stdout stays the row and one command that runs as is.
        eprintln!(
            "parallel-pytest: then, if the shard has tests marked `{marker}`, in one process:\n{}",
            serial_cmd.shell(Some(&resolved.cwd))
        );
        return Ok(ExitCode::SUCCESS);
    }

    // A report or manifest left by an earlier run must never pass for this run's (a crash
    // before pytest writes its file, or this process being killed, would otherwise look green).
    let manifest_path = resolved.out_dir.join(format!("shard-{stem}.json"));
    remove_if_exists(&manifest_path)?;
    remove_if_exists(&cmd.junit_path)?;
    remove_if_exists(&cmd.info_path)?;
    remove_if_exists(&serial_out)?;
    remove_if_exists(&serial_junit)?;
    let host = crate::host::detect();
    let (parallel, parallel_usage) = process::run_sampled(&cmd, resolved.grace, workers > 1)
        .map_err(|e| Error::Failed(e.into()))?;

    if let Some(user_junit) = &cmd.user_junit {
        // The user's `--junitxml` won (it came last); keep a copy under our name for `report`.
        if user_junit.exists() {
            fs_err::copy(user_junit, &cmd.junit_path).map_err(anyhow::Error::from)?;
        }
    }

    let mut finished = parallel.clone();
    let mut serial_phase = None;
    let mut serial_usage = None;
    let serial_ids = serial::read_serial_ids(&serial_out).unwrap_or_default();
    if !serial_ids.is_empty() {
        let started = parallel.interrupted_by.is_none()
            && serial::run_serial_phase(parallel.code, &serial_ids);
        let mut phase = SerialPhase {
            node_ids: serial_ids,
            started,
            ..SerialPhase::default()
        };
        if started {
            eprintln!(
                "parallel-pytest: running {} marked `{marker}` in one process, after the parallel tests",
                plural(phase.node_ids.len(), "test", "tests")
            );
            let xdist = python_info(&cmd.info_path, &resolved.python)
                .xdist
                .is_some();
            let serial_cmd = serial::serial_command(&inputs, marker, &serial_junit, xdist);
            write_command_files(&serial_cmd)?;
            let (ended, usage) = process::run_sampled(&serial_cmd, resolved.grace, false)
                .map_err(|e| Error::Failed(e.into()))?;
            if let Some(user_junit) = &serial_cmd.user_junit {
                if user_junit.exists() {
                    fs_err::copy(user_junit, &serial_junit).map_err(anyhow::Error::from)?;
                }
            }
            let mut merge_failed = false;
            if serial_junit.exists() {
                if let Err(e) = serial::append_junit(&cmd.junit_path, &serial_junit) {
                    // Both files stay; the shard must not read as green with results missing.
                    eprintln!(
                        "parallel-pytest: {e:#}; the serial tests' results stay in `{}`",
                        serial_junit.display()
                    );
                    merge_failed = true;
                } else if let Some(user_junit) = &cmd.user_junit {
                    fs_err::copy(&cmd.junit_path, user_junit).map_err(anyhow::Error::from)?;
                }
            }
            phase.exit_code = ended.code;
            phase.signal = ended.killed_by.map(|s| s.as_str().to_string());
            phase.wall_seconds = ended.wall.as_secs_f64();
            finished = process::Finished {
                // A serial phase killed by a signal has no code: neither has the shard.
                code: ended
                    .code
                    .and_then(|_| serial::combine_exit_codes(parallel.code, ended.code))
                    .map(|c| {
                        if merge_failed && matches!(c, 0 | 5) {
                            1
                        } else {
                            c
                        }
                    }),
                killed_by: parallel.killed_by.or(ended.killed_by),
                interrupted_by: parallel.interrupted_by.or(ended.interrupted_by),
                wall: parallel.wall + ended.wall,
            };
            serial_usage = Some(usage);
        } else {
            eprintln!(
                "parallel-pytest: {} marked `{marker}` did not run: the parallel phase ended with {}",
                plural(phase.node_ids.len(), "test", "tests"),
                parallel
                    .code
                    .map_or_else(|| "a signal".to_string(), |c| format!("exit code {c}"))
            );
        }
        serial_phase = Some(phase);
    }
    let resources = crate::host::usage::Resources::new(
        parallel_usage,
        parallel.wall.as_secs_f64(),
        workers,
        serial_usage,
        host.memory.limit_bytes.or(host.memory.available_bytes),
        Some(usable_cpus(&host.cpus)),
    );

    let crashed_workers = crash::crashes_in_file(&cmd.junit_path);
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        fingerprint: plan.fingerprint.clone(),
        shard_index: shard.index,
        shard_total: shard.total,
        selection: selection(&shard_plan),
        predicted_seconds: shard_plan.predicted_seconds,
        wall_seconds: finished.wall.as_secs_f64(),
        workers,
        exit_code: finished.code,
        signal: finished.killed_by.map(|s| s.as_str().to_string()),
        pytest_started: true,
        junit_file: file_name(&cmd.junit_path),
        python: python_info(&cmd.info_path, &resolved.python),
        crashed_workers,
        interrupted_by: finished.interrupted_by.map(|s| s.as_str().to_string()),
        dist: (workers > 1).then(|| resolved.dist.clone()),
        max_worker_restart: cmd.max_worker_restart,
        serial: serial_phase,
        resources: Some(resources),
    };
    manifest
        .write(&manifest_path)
        .with_context(|| format!("failed to write `{}`", manifest_path.display()))?;

    let code = process::exit_code(&finished);
    if let Some(hint) = failure_hint(&finished, &manifest.python, workers, &cmd.info_path) {
        eprintln!("parallel-pytest: {hint}");
    }
    if let Some(sig) = finished.killed_by {
        eprintln!(
            "parallel-pytest: {}",
            process::signal_message(sig, finished.interrupted_by)
        );
    }
    for c in &manifest.crashed_workers {
        eprintln!(
            "parallel-pytest: xdist worker `{}` crashed while running `{}`",
            c.worker,
            c.test.as_deref().unwrap_or("?")
        );
    }
    if let Some(max) = manifest.max_worker_restart {
        let crashes = manifest.crashed_workers.len();
        if crashes > max as usize {
            eprintln!(
                "parallel-pytest: xdist stopped after {} (`--max-worker-restart {max}`): the tests still queued did not run",
                plural(crashes, "crashed worker", "crashed workers")
            );
        }
    }
    eprintln!(
        "{}",
        summary_line(shard, &manifest, code, &resolved.out_dir, &resolved.cwd)
    );
    if let Some(resources) = &manifest.resources {
        if let Some(line) = resources_line(resources, workers) {
            eprintln!("parallel-pytest: {line}");
        }
        for advice in &resources.advice {
            eprintln!("parallel-pytest: advice: {advice}");
        }
    }
    Ok(ExitCode::from(code))
}

fn resolve(root: Option<PathBuf>, args: &RunArgs) -> Result<(Resolved, Settings), Error> {
    let cwd = std::env::current_dir()
        .context("failed to read the current directory")
        .map_err(Error::Failed)?;
    let settings = Settings::load(root, &args.inputs.machine)?;
    let root = absolute(&cwd, &settings.root);
    let file = &settings.file;
    let out_dir = match args.out_dir.clone().or(file.out_dir.clone()) {
        Some(d) => absolute(&cwd, &d),
        None => root.join(".parallel-pytest"),
    };
    let (python, _source) = interpreter::find(
        settings.machine.python_choice(),
        std::env::var_os("PATH").as_deref(),
    )
    .map_err(|e| Error::usage(e.to_string()))?;
    let python = python_path(&cwd, &python);
    let dist = args
        .inputs
        .dist
        .clone()
        .or(file.dist.clone())
        .unwrap_or_else(|| DEFAULT_DIST.to_string());
    let grace = match args.grace_seconds {
        None => process::DEFAULT_GRACE,
        Some(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
        Some(s) => {
            return Err(Error::usage(format!(
                "`--grace-seconds {s}` must be a number of seconds >= 0"
            )));
        }
    };
    let serial_marker = args
        .inputs
        .serial_marker
        .clone()
        .or(file.serial_marker.clone())
        .unwrap_or_else(|| serial::DEFAULT_MARKER.to_string());
    serial::validate_marker(&serial_marker)
        .map_err(|e| Error::usage(format!("`--serial-marker`: {e}")))?;
    let argv_budget = match std::env::var(ours::ARGV_BUDGET) {
        Err(_) => command::ARGV_PATH_BUDGET,
        Ok(v) => v.trim().parse::<usize>().map_err(|_| {
            Error::usage(format!(
                "`{}` is `{v}`: expected a number of bytes",
                ours::ARGV_BUDGET
            ))
        })?,
    };
    let resolved = Resolved {
        argv_budget,
        cwd,
        root,
        out_dir,
        python,
        dist,
        grace,
        shard_flag: settings.machine.shard,
        workers_flag: settings.machine.forced_workers(),
        serial_marker,
    };
    Ok((resolved, settings))
}

/// The plan: from `--plan`, else computed here exactly as `plan` computes it.
fn obtain_plan(
    args: &RunArgs,
    resolved: &Resolved,
    settings: &Settings,
    ci_shard: Option<Shard>,
) -> Result<Obtained, Error> {
    let Some(path) = &args.plan_file else {
        // Exactly what `plan` computes: the same request from the same settings, with N from
        // this job's shard.
        let total = ci_shard.map_or(1, |s| s.total);
        let inputs = PlanInputsSettings::resolve(&args.inputs, settings)?;
        let planned = plan::build(&inputs.plan, ShardCount::Fixed(total), inputs.workers())?;
        for w in &planned.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(Obtained {
            plan: planned.plan,
            rootdir: planned.rootdir,
            invocation_dir: planned.invocation_dir,
        });
    };
    let path = absolute(&resolved.cwd, path);
    let text = fs_err::read_to_string(&path).map_err(|e| Error::usage(e.to_string()))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "`{}` is not a plan from `plan --format json`: {e}",
            path.display()
        ))
    })?;
    // The plan's paths are relative to pytest's rootdir: find it as `plan` did.
    let suite = suite::load(&suite::SuiteRequest {
        invocation_dir: resolved.root.clone(),
        paths: args.inputs.paths.clone(),
        pytest_args: args.inputs.pytest_args.clone(),
        env_addopts: std::env::var(crate::env_vars::ci::PYTEST_ADDOPTS).ok(),
    })?;
    Ok(Obtained {
        plan,
        rootdir: suite.rootdir,
        invocation_dir: resolved.root.clone(),
    })
}

/// The plan and where its paths point.
struct Obtained {
    plan: Plan,
    /// pytest's rootdir: plan paths are relative to it.
    rootdir: PathBuf,
    /// Where pytest starts (`--root`, else the current directory).
    invocation_dir: PathBuf,
}

/// `--shard`, else `PARALLEL_PYTEST_SHARD`/the CI provider's variables, else 1/1 for a
/// one-shard plan.
fn this_shard(ci_shard: Option<Shard>, plan: &Plan) -> Result<Shard, Error> {
    let shard = match ci_shard {
        Some(shard) => shard,
        None if plan.shards_total == 1 => Shard { index: 1, total: 1 },
        None => {
            return Err(Error::usage(format!(
                "the plan has {} shards: pass `--shard I/{}` to say which one this job runs",
                plan.shards_total, plan.shards_total
            )));
        }
    };
    if shard.total != plan.shards_total {
        return Err(Error::usage(format!(
            "`--shard {shard}` does not match the plan, which has {}",
            plural(plan.shards_total as usize, "shard", "shards")
        )));
    }
    Ok(shard)
}

fn empty_shard(
    args: &RunArgs,
    resolved: &Resolved,
    plan: &Plan,
    shard: Shard,
    shard_plan: &ShardPlan,
) -> Result<ExitCode, Error> {
    let line = format!(
        "parallel-pytest: shard {shard} has nothing to run (the plan gave it no tests); pytest was not started"
    );
    if args.print_command {
        // Nothing on stdout: a script doing `cmd=$(... --print-command)` sees an empty command.
        eprintln!("{line}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        println!("{}", plan_row(shard, shard_plan, 0));
        println!("# {line}");
        return Ok(ExitCode::SUCCESS);
    }
    fs_err::create_dir_all(&resolved.out_dir).map_err(anyhow::Error::from)?;
    let junit = resolved
        .out_dir
        .join(format!("junit-{}.xml", shard.file_stem()));
    // An empty but valid report, so artifact globs and `report` find this shard's file.
    fs_err::write(
        &junit,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites name=\"pytest tests\"><testsuite name=\"pytest\" errors=\"0\" failures=\"0\" skipped=\"0\" tests=\"0\" time=\"0\"/></testsuites>\n",
    )
    .map_err(anyhow::Error::from)?;
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        fingerprint: plan.fingerprint.clone(),
        shard_index: shard.index,
        shard_total: shard.total,
        selection: selection(shard_plan),
        predicted_seconds: shard_plan.predicted_seconds,
        wall_seconds: 0.0,
        workers: 0,
        exit_code: None,
        signal: None,
        pytest_started: false,
        junit_file: file_name(&junit),
        python: PythonInfo {
            executable: resolved.python.display().to_string(),
            ..PythonInfo::default()
        },
        crashed_workers: Vec::new(),
        interrupted_by: None,
        dist: None,
        max_worker_restart: None,
        serial: None,
        resources: None,
    };
    let path = resolved
        .out_dir
        .join(format!("shard-{}.json", shard.file_stem()));
    manifest
        .write(&path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    eprintln!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// What the plugin recorded about the interpreter; only the path when pytest never got far
/// enough to load it (no pytest installed, a bad option).
fn python_info(info_path: &Path, python: &Path) -> PythonInfo {
    #[derive(serde::Deserialize)]
    struct Raw {
        executable: String,
        version: Option<String>,
        pytest: Option<String>,
        xdist: Option<String>,
    }
    let raw = fs_err::read_to_string(info_path)
        .ok()
        .and_then(|t| serde_json::from_str::<Raw>(&t).ok());
    match raw {
        Some(r) => PythonInfo {
            executable: r.executable,
            version: r.version,
            pytest: r.pytest,
            xdist: r.xdist,
        },
        None => PythonInfo {
            executable: python.display().to_string(),
            ..PythonInfo::default()
        },
    }
}

/// A likely cause for an early failure: no pytest at all, or no xdist when `-n` was needed.
fn failure_hint(
    finished: &process::Finished,
    python: &PythonInfo,
    workers: u32,
    info_path: &Path,
) -> Option<String> {
    let code = finished.code?;
    if code == 0 || finished.interrupted_by.is_some() {
        return None;
    }
    if !info_path.exists() {
        return Some(format!(
            "pytest stopped before loading its plugins (exit {code}); check that pytest{} is installed for `{}` (choose another with `--python`)",
            if workers > 1 { " and pytest-xdist" } else { "" },
            python.executable
        ));
    }
    if workers > 1 && python.xdist.is_none() {
        return Some(format!(
            "this shard uses {workers} workers but pytest-xdist is not installed for `{}`: install it, or pass `--workers 1`",
            python.executable
        ));
    }
    None
}

fn write_command_files(cmd: &PytestCommand) -> Result<(), Error> {
    for (path, contents) in &cmd.files {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(anyhow::Error::from)?;
        }
        fs_err::write(path, contents).map_err(anyhow::Error::from)?;
    }
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Failed(
            anyhow::Error::from(e).context(format!("failed to remove `{}`", path.display())),
        )),
    }
}

fn selection(shard: &ShardPlan) -> Selection {
    Selection {
        files: shard.files.clone(),
        node_ids: shard.node_ids.clone(),
        deselect: shard.deselect.clone(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `os.path.abspath` semantics (lexical, `..` removed), as pytest and the planner use: paths
/// with `..` left in would not compare equal to the planner's rootdir.
fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    suite::paths::absolute(cwd, p)
}

/// A bare command name (`python3`) is looked up on PATH; a relative path (`.venv/bin/python`)
/// is made absolute because pytest runs in the rootdir, not here.
fn python_path(cwd: &Path, p: &Path) -> PathBuf {
    if p.components().count() > 1 {
        absolute(cwd, p)
    } else {
        p.to_path_buf()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// This shard's plan row, as `--dry-run` prints it.
pub fn plan_row(shard: Shard, s: &ShardPlan, workers: u32) -> String {
    let mut row = format!(
        "shard {shard}: predicted {:.1} s, {}, {}, {}",
        s.predicted_seconds,
        plural(s.files.len(), "file", "files"),
        plural(s.node_ids.len(), "single test", "single tests"),
        plural(s.deselect.len(), "deselected", "deselected"),
    );
    if workers > 0 {
        row.push_str(&format!(
            ", {}",
            plural(workers as usize, "worker", "workers")
        ));
    }
    row
}

/// CPUs the shard may use, as a fraction: the cgroup quota (1.5 CPUs) when there is one,
/// never more than the CPUs it may run on.
fn usable_cpus(cpus: &crate::host::Cpus) -> f64 {
    let on = f64::from(cpus.affinity.unwrap_or(cpus.online).max(1));
    cpus.quota.map_or(f64::from(cpus.effective), |q| q.min(on))
}

/// `measured CPU 3.2 s over 2 workers × 4.1 s (39% used), peak memory 350 MiB of 15.2 GiB
/// (at most 200 MiB per worker)`.
pub fn resources_line(r: &crate::host::usage::Resources, workers: u32) -> Option<String> {
    use crate::host::usage::format_bytes;
    if !r.parallel.measured {
        return None;
    }
    let mut line = format!(
        "measured CPU {:.1} s over {} × {:.1} s",
        r.parallel.cpu_seconds,
        plural(workers as usize, "worker", "workers"),
        r.parallel_wall_seconds,
    );
    if let Some(u) = r.utilisation {
        line.push_str(&format!(" ({:.0}% used)", 100.0 * u));
    }
    line.push_str(&format!(", peak memory {}", format_bytes(r.peak_rss_bytes)));
    if let Some(limit) = r.memory_limit_bytes {
        line.push_str(&format!(" of {}", format_bytes(limit)));
    }
    if let Some(w) = r.peak_worker_rss_bytes {
        line.push_str(&format!(" (at most {} per worker)", format_bytes(w)));
    }
    Some(line)
}

fn summary_line(shard: Shard, m: &Manifest, code: u8, out_dir: &Path, cwd: &Path) -> String {
    let shown = out_dir.strip_prefix(cwd).unwrap_or(out_dir);
    let ended = match (&m.exit_code, &m.signal) {
        (Some(c), _) => format!("pytest exited {c}"),
        (None, Some(sig)) => format!("pytest was killed by {sig}"),
        (None, None) => "pytest did not finish".to_string(),
    };
    format!(
        "parallel-pytest: shard {shard} ran {} and {} with {} in {:.1} s (predicted {:.1} s); {ended}; exit {code}; artifacts in `{}`",
        plural(m.selection.files.len(), "file", "files"),
        plural(m.selection.node_ids.len(), "single test", "single tests"),
        plural(m.workers as usize, "worker", "workers"),
        m.wall_seconds,
        m.predicted_seconds,
        shown.display(),
    )
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
        }
    }

    #[test]
    fn row() {
        let s = Shard { index: 2, total: 3 };
        assert_eq!(
            plan_row(s, &sp(2, 1, 2), 2),
            "shard 2/3: predicted 2.0 s, 2 files, 1 single test, 0 deselected, 2 workers"
        );
    }
}
