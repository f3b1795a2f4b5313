//! `parallel-pytest run`: compute the plan exactly as `plan` does, hand this shard to the shard
//! runner (`pytest::shard_run`), print what came back, and return pytest's exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ci::{self, Shard};
use crate::cli::RunArgs;
use crate::error::Error;
use crate::plan::model::prediction_label;
use crate::plan::{Plan, ShardCount, ShardPlan};
use crate::pytest::command;
use crate::pytest::manifest::Manifest;
use crate::pytest::process;
use crate::pytest::shard_run::{self, Progress, ShardOutcome, ShardRun};
use crate::report::advice;
use crate::report::escape;
use crate::settings::Settings;
use crate::settings::plan::PlanInputsSettings;
use crate::settings::run::RunSettings;
use crate::suite;
use crate::text::count;

pub fn execute(root: Option<PathBuf>, args: RunArgs) -> Result<ExitCode, Error> {
    let settings = Settings::load(root, &args.inputs.machine)?;
    let run = RunSettings::resolve(&settings, &args)?;
    // Read before pytest starts: a bad entry is a usage error, not a surprise after the run.
    let quarantine = crate::settings::quarantine::load(&settings.root, &settings.file)?;
    let ci = ci::detect_from_env(settings.machine.shard)?;
    let ci_shard = ci.shard.map(|c| c.shard());
    let Obtained {
        plan,
        rootdir,
        invocation_dir,
        roots,
        discovered,
    } = obtain_plan(&args, &run, &settings, ci_shard)?;
    let shard = this_shard(ci_shard, &plan)?;
    // A saved plan decides the launcher: it holds the processes, or it does not.
    let asked = args.inputs.launcher == Some(crate::plan::processes::Launcher::Processes);
    if args.plan_file.is_some() && asked && plan.shards.iter().all(|s| s.processes.is_empty()) {
        eprintln!(
            "parallel-pytest: note: `--launcher processes` does not apply to a plan made without it (`--plan`): this run uses xdist; make the plan with `--launcher processes`"
        );
    }
    let shard_plan = plan
        .shards
        .iter()
        .find(|s| s.index == shard.index)
        .ok_or_else(|| {
            Error::usage(format!(
                "the plan has no row for shard {shard} (it lists {} shards)",
                plan.shards.len()
            ))
        })?;
    let workers = shard_plan.workers_to_start(run.forced_workers);
    let net = crate::pytest::net::input(&plan, shard, &roots, &discovered, &run.out_dir.value);
    let req = ShardRun {
        inputs: command::Inputs {
            python: &run.python,
            rootdir: &rootdir,
            invocation_dir: &invocation_dir,
            out_dir: &run.out_dir.value,
            id: shard,
            shard: shard_plan,
            workers,
            dist: &run.dist.value,
            argv_budget: run.argv_budget,
            user_args: &args.inputs.pytest_args,
            net: Some(&net),
            process: None,
        },
        serial_marker: &run.serial_marker.value,
        grace: run.grace,
        fingerprint: &plan.fingerprint,
        thread_limits: crate::pytest::threads::for_this_machine(workers, run.thread_limits),
        timings_source: plan.timings_source.as_ref(),
    };
    if shard_plan.is_empty() {
        return empty_shard(&args, &req);
    }
    if !shard_plan.processes.is_empty() && (args.print_command || args.dry_run) {
        return print_processes(&args, &req, &run, shard, workers);
    }
    if args.print_command {
        let cmd = shard_run::print_only(&req)?;
        println!("{}", cmd.shell(Some(&run.cwd)));
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        let (cmd, serial_cmd) = shard_run::dry_run(&req)?;
        println!("{}", plan_row(shard, shard_plan, workers));
        println!("{}", cmd.shell(Some(&run.cwd)));
        // On stderr: stdout stays the row and one command that runs as is.
        eprintln!(
            "parallel-pytest: then, if the shard has tests marked `{}`, in one process:\n{}",
            req.serial_marker,
            serial_cmd.shell(Some(&run.cwd))
        );
        return Ok(ExitCode::SUCCESS);
    }
    let marker = req.serial_marker;
    // Lines quote node ids (a crashed worker's test), which must stay inert in a CI log.
    let fence = CommandFence::open();
    let outcome = shard_run::run(&req, &mut |p| {
        eprintln!(
            "parallel-pytest: {}",
            escape::terminal(&progress_line(&p, marker))
        )
    });
    drop(fence);
    let mut outcome = outcome?;
    let all_quarantined = all_failures_quarantined(&outcome, &run, shard, quarantine);
    if all_quarantined.is_some() {
        outcome.exit_code = 0;
    }
    for line in outcome_lines(&outcome, &run) {
        eprintln!("{}", escape::terminal(&line));
    }
    if let Some(line) = all_quarantined {
        eprintln!("parallel-pytest: {}", escape::terminal(&line));
    }
    Ok(ExitCode::from(outcome.exit_code))
}

