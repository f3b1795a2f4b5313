//! `report`: read every shard's artifacts, build the summary, write the outputs, publish.
//! Thin: the logic lives in `report::` (model and renderers) and `junit::`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{ReportArgs, TextOrJson};
use crate::env_vars::ci;
use crate::error::Error;
use crate::junit::reader::Limits;
use crate::junit::writer::{self, GITLAB_MAX_BYTES, SuiteInput};
use crate::report::{self, MarkdownOptions, SourceLinks, annotations, inputs, model};

/// GitLab MR notes hold at most 1,000,000 characters (DESIGN.md §5).
const MR_NOTE_MAX_BYTES: usize = 1_000_000 - 1_000;

pub fn execute(root: Option<PathBuf>, args: ReportArgs) -> Result<ExitCode, Error> {
    if args.expect_shards == Some(0) {
        return Err(Error::usage("`--expect-shards` must be at least 1"));
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let base = match root {
        Some(root) => root,
        None => std::env::current_dir().map_err(|e| Error::Failed(e.into()))?,
    };
    let exclude: Vec<PathBuf> = [&args.junit_out, &args.codequality_out]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let loaded = inputs::load(
        &args.inputs,
        &base,
        args.expect_shards,
        &Limits::default(),
        &exclude,
    );
    let summary = model::build(&loaded);

    let links = SourceLinks::from_github(
        env(ci::GITHUB_SERVER_URL).as_deref(),
        env(ci::GITHUB_REPOSITORY).as_deref(),
        env(ci::GITHUB_SHA).as_deref(),
    );
    let md_opts = MarkdownOptions {
        links,
        ..MarkdownOptions::default()
    };
    let mut rendered = report::render(&summary, &md_opts);
    let on_github = env(ci::GITHUB_ACTIONS).as_deref() == Some("true");
    if on_github {
        // Annotation paths relative to the repository, not the project folder (issue 6).
        crate::commands::github_publish::make_repo_relative(
            &mut rendered.annotations,
            env(ci::GITHUB_WORKSPACE).as_deref(),
            &base,
        );
    }

    // Files first: they survive even if printing fails.
    let summary_path = args
        .summary
        .clone()
        .or_else(|| env(ci::GITHUB_STEP_SUMMARY).map(PathBuf::from));
    if let Some(path) = &summary_path {
        append(path, &rendered.markdown)?;
    }
    if let Some(path) = &args.junit_out {
        let suites: Vec<SuiteInput<'_>> = loaded
            .files
            .iter()
            .filter(|f| f.result.is_ok())
            .map(|f| SuiteInput {
                name: match f.shard {
                    Some(s) => format!("shard {s} ({})", f.path),
                    None => f.path.clone(),
                },
                tests: &f.tests,
                seconds: f.result.as_ref().ok().and_then(|r| r.declared_seconds),
            })
            .collect();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir).map_err(|e| Error::Failed(e.into()))?;
        }
        let written = writer::write_path(path, &suites, GITLAB_MAX_BYTES)
            .map_err(|e| Error::Failed(anyhow::anyhow!("{e}")))?;
        if let Some(cap) = written.texts_cut_to {
            eprintln!(
                "note: failure texts in `{}` were cut to {cap} bytes each to stay under GitLab's 30 MB limit",
                path.display()
            );
        }
        if written.over_limit {
            eprintln!(
                "warning: `{}` is {} bytes and would be over GitLab's 30 MB limit even without failure texts, so they were kept: GitLab ignores JUnit files of 30 MB or more (split the report or attach the shard files instead)",
                path.display(),
                written.bytes
            );
        }
    }
    if let Some(path) = &args.codequality_out {
        write_file(path, report::codequality::render(&summary).as_bytes())?;
    }
    if let Some(path) = &args.json_out {
        write_file(path, report::json::render(&summary).as_bytes())?;
    }
    update_timings(&args, &base, &summary);

    // stdout: the data. Workflow commands go out before any untrusted text, and untrusted text
    // in a GitHub log sits inside `::stop-commands::` so it cannot issue commands itself.
    let mut stdout = std::io::stdout().lock();
    let commands = if on_github && !args.github.check_run {
        annotations::workflow_commands(&rendered.annotations)
    } else {
        String::new()
    };
    let body = match args.format {
        TextOrJson::Json => {
            // JSON on stdout stays pure; the commands go to stderr, which the runner reads too.
            eprint!("{commands}");
            report::json::render(&summary)
        }
        TextOrJson::Text => {
            let _ = stdout.write_all(commands.as_bytes());
            let color = std::io::stdout().is_terminal() && env("NO_COLOR").is_none();
            report::terminal::render(&summary, color)
        }
    };
    let body = if on_github && args.format == TextOrJson::Text {
        annotations::guard_for_github_log(&body, &annotations::stop_token())
    } else {
        body
    };
    stdout
        .write_all(body.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Failed(anyhow::anyhow!("failed to write to stdout: {e}")))?;
    drop(stdout);

    // Publish hook: the forges get exactly what was rendered above (DESIGN.md §2).
    let github = crate::commands::github_publish::publish(
        &args.github,
        &rendered.to_publish(),
        summary_path.as_deref(),
        &annotations::workflow_commands(&rendered.annotations),
    )?;
    let _ = github;
    let note = if args.gitlab.mr_note {
        report::markdown::render(
            &summary,
            &MarkdownOptions {
                max_bytes: MR_NOTE_MAX_BYTES,
                ..md_opts.clone()
            },
        )
    } else {
        String::new()
    };
    let gitlab_failed = crate::publish::gitlab::publish_from_report(
        &note,
        &args.gitlab,
        args.github.fail_on_publish_error,
    );
    if gitlab_failed {
        return Err(Error::Failed(anyhow::anyhow!(
            "publishing the GitLab MR note failed (`--fail-on-publish-error` is set)"
        )));
    }

    Ok(if rendered.green {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn append(path: &Path, text: &str) -> Result<(), Error> {
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::Failed(e.into()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::Failed(anyhow::anyhow!("failed to write `{}`: {e}", path.display())))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir).map_err(|e| Error::Failed(e.into()))?;
    }
    fs_err::write(path, bytes).map_err(|e| Error::Failed(e.into()))
}

