//! The `report` command's hook into `publish::github`, kept apart from `report.rs` so the report
//! code stays about reporting: `report` renders, then calls [`publish`] once with what it rendered.

use std::io::Write;
use std::path::Path;

use octocrab::secrecy::SecretString;

use crate::cli::GithubPublishArgs;
use crate::env_vars::ci;
use crate::error::Error;
use crate::publish::Rendered;
use crate::publish::github::{self, Context, Options, Outcome, RetryPolicy, Step};

const DEFAULT_CHECK_NAME: &str = "parallel-pytest";

/// Publishes the check run and/or PR comment when asked, tells the user what happened (stderr,
/// the job summary at `summary`, and `::warning::` lines on GitHub), and prints
/// `fallback_commands` (the report's annotations as workflow commands, which `report` leaves out
/// when a check run is asked for) when no check run carried them.
///
/// Returns `Err` only when `--fail-on-publish-error` is set and something requested could not be
/// published: reporting problems never turn a green run red unless the user asks for that.
pub fn publish(
    args: &GithubPublishArgs,
    rendered: &Rendered,
    summary: Option<&Path>,
    fallback_commands: &str,
) -> Result<Outcome, Error> {
    publish_with(
        args,
        rendered,
        summary,
        fallback_commands,
        &|name| std::env::var(name).ok(),
        RetryPolicy::default(),
        &mut std::io::stdout().lock(),
    )
}

/// [`publish`] with the environment, retry policy and stdout passed in (for tests).
pub fn publish_with(
    args: &GithubPublishArgs,
    rendered: &Rendered,
    summary: Option<&Path>,
    fallback_commands: &str,
    env: &dyn Fn(&str) -> Option<String>,
    retry: RetryPolicy,
    stdout: &mut dyn Write,
) -> Result<Outcome, Error> {
    if !args.check_run && !args.comment {
        return Ok(Outcome::default());
    }
    let token = args
        .github_token
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| env(ci::GITHUB_TOKEN).filter(|t| !t.trim().is_empty()))
        .map(SecretString::from);
    let options = Options {
        check_run: args.check_run,
        comment: args.comment,
        name: args
            .check_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_CHECK_NAME.to_owned()),
        retry,
    };
    let outcome = match Context::from_env(env) {
        Ok(ctx) => github::publish(rendered, &ctx, token.as_ref(), &options),
        Err(why) => {
            let why = format!("not running in GitHub Actions: {why}");
            Outcome {
                check_run: args.check_run.then(|| Step::Skipped(why.clone())),
                comment: args.comment.then_some(Step::Skipped(why)),
            }
        }
    };
    let on_github = env(ci::GITHUB_ACTIONS).is_some_and(|v| v == "true");
    tell(
        &outcome,
        fallback_commands,
        args.check_run,
        summary,
        on_github,
        stdout,
    );
    if args.fail_on_publish_error && outcome.any_failed() {
        return Err(Error::Failed(anyhow::anyhow!(
            "publishing to GitHub failed (`--fail-on-publish-error` is set): {}",
            outcome.notes().join("; ")
        )));
    }
    Ok(outcome)
}

fn tell(
    outcome: &Outcome,
    fallback_commands: &str,
    check_run_asked: bool,
    summary: Option<&Path>,
    on_github: bool,
    stdout: &mut dyn Write,
) {
    for note in outcome.notes() {
        eprintln!("parallel-pytest: {note}");
    }
    if on_github {
        for step in [&outcome.check_run, &outcome.comment].into_iter().flatten() {
            if let Step::Skipped(msg) | Step::Forbidden(msg) | Step::Failed(msg) = step {
                let _ = writeln!(
                    stdout,
                    "::warning title=parallel-pytest::{}",
                    escape_data(msg)
                );
            }
        }
    }
    if check_run_asked && outcome.annotations_need_fallback() && on_github {
        let _ = stdout.write_all(fallback_commands.as_bytes());
    }
    let notes = outcome.notes();
    if let (Some(path), false) = (summary, notes.is_empty()) {
        let mut section = String::from("\n### Publishing\n\n");
        for note in notes {
            section.push_str(&format!("- {}\n", escape_markdown(&note)));
        }
        let written = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(section.as_bytes()));
        if let Err(err) = written {
            eprintln!("parallel-pytest: could not add the publishing notes to the summary: {err}");
        }
    }
}

/// `root` relative to the checkout, `/`-separated, when it is a strict subfolder of it.
fn repo_prefix(workspace: &Path, root: &Path) -> Option<String> {
    let workspace = workspace.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    let rel = root.strip_prefix(&workspace).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Report paths are relative to the project (`root`, the action's `working-directory`); GitHub
/// wants annotation paths relative to the repository checkout (`GITHUB_WORKSPACE`).
pub fn make_repo_relative(
    annotations: &mut [crate::report::Annotation],
    workspace: Option<&str>,
    root: &Path,
) {
    let Some(prefix) = workspace.and_then(|ws| repo_prefix(Path::new(ws), root)) else {
        return;
    };
    for a in annotations {
        if let Some(file) = &mut a.file {
            *file = format!("{prefix}/{}", file.trim_start_matches("./"));
        }
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Notes quote GitHub's error messages: keep them from forming HTML or mentions.
fn escape_markdown(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "@\u{200b}")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Annotation, Level};

    #[test]
    fn annotation_files_become_repository_relative() {
        let ws = tempfile::tempdir().unwrap();
        let project = ws.path().join("demo");
        std::fs::create_dir(&project).unwrap();
        let ann = |file: Option<&str>| Annotation {
            level: Level::Error,
            file: file.map(str::to_owned),
            line: Some(3),
            title: "t".into(),
            message: "m".into(),
            details: None,
        };
        let mut anns = vec![ann(Some("tests/test_a.py")), ann(Some("./x.py")), ann(None)];
        make_repo_relative(&mut anns, ws.path().to_str(), &project);
        let files: Vec<Option<&str>> = anns.iter().map(|a| a.file.as_deref()).collect();
        assert_eq!(
            files,
            [Some("demo/tests/test_a.py"), Some("demo/x.py"), None]
        );

        // At the checkout's root, or outside it, paths stay as they are.
        let mut anns = vec![ann(Some("tests/test_a.py"))];
        make_repo_relative(&mut anns, ws.path().to_str(), ws.path());
        make_repo_relative(&mut anns, Some("/nonexistent"), &project);
        make_repo_relative(&mut anns, None, &project);
        assert_eq!(anns[0].file.as_deref(), Some("tests/test_a.py"));
    }
}
