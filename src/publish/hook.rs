//! The entry points `report` calls once it has rendered: publish what was asked for, tell the
//! user what happened (stderr, the job summary, `::warning::` lines on GitHub), and fail only
//! when the user asked publishing failures to count.

use std::io::Write;
use std::path::Path;

use octocrab::secrecy::SecretString;

use super::github::{self, Context, Options, Outcome, RetryPolicy, Step};
use super::gitlab;
use super::{DEFAULT_TIMEOUT, GithubOptions, GitlabOptions, PublishError};
use crate::env_vars::ci;
use crate::report::escape::{md_note, workflow_data};
use crate::report::{Annotation, Rendered};
use crate::suite::paths::relative;

const DEFAULT_CHECK_NAME: &str = "parallel-pytest";

/// Publishes the check run and/or PR comment when asked, tells the user what happened (stderr,
/// the job summary at `summary`, and `::warning::` lines on GitHub), and prints
/// `fallback_commands` (the report's annotations as workflow commands, which `report` leaves out
/// when a check run is asked for) when no check run carried them.
///
/// Returns `Err` only when `fail_on_error` is set and something requested could not be
/// published: reporting problems never turn a green run red unless the user asks for that.
pub fn publish_github(
    opts: &GithubOptions,
    rendered: &Rendered,
    summary: Option<&Path>,
    fallback_commands: &str,
) -> Result<Outcome, PublishError> {
    publish_github_with(
        opts,
        rendered,
        summary,
        fallback_commands,
        &|name| std::env::var(name).ok(),
        RetryPolicy::default(),
        &mut std::io::stdout().lock(),
    )
}

/// [`publish_github`] with the environment, retry policy and stdout passed in (for tests).
pub fn publish_github_with(
    opts: &GithubOptions,
    rendered: &Rendered,
    summary: Option<&Path>,
    fallback_commands: &str,
    env: &dyn Fn(&str) -> Option<String>,
    retry: RetryPolicy,
    stdout: &mut dyn Write,
) -> Result<Outcome, PublishError> {
    if !opts.check_run && !opts.comment {
        return Ok(Outcome::default());
    }
    // Secrets often end in a newline (a file, a copied value): it is never part of the token.
    let trimmed = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let token = opts
        .token
        .clone()
        .and_then(trimmed)
        .or_else(|| env(ci::GITHUB_TOKEN).and_then(trimmed))
        .map(SecretString::from);
    let non_blank = |v: &String| !v.trim().is_empty();
    let options = Options {
        check_run: opts.check_run,
        comment: opts.comment,
        name: opts
            .check_name
            .clone()
            .filter(non_blank)
            .unwrap_or_else(|| DEFAULT_CHECK_NAME.to_owned()),
        retry,
        deadline: opts.timeout.unwrap_or(DEFAULT_TIMEOUT),
    };
    let on_github = env(ci::GITHUB_ACTIONS).is_some_and(|v| v == "true");
    let outcome = match Context::from_env(env) {
        Ok(ctx) => github::publish(rendered, &ctx, token.as_ref(), &options),
        Err(why) => {
            let why = if on_github {
                format!("the GitHub Actions context is incomplete: {why}")
            } else {
                format!("not running in GitHub Actions: {why}")
            };
            Outcome {
                check_run: opts.check_run.then(|| Step::Skipped(why.clone())),
                comment: opts.comment.then_some(Step::Skipped(why)),
            }
        }
    };
    tell_log(&outcome, on_github, stdout);
    if opts.check_run && outcome.annotations_need_fallback() && on_github {
        let _ = stdout.write_all(fallback_commands.as_bytes());
    }
    if let Some(path) = summary {
        append_notes(path, &outcome.notes());
    }
    if opts.fail_on_error && outcome.any_failed() {
        return Err(PublishError::Github {
            notes: outcome.notes().join("; "),
        });
    }
    Ok(outcome)
}

