//! `report`: resolve the settings, read every shard's artifacts, build and render the summary,
//! write the outputs, publish, and return 0 (green) or 1. The logic lives in `report::`,
//! `junit::` and `publish::`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{ReportArgs, TextOrJson};
use crate::env_vars::ci;
use crate::error::Error;
use crate::junit::reader::Limits;
use crate::junit::writer::{self, GITLAB_MAX_BYTES};
use crate::report::{
    self, MarkdownOptions, Rendered, ReportError, SourceLinks, Summary, annotations, inputs, model,
};
use crate::settings::load_project;
use crate::settings::report::ReportSettings;

/// GitLab MR notes hold at most 1,000,000 characters (DESIGN.md §5).
const MR_NOTE_MAX_BYTES: usize = 1_000_000 - 1_000;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn execute(root: Option<PathBuf>, args: ReportArgs) -> Result<ExitCode, Error> {
    let (root, file) = load_project(root)?;
    let settings = ReportSettings::resolve(args, &file, root, &env)?;

    let mut loaded = inputs::load(
        &settings.inputs,
        &settings.root,
        settings.expect_shards,
        &Limits::default(),
        &settings.own_outputs(),
    );
    loaded.only_shard = settings.expect_shard;
    let mut summary = model::build(&loaded);
    summary.notices.extend(report::store::not_reported(
        &settings.timings,
        &settings.root,
        &summary,
    ));
    let passed = std::mem::take(&mut summary.passed_ids);
    report::quarantine::apply(
        &mut summary,
        settings.quarantine.clone(),
        &passed,
        report::quarantine::Date::today(),
    );
    coverage_phase(&settings, &loaded, &mut summary);
    let md_opts = MarkdownOptions {
        links: source_links(&settings.root),
        ..MarkdownOptions::default()
    };
    let mut rendered = report::render(&summary, &md_opts);
    let on_github = env(ci::GITHUB_ACTIONS).as_deref() == Some("true");
    if on_github {
        crate::publish::repo_relative_annotations(
            &mut rendered.annotations,
            env(ci::GITHUB_WORKSPACE).as_deref(),
            &settings.root,
        );
    }

    // Files first: they survive even if printing fails.
    write_files(&settings, &loaded, &summary, &rendered)?;
    print(&settings, &summary, &rendered, on_github)?;

    // The forges get exactly what was rendered above (DESIGN.md §2).
    crate::publish::publish_github(
        &settings.github,
        &rendered,
        settings.summary.as_deref(),
        &annotations::workflow_commands(&rendered.annotations),
    )?;
    if settings.gitlab.mr_note {
        let note = report::markdown::render(
            &summary,
            &MarkdownOptions {
                max_bytes: MR_NOTE_MAX_BYTES,
                ..md_opts
            },
        );
        crate::publish::publish_gitlab(&note, &settings.gitlab)?;
    }

    Ok(if rendered.green {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Combines the shards' coverage data when there is any (nothing is said without it); a shard
/// that should have data and has none is a problem, a combine that cannot run a notice.
fn coverage_phase(settings: &ReportSettings, loaded: &model::Inputs, summary: &mut Summary) {
    use report::coverage;
    use report::model::{Notice, NoticeKind};
    let (files, problems) =
        coverage::expected(&loaded.manifests, &settings.root, &coverage::is_data_file);
    if !problems.is_empty() {
        summary.problems.extend(problems);
        summary.problems.sort_by_key(|p| p.kind);
    }
    if files.is_empty() {
        return;
    }
    let python = crate::python::interpreter::find(
        settings
            .python
            .as_ref()
            .map(|(p, s)| (p.as_path(), s.clone())),
        std::env::var_os("PATH").as_deref(),
    );
    let result = python.map_err(|e| e.to_string()).and_then(|(python, _)| {
        coverage::combine(
            &python,
            &settings.root,
            &files,
            settings.coverage_xml.as_deref(),
        )
    });
    match result {
        Ok(report) => summary.coverage = Some(report),
        Err(message) => summary.notices.push(Notice {
            kind: NoticeKind::CoverageSkipped,
            message,
            count: files.len() as u64,
        }),
    }
}

/// Links to source lines: the commit the check run is on (a pull request's head, not the merge
/// commit), and paths from the repository root (the project may sit in a subfolder).
fn source_links(root: &Path) -> Option<SourceLinks> {
    let sha = crate::publish::github::Context::from_env(env)
        .map(|ctx| ctx.head_sha)
        .ok()
        .or_else(|| env(ci::GITHUB_SHA));
    let mut links = SourceLinks::from_github(
        env(ci::GITHUB_SERVER_URL).as_deref(),
        env(ci::GITHUB_REPOSITORY).as_deref(),
        sha.as_deref(),
    )?;
    links.prefix = crate::publish::checkout_prefix(env(ci::GITHUB_WORKSPACE).as_deref(), root);
    Some(links)
}

/// The job summary, merged JUnit, Code Quality, JSON and the next timings store.
fn write_files(
    settings: &ReportSettings,
    loaded: &model::Inputs,
    summary: &Summary,
    rendered: &Rendered,
) -> Result<(), Error> {
    if let Some(path) = &settings.summary {
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .write_all(rendered.markdown.as_bytes())?;
    }
    if let Some(path) = &settings.junit_out {
        write_junit(path, loaded)?;
    }
    if let Some(path) = &settings.codequality_out {
        let prefix = env(ci::CI_PROJECT_DIR)
            .and_then(|dir| crate::publish::repo_prefix(Path::new(&dir), &settings.root));
        write_file(
            path,
            report::codequality::render(summary, prefix.as_deref()).as_bytes(),
        )?;
    }
    if let Some(path) = &settings.json_out {
        write_file(path, report::json::render(summary).as_bytes())?;
    }
    report::store::update(
        &settings.timings,
        &settings.root,
        &settings.timings_out.value,
        summary,
        &loaded.manifests,
    );
    Ok(())
}

fn write_junit(path: &Path, loaded: &model::Inputs) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let written = writer::write_path(path, &loaded.merged_suites(), GITLAB_MAX_BYTES)
        .map_err(ReportError::from)?;
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
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    Ok(fs_err::write(path, bytes)?)
}

/// stdout: the data. Workflow commands go out before any untrusted text, and untrusted text in a
/// GitHub log sits inside `::stop-commands::` so it cannot issue commands itself.
fn print(
    settings: &ReportSettings,
    summary: &Summary,
    rendered: &Rendered,
    on_github: bool,
) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    let commands = if on_github && !settings.github.check_run {
        annotations::workflow_commands(&rendered.annotations)
    } else {
        String::new()
    };
    let body = match settings.format {
        TextOrJson::Json => {
            // JSON on stdout stays pure; the commands go to stderr, which the runner reads too.
            eprint!("{commands}");
            report::json::render(summary)
        }
        TextOrJson::Text => {
            let _ = stdout.write_all(commands.as_bytes());
            let color = std::io::stdout().is_terminal() && env("NO_COLOR").is_none();
            let text = report::terminal::render(summary, color);
            if on_github {
                annotations::guard_for_github_log(&text, &annotations::stop_token())
            } else {
                text
            }
        }
    };
    stdout
        .write_all(body.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(ReportError::Stdout)?;
    Ok(())
}