/// pytest's exit 1 (tests failed) when every failure of this shard is covered by a quarantine
/// entry that has not expired: the shard job stays green, and the line says which tests failed.
/// Read back from the shard's own artifacts, exactly as `report --expect-shard` would.
fn all_failures_quarantined(
    outcome: &ShardOutcome,
    run: &RunSettings,
    shard: Shard,
    entries: Vec<crate::report::quarantine::Entry>,
) -> Option<String> {
    use crate::report::{inputs, model, quarantine};
    if outcome.exit_code != 1 || entries.is_empty() {
        return None;
    }
    let manifest = run
        .out_dir
        .value
        .join(format!("shard-{}.json", shard.file_stem()));
    let mut loaded = inputs::load(
        &[manifest.to_string_lossy().into_owned()],
        &run.root,
        None,
        &crate::junit::reader::Limits::default(),
        &[],
    );
    loaded.only_shard = Some(shard);
    let mut summary = model::build(&loaded);
    let passed = std::mem::take(&mut summary.passed_ids);
    quarantine::apply(&mut summary, entries, &passed, quarantine::Date::today());
    let failed = &summary.quarantine.failed;
    if !summary.green() || failed.is_empty() {
        return None;
    }
    let ids: Vec<&str> = failed.iter().map(|f| f.failure.id.as_str()).collect();
    Some(format!(
        "every failure of this shard is quarantined ({}: {}): exit 0; the report lists them",
        count(ids.len() as u64, "test", "tests"),
        ids.iter()
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `--dry-run`/`--print-command` of a `--launcher processes` shard: one command per process
/// on stdout, one per line, to be started side by side (`--dry-run` adds the plan row first and
/// the serial phase on stderr). Serial tests are left to each process's own isolation plugin
/// as in `--print-command`'s one xdist command.
fn print_processes(
    args: &RunArgs,
    req: &ShardRun<'_>,
    run: &RunSettings,
    shard: Shard,
    workers: u32,
) -> Result<ExitCode, Error> {
    let cmds = shard_run::process_commands(req)?;
    if args.dry_run {
        println!("{}", plan_row(shard, req.inputs.shard, workers));
    }
    for cmd in &cmds {
        println!("{}", cmd.shell(Some(&run.cwd)));
    }
    eprintln!(
        "parallel-pytest: `--launcher processes`: the {} above run side by side, each a plain pytest",
        count(cmds.len() as u64, "command", "commands")
    );
    if args.dry_run {
        let (_, serial_cmd) = shard_run::commands(req);
        eprintln!(
            "parallel-pytest: then, if the shard has tests marked `{}`, in one process:\n{}",
            req.serial_marker,
            serial_cmd.shell(Some(&run.cwd))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// On GitHub Actions, everything pytest prints sits inside `::stop-commands::<token>`: a test's
/// output could otherwise issue workflow commands (annotations, masks, outputs) in our name and
/// use up the step's annotation limit. The token is fresh per run and printed only here, so no
/// test can end the block; what `run` says afterwards is outside it.
struct CommandFence {
    token: Option<String>,
}

impl CommandFence {
    fn open() -> Self {
        let on_github =
            std::env::var(crate::env_vars::ci::GITHUB_ACTIONS).is_ok_and(|v| v == "true");
        let token = on_github.then(crate::report::annotations::stop_token);
        if let Some(token) = &token {
            // A closed stdout loses only the fence, never the run.
            let _ = writeln!(std::io::stdout(), "::stop-commands::{token}");
        }
        CommandFence { token }
    }
}

impl Drop for CommandFence {
    fn drop(&mut self) {
        if let Some(token) = &self.token {
            let _ = writeln!(std::io::stdout(), "::{token}::");
        }
    }
}

/// The plan: from `--plan`, else computed here exactly as `plan` computes it.
fn obtain_plan(
    args: &RunArgs,
    run: &RunSettings,
    settings: &Settings,
    ci_shard: Option<Shard>,
) -> Result<Obtained, Error> {
    let Some(path) = &args.plan_file else {
        // Exactly what `plan` computes: the same request from the same settings, with N from
        // this job's shard.
        let total = ci_shard.map_or(1, |s| s.total);
        let mut inputs = PlanInputsSettings::resolve(&args.inputs, settings)?;
        if let Some(note) = &inputs.launcher_note {
            eprintln!("parallel-pytest: note: {}", escape::terminal(note));
        }
        inputs.plan.ignore.push(run.out_dir.value.clone());
        let planned =
            super::timings_chain::build(&inputs, ShardCount::Fixed(total), inputs.workers(), None)?;
        for w in &planned.warnings {
            eprintln!("warning: {}", escape::terminal(w));
        }
        if let Some(source) = &planned.plan.timings_source {
            eprintln!(
                "parallel-pytest: {}",
                escape::terminal(&super::timings_chain::describe(source))
            );
        }
        return Ok(Obtained {
            plan: planned.plan,
            rootdir: planned.rootdir,
            invocation_dir: planned.invocation_dir,
            roots: planned.roots,
            discovered: planned.discovered,
        });
    };
    let path = suite::paths::absolute(&run.cwd, path);
    let text = fs_err::read_to_string(&path)?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "`{}` is not a plan from `plan --format json`: {e}",
            path.display()
        ))
    })?;
    // The plan's paths are relative to pytest's rootdir: find it as `plan` did.
    let suite = suite::load(&suite::SuiteRequest {
        invocation_dir: run.root.clone(),
        paths: args.inputs.paths.clone(),
        pytest_args: args.inputs.pytest_args.clone(),
        env_addopts: std::env::var(crate::env_vars::ci::PYTEST_ADDOPTS).ok(),
    })?;
    Ok(Obtained {
        plan,
        rootdir: suite.rootdir,
        invocation_dir: run.root.clone(),
        roots: suite.roots,
        discovered: suite.files,
    })
}

/// The plan and where its paths point.
struct Obtained {
    plan: Plan,
    /// pytest's rootdir: plan paths are relative to it.
    rootdir: PathBuf,
    /// Where pytest starts (`--root`, else the current directory).
    invocation_dir: PathBuf,
    /// The paths pytest walks, for the net.
    roots: Vec<PathBuf>,
    /// The files discovery found: the net runs only files neither the plan nor discovery know.
    discovered: Vec<String>,
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
            count(u64::from(plan.shards_total), "shard", "shards")
        )));
    }
    Ok(shard)
}

