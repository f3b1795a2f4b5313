//! `parallel-pytest plan`: show the whole plan (text), print it as JSON (contract), as a
//! GitHub `strategy.matrix` (`--format matrix`), or as a GitLab child pipeline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::ci::{self, Shard};
use crate::cli::{PlanArgs, PlanFormat};
use crate::error::Error;
use crate::plan::{Planned, ShardPlan, render};
use crate::publish::gitlab_child;
use crate::pytest::shard_run::{self, ShardRun};
use crate::pytest::{command, process};
use crate::report::annotations::{guard_for_github_log, stop_token};
use crate::report::escape;
use crate::settings::Settings;
use crate::settings::plan::PlanSettings;

pub fn execute(root: Option<PathBuf>, args: PlanArgs) -> Result<ExitCode, Error> {
    let settings = Settings::load(root, &args.inputs.machine)?;
    let resolved = PlanSettings::resolve(&args, &settings)?;
    let ci = ci::detect_from_env(settings.machine.shard)?;
    let this_shard = ci.shard.as_ref().map(|c| c.shard());
    let shards = resolved.shard_count(this_shard.map(|s| s.total));
    let inputs = &resolved.inputs;
    if let Some(note) = &inputs.launcher_note {
        eprintln!("note: {}", escape::terminal(note));
    }
    let planned =
        super::timings_chain::build(inputs, shards, inputs.workers(), resolved.cost_table)?;
    for w in &planned.warnings {
        eprintln!("warning: {}", escape::terminal(w));
    }
    if let Some(note) = &planned.target_note {
        eprintln!("warning: {}", escape::terminal(note));
    }
    for note in &planned.plan.notes {
        eprintln!("note: {}", escape::terminal(note));
    }
    let source = planned.plan.timings_source.as_ref();
    let source_line = source.map(super::timings_chain::describe);
    // Text shows it with the plan; machine formats keep stdout clean and say it on stderr when
    // the timings came from somewhere other than the local files.
    if resolved.format != PlanFormat::Text
        && let Some(line) = &source_line
        && source.is_some_and(super::timings_chain::came_from_elsewhere)
    {
        eprintln!("{}", escape::terminal(line));
    }
    match resolved.format {
        PlanFormat::Json => {
            let json = serde_json::to_string_pretty(&planned.plan)?;
            println!("{}", inert_json(&json));
        }
        PlanFormat::Cost => {
            if let Some(table) = &planned.cost_table {
                print!("{}", render::cost_table(table));
            }
        }
        PlanFormat::Matrix => println!("{}", inert_json(&render::matrix_json(&planned.plan))),
        PlanFormat::Text => {
            let mut text = render::text(&planned);
            if let Some(line) = &source_line {
                text.push_str(line);
                text.push('\n');
            }
            if let Some(shard) = this_shard.filter(|s| s.total == planned.plan.shards_total)
                && let Some(row) = planned.plan.shards.iter().find(|s| s.index == shard.index)
            {
                text.push_str(&this_job(&resolved, &planned, shard, row));
                text.push('\n');
            }
            // Node ids and paths come from timings stores and the suite: inert in a CI log.
            let text = escape::terminal(&text);
            if std::env::var(crate::env_vars::ci::GITHUB_ACTIONS).as_deref() == Ok("true") {
                print!("{}", guard_for_github_log(&text, &stop_token()));
            } else {
                print!("{text}");
            }
        }
        PlanFormat::GitlabChild => print!(
            "{}",
            gitlab_child::render_from_lookup(planned.plan.shards_total, |var| {
                std::env::var(var).ok()
            })?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `##[` starts a legacy workflow command anywhere in a line; in JSON the same data can be
/// written with an escaped `#`, which no runner reads as a command.
fn inert_json(json: &str) -> String {
    json.replace("##[", "#\\u0023[")
}

/// What this CI job runs: the command `run --dry-run` prints, built by the same function.
fn this_job(resolved: &PlanSettings, planned: &Planned, shard: Shard, row: &ShardPlan) -> String {
    if row.is_empty() {
        return format!("this job (shard {shard}): nothing to run; pytest will not be started");
    }
    let python = match &resolved.python {
        Ok(python) => python,
        Err(e) => return format!("this job (shard {shard}): {e}"),
    };
    let inputs = &resolved.inputs;
    let workers = row.workers_to_start(inputs.forced_workers);
    let net = crate::pytest::net::input(
        &planned.plan,
        shard,
        &planned.roots,
        &planned.discovered,
        &resolved.out_dir,
    );
    let req = ShardRun {
        inputs: command::Inputs {
            python,
            rootdir: &planned.rootdir,
            invocation_dir: &planned.invocation_dir,
            out_dir: &resolved.out_dir,
            id: shard,
            shard: row,
            workers,
            dist: &inputs.dist,
            argv_budget: resolved.argv_budget,
            user_args: &inputs.plan.pytest_args,
            net: Some(&net),
            process: None,
        },
        serial_marker: &inputs.plan.constraints.serial_marker,
        grace: process::DEFAULT_GRACE,
        fingerprint: &planned.plan.fingerprint,
        // As `run` gives them on this machine (`--no-thread-limits` is a `run` setting).
        thread_limits: crate::pytest::threads::for_this_machine(workers, true),
        timings_source: planned.plan.timings_source.as_ref(),
    };
    let cwd = std::env::current_dir().ok();
    if !row.processes.is_empty() {
        let uid = crate::pytest::processes::test_run_uid();
        let cmds = crate::pytest::processes::commands(
            &req.inputs,
            req.serial_marker,
            &req.thread_limits,
            &uid,
        );
        let lines: Vec<String> = cmds
            .iter()
            .map(|(_, c)| format!("  {}", c.shell(cwd.as_deref().map(Path::new))))
            .collect();
        return format!(
            "this job (shard {shard}): {} side by side (`--launcher processes`):\n{}\n  (`parallel-pytest run --dry-run --shard {shard}` prints them and writes the selection files they read)",
            crate::text::count(
                cmds.len() as u64,
                "plain pytest process",
                "plain pytest processes"
            ),
            lines.join("\n")
        );
    }
    let (cmd, _serial) = shard_run::commands(&req);
    format!(
        "this job (shard {shard}): {}\n  (`parallel-pytest run --dry-run --shard {shard}` prints it and writes the selection files it reads)",
        cmd.shell(cwd.as_deref().map(Path::new))
    )
}
