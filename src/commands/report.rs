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
use crate::report::compare::{self, Base};
use crate::report::results::{ResultsFile, RunMeta};
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
    // Coverage first: the results file records its total for the next comparison.
    coverage_phase(&settings, &loaded, &mut summary);
    // This run's results (pytest's own outcomes) are taken before the comparison, which only
    // adds to the summary, and before the quarantine moves covered failures apart.
    let results = ResultsFile::from_summary(&summary, run_meta());
    compare::attach(
        &mut summary,
        &results,
        match (&settings.base, settings.base_fetch) {
            (Some(path), _) => read_base(path),
            (None, Some(limit)) => fetch_base(&settings.root, limit),
            (None, None) => Base::None,
        },
        settings.fail_on.value,
    );
    let passed = std::mem::take(&mut summary.passed_ids);
    report::quarantine::apply(
        &mut summary,
        settings.quarantine.clone(),
        &passed,
        report::quarantine::Date::today(),
    );
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
    if let Err(err) = results.write(&settings.results_out.value) {
        eprintln!("warning: {}", error_chain(&err));
    }
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

    Ok(if rendered.passes {
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

/// Which run this is, from the CI's variables (GitHub, else GitLab), and when.
fn run_meta() -> RunMeta {
    let either = |github: &str, gitlab: &str| env(github).or_else(|| env(gitlab));
    RunMeta {
        commit: either(ci::GITHUB_SHA, ci::CI_COMMIT_SHA),
        git_ref: either(ci::GITHUB_REF, ci::CI_COMMIT_REF_NAME),
        run_id: either(ci::GITHUB_RUN_ID, ci::CI_PIPELINE_ID),
        date: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }
}

/// `--base`, read and validated; a file that cannot be used is a warning, not an error: the
/// report still works, without the comparison.
fn read_base(path: &Path) -> Base {
    match ResultsFile::read(path) {
        Ok(file) => Base::Loaded {
            path: path.display().to_string(),
            file: Box::new(file),
        },
        Err(err) => Base::Unusable(format!("ignoring the base: {}", error_chain(&err))),
    }
}

/// Without `--base`, in GitHub Actions or GitLab CI: the results file in the report artifact
/// of the latest successful run on the pull/merge request's target branch, else on the default
/// branch. Nothing there (a first run) leaves the report without a comparison and says
/// nothing; a failure of the fetch is a warning, never an error.
fn fetch_base(root: &Path, limit: std::time::Duration) -> Base {
    use crate::publish::history::{self, Platform};
    let Some(platform) = Platform::from_env(|k| std::env::var(k).ok(), root) else {
        return Base::None;
    };
    let Some(reference) = platform
        .base_ref()
        .or(platform.default_branch())
        .map(str::to_owned)
    else {
        return Base::None;
    };
    match history::fetch_report_file(&platform, &reference, history::RESULTS_FILE, limit) {
        Ok(Some((bytes, source))) => {
            let name = format!(
                "{} (`{}` of {source})",
                history::RESULTS_FILE,
                platform.name()
            );
            match ResultsFile::from_bytes(&bytes, Path::new(&name)) {
                Ok(file) => Base::Loaded {
                    path: name,
                    file: Box::new(file),
                },
                Err(err) => Base::Unusable(format!("ignoring the base: {}", error_chain(&err))),
            }
        }
        Ok(None) => Base::None,
        Err(err) => Base::Unusable(format!(
            "no base to compare with: fetching `{}` of `{reference}`: {err}",
            history::RESULTS_FILE
        )),
    }
}

/// `message: cause: cause`, for warnings that are printed rather than returned.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    out
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
        crate::timings::RunOrigin::from_env(env, chrono::Utc::now()),
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