/// Folds this run's durations into the timings store for the next plan: the previous store
/// (`--timings`, else the default store if it exists) smoothed with what this run observed,
/// written to `--timings-out` (default `.parallel-pytest/timings.json`). A broken previous store
/// or an unwritable path is a warning: the test results decide the exit code, not the store.
fn update_timings(args: &ReportArgs, base: &Path, summary: &model::Summary) {
    use crate::timings::{self, Store, store::looks_like_store};

    let out = args
        .timings_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(timings::DEFAULT_STORE));
    let out = base.join(out);
    if summary.files_read == 0 {
        eprintln!(
            "note: no test results were read, so `{}` was left as it was",
            out.display()
        );
        return;
    }
    let mut store = Store::default();
    match timings::sources::resolve(&args.timings, base, base) {
        Ok(paths) => {
            for path in paths {
                let text = fs_err::read_to_string(&path).unwrap_or_default();
                let previous = if looks_like_store(&text) {
                    Store::from_json(&text)
                        .map_err(|e| e.with_path(&path.display().to_string()).to_string())
                } else {
                    let mapper = crate::junit::NodeIdMapper::new();
                    timings::load(std::slice::from_ref(&path), &mapper)
                        .map(|t| Store::from_seconds(t.tests.iter()))
                        .map_err(|e| e.to_string())
                };
                match previous {
                    Ok(previous) => {
                        store.tests.extend(previous.tests);
                        // The largest learned per-worker memory of the previous stores (issue 8).
                        if previous.worker_memory.as_ref().map(|m| m.peak_bytes)
                            > store.worker_memory.as_ref().map(|m| m.peak_bytes)
                        {
                            store.worker_memory = previous.worker_memory;
                        }
                    }
                    Err(err) => eprintln!(
                        "warning: ignoring previous timings: {err}; the store starts afresh"
                    ),
                }
            }
        }
        Err(err) => eprintln!("warning: ignoring previous timings: {err}"),
    }
    store.observe_run(summary.observed.iter().map(|(id, s)| (id.as_str(), *s)));
    store.observe_worker_memory(
        summary
            .shard_rows
            .iter()
            .filter_map(|r| r.resources.as_ref()?.peak_worker_memory_bytes)
            .max(),
    );
    if let Err(err) = store.write(&out) {
        eprintln!("warning: {err}");
    }
}