fn empty_shard(args: &RunArgs, req: &ShardRun<'_>) -> Result<ExitCode, Error> {
    let line = format!(
        "parallel-pytest: shard {} has nothing to run (the plan gave it no tests); pytest was not started",
        req.inputs.id
    );
    if args.print_command {
        // Nothing on stdout: a script doing `cmd=$(... --print-command)` sees an empty command.
        eprintln!("{line}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        println!("{}", plan_row(req.inputs.id, req.inputs.shard, 0));
        println!("# {line}");
        return Ok(ExitCode::SUCCESS);
    }
    shard_run::run_empty(req)?;
    eprintln!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// What the shard runner reports mid-run, as one line.
fn progress_line(p: &Progress, marker: &str) -> String {
    match p {
        Progress::SerialStarting { tests } => format!(
            "running {} marked `{marker}` in one process, after the parallel tests",
            count(*tests as u64, "test", "tests")
        ),
        Progress::SerialSkipped {
            tests,
            parallel_exit,
        } => format!(
            "{} marked `{marker}` did not run: the parallel phase ended with {}",
            count(*tests as u64, "test", "tests"),
            parallel_exit.map_or_else(|| "a signal".to_string(), |c| format!("exit code {c}"))
        ),
        Progress::MergeFailed { error, kept } => format!(
            "{}; the serial tests' results stay in `{}`",
            with_causes(error),
            kept.display()
        ),
    }
}

/// `headline: cause: cause`, on one line.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        line.push_str(&format!(": {c}"));
        cause = c.source();
    }
    line
}

/// Everything printed after pytest ended: the likely cause of an early failure, a death by
/// signal, crashed workers, the summary, and what was measured with its advice.
fn outcome_lines(outcome: &ShardOutcome, run: &RunSettings) -> Vec<String> {
    let m = &outcome.manifest;
    let mut lines = Vec::new();
    let say = |text: String| format!("parallel-pytest: {text}");
    if let Some(hint) = failure_hint(m, outcome.plugins_loaded) {
        lines.push(say(hint));
    }
    if let Some(sig) = outcome.killed_by {
        lines.push(say(process::signal_message(sig, outcome.interrupted_by)));
    }
    let who = if m.launcher.is_some() {
        "pytest process"
    } else {
        "xdist worker"
    };
    for c in &m.crashed_workers {
        lines.push(say(format!(
            "{who} `{}` crashed while running `{}`",
            c.worker,
            c.test.as_deref().unwrap_or("?")
        )));
    }
    if let Some(max) = m.max_worker_restart {
        let crashes = m.crashed_workers.len();
        if crashes > max as usize {
            lines.push(say(format!(
                "xdist stopped after {} (`--max-worker-restart {max}`): the tests still queued did not run",
                count(crashes as u64, "crashed worker", "crashed workers")
            )));
        }
    }
    if let Some(nothing) = &outcome.nothing_ran {
        lines.push(say(nothing.to_string()));
    }
    // A timed id that is gone (renamed or deleted since the timings) is skipped, not failed:
    // say so, so a shard that ran fewer tests than planned explains itself.
    if let Some(note) = crate::report::terminal::not_found_note(&m.collected.not_found) {
        lines.push(say(format!("note: {note}")));
    }
    lines.push(summary_line(m, outcome.exit_code, run));
    // Resource advice is about tests running; a pytest that never got going measured nothing.
    if let Some(resources) = m.resources.as_ref().filter(|_| outcome.plugins_loaded) {
        lines.extend(resources_line(resources, m.workers).map(say));
        for a in &resources.advice {
            lines.push(say(format!("advice: {}", advice::line(a))));
        }
    }
    lines
}