/// One stderr line per requested output, and on GitHub a `::warning::` for each one that did
/// not go out.
fn tell_log(outcome: &Outcome, on_github: bool, stdout: &mut dyn Write) {
    for note in outcome.notes() {
        eprintln!("parallel-pytest: {note}");
    }
    if !on_github {
        return;
    }
    for step in [&outcome.check_run, &outcome.comment].into_iter().flatten() {
        if let Step::Skipped(msg) | Step::Forbidden(msg) | Step::Failed(msg) = step {
            let _ = writeln!(
                stdout,
                "::warning title=parallel-pytest::{}",
                workflow_data(msg)
            );
        }
    }
}

/// A "Publishing" section at the end of the job summary, when there is anything to say.
fn append_notes(path: &Path, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    let section = notes_section(notes);
    let written = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(section.as_bytes()));
    if let Err(err) = written {
        eprintln!("parallel-pytest: could not add the publishing notes to the summary: {err}");
    }
}

fn notes_section(notes: &[String]) -> String {
    let mut section = String::from("\n### Publishing\n\n");
    for note in notes {
        section.push_str(&format!("- {}\n", md_note(note)));
    }
    section
}

/// Posts the MR note when `opts.mr_note` is on and prints one line about it on stderr. A
/// publishing problem is a warning unless `opts.fail_on_error` makes it the command's error.
pub fn publish_gitlab(summary_markdown: &str, opts: &GitlabOptions) -> Result<(), PublishError> {
    if !opts.mr_note {
        return Ok(());
    }
    let env = |var: &str| std::env::var(var).ok();
    match gitlab::publish_mr_note(
        summary_markdown,
        &opts.token_variable,
        &env,
        gitlab::RetryPolicy::default(),
        opts.timeout.unwrap_or(DEFAULT_TIMEOUT),
    ) {
        Ok(outcome) => {
            eprintln!("{outcome}");
            Ok(())
        }
        Err(err) if opts.fail_on_error => Err(PublishError::MrNote(err)),
        Err(err) => {
            eprintln!("warning: failed to post the MR note: {err}");
            Ok(())
        }
    }
}

/// Report paths are relative to the project (`root`, the action's `working-directory`); GitHub
/// wants annotation paths relative to the repository checkout (`GITHUB_WORKSPACE`).
pub fn repo_relative_annotations(
    annotations: &mut [Annotation],
    workspace: Option<&str>,
    root: &Path,
) {
    let Some(prefix) = checkout_prefix(workspace, root) else {
        return;
    };
    for a in annotations {
        if let Some(file) = &mut a.file {
            *file = format!("{prefix}/{}", file.trim_start_matches("./"));
        }
    }
}

/// The project folder (`root`) inside the checkout at `workspace`, `/`-separated, when it is a
/// strict subfolder of it: what report paths need in front to be repository paths.
pub fn checkout_prefix(workspace: Option<&str>, root: &Path) -> Option<String> {
    workspace.and_then(|ws| repo_prefix(Path::new(ws), root))
}

/// `root` relative to the checkout, `/`-separated, when it is a strict subfolder of it.
pub fn repo_prefix(workspace: &Path, root: &Path) -> Option<String> {
    let workspace = workspace.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    let rel = relative(&workspace, &root);
    (rel != "." && rel != ".." && !rel.starts_with("../")).then_some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Level;

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
        repo_relative_annotations(&mut anns, ws.path().to_str(), &project);
        let files: Vec<Option<&str>> = anns.iter().map(|a| a.file.as_deref()).collect();
        assert_eq!(
            files,
            [Some("demo/tests/test_a.py"), Some("demo/x.py"), None]
        );

        // At the checkout's root, or outside it, paths stay as they are.
        let mut anns = vec![ann(Some("tests/test_a.py"))];
        repo_relative_annotations(&mut anns, ws.path().to_str(), ws.path());
        repo_relative_annotations(&mut anns, project.to_str(), ws.path());
        repo_relative_annotations(&mut anns, Some("/nonexistent"), &project);
        repo_relative_annotations(&mut anns, None, &project);
        assert_eq!(anns[0].file.as_deref(), Some("tests/test_a.py"));
    }

    #[test]
    fn notes_section_lists_each_note_on_one_line() {
        let section = notes_section(&["check run: <b>\nx @me".to_owned()]);
        assert_eq!(
            section,
            "\n### Publishing\n\n- check run: &lt;b&gt; x @\u{200b}me\n"
        );
    }
}