/// A likely cause for an early failure: no pytest at all, or no xdist when `-n` was needed.
fn failure_hint(m: &Manifest, plugins_loaded: bool) -> Option<String> {
    let code = m.exit_code?;
    if code == 0 || m.interrupted_by.is_some() {
        return None;
    }
    let python = &m.python;
    if !plugins_loaded {
        return Some(format!(
            "pytest stopped before loading its plugins (exit {code}); check that {} installed for `{}` (choose another with `--python`)",
            if m.workers > 1 {
                "pytest and pytest-xdist are"
            } else {
                "pytest is"
            },
            python.executable.display()
        ));
    }
    // `--launcher processes` needs no xdist.
    if m.workers > 1 && m.launcher.is_none() && python.xdist.is_none() {
        return Some(format!(
            "this shard uses {} workers but pytest-xdist is not installed for `{}`: install it, or pass `--workers 1`",
            m.workers,
            python.executable.display()
        ));
    }
    None
}

fn summary_line(m: &Manifest, code: u8, run: &RunSettings) -> String {
    let out_dir = &run.out_dir.value;
    let shown = out_dir.strip_prefix(&run.cwd).unwrap_or(out_dir);
    let ended = match (&m.exit_code, &m.signal) {
        (Some(c), _) => format!("pytest exited {c}"),
        (None, Some(sig)) => format!("pytest was killed by {sig}"),
        (None, None) => "pytest did not finish".to_string(),
    };
    format!(
        "parallel-pytest: shard {}/{} ran {} and {} with {} in {:.1} s ({} {:.1} s); {ended}; exit {code}; artifacts in `{}`",
        m.shard_index,
        m.shard_total,
        count(m.selection.files.len() as u64, "file", "files"),
        count(
            m.selection.node_ids.len() as u64,
            "single test",
            "single tests"
        ),
        count(u64::from(m.workers), "worker", "workers"),
        m.wall_seconds,
        prediction_label(m.estimated),
        m.predicted_cost
            .as_ref()
            .map_or(m.predicted_seconds, |c| c.wall_seconds),
        shown.display(),
    )
}

/// This shard's plan row, as `--dry-run` prints it.
fn plan_row(shard: Shard, s: &ShardPlan, workers: u32) -> String {
    let mut row = format!(
        "shard {shard}: {} {:.1} s, {}, {}, {}",
        prediction_label(s.estimated),
        s.predicted_wall(),
        count(s.files.len() as u64, "file", "files"),
        count(s.node_ids.len() as u64, "single test", "single tests"),
        count(s.deselect.len() as u64, "deselected", "deselected"),
    );
    if workers > 0 {
        row.push_str(&format!(
            ", {}",
            count(u64::from(workers), "worker", "workers")
        ));
    }
    row
}

/// `measured CPU 3.2 s over 2 workers × 4.1 s (39% used), peak memory 350 MiB of 15.2 GiB
/// (at most 200 MiB per worker)`.
fn resources_line(r: &crate::host::usage::Resources, workers: u32) -> Option<String> {
    use crate::report::advice::format_bytes;
    if !r.parallel.measured {
        return None;
    }
    let mut line = format!(
        "measured CPU {:.1} s over {} × {:.1} s",
        r.parallel.cpu_seconds,
        count(u64::from(workers), "worker", "workers"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row() {
        let s = Shard { index: 2, total: 3 };
        let sp = ShardPlan {
            index: 2,
            predicted_seconds: 2.0,
            workers: 2,
            files: vec!["a.py".into(), "b.py".into()],
            node_ids: vec!["x.py::t[0]".into()],
            deselect: vec![],
            estimated: false,
            cost: None,
            processes: Vec::new(),
        };
        assert_eq!(
            plan_row(s, &sp, 2),
            "shard 2/3: predicted 2.0 s, 2 files, 1 single test, 0 deselected, 2 workers"
        );
        let guess = ShardPlan {
            estimated: true,
            cost: None,
            ..sp
        };
        assert_eq!(
            plan_row(s, &guess, 2),
            "shard 2/3: estimated from test counts: 2.0 s, 2 files, 1 single test, 0 deselected, 2 workers"
        );
    }
}
