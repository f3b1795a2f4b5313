//! `parallel-pytest fetch-timings`: one file of the report artifact of the latest successful
//! run, through the CI API, written where `plan` and `run` look for it.
//!
//! Its own step, so the token it needs never sits in the environment of a process that starts
//! pytest (a test could read its parent's environment): the GitHub action runs it before `run`
//! and `plan` when the cache restored no store. A fetch that cannot be made is a warning; the
//! exit code is 0 unless the arguments are wrong.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::timings_chain::{PREFETCHED_STORE, source_path};
use crate::cli::FetchTimingsArgs;
use crate::error::Error;
use crate::publish::history::{self, Platform};
use crate::report::escape;
use crate::settings::plan::DEFAULT_TIMINGS_FETCH_SECONDS;
use crate::settings::{SettingsError, load_project, pick};
use crate::suite::paths;

pub fn execute(root: Option<PathBuf>, args: FetchTimingsArgs) -> Result<ExitCode, Error> {
    let (root, file) = load_project(root)?;
    let seconds = pick(
        args.timeout,
        file.timings_fetch_timeout,
        DEFAULT_TIMINGS_FETCH_SECONDS,
    )
    .value;
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(SettingsError::Invalid {
            setting: "--timeout",
            message: format!("`--timeout` is `{seconds}`: expected seconds (0 or more)"),
        }
        .into());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let out = match &args.out {
        Some(p) => paths::absolute(&cwd, p),
        None => root.join(PREFETCHED_STORE),
    };
    let warn = |why: &str| {
        eprintln!(
            "warning: fetch-timings: nothing fetched: {}",
            escape::terminal(why)
        );
        Ok(ExitCode::SUCCESS)
    };
    let Some(platform) = Platform::from_env(|k| std::env::var(k).ok(), &root) else {
        return warn("not on GitHub Actions or GitLab CI");
    };
    let Some(reference) = args
        .reference
        .clone()
        .or_else(|| platform.default_branch().map(str::to_owned))
    else {
        return warn("the job does not name the default branch; pass `--ref BRANCH`");
    };
    match history::fetch_report_file_or_why(
        &platform,
        &reference,
        &args.file,
        Duration::from_secs_f64(seconds),
    ) {
        Ok((bytes, info)) => {
            let source = serde_json::to_vec_pretty(&info)?;
            let written = out
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&out, &bytes))
                .and_then(|()| std::fs::write(source_path(&out), source));
            if let Err(e) = written {
                return warn(&format!("cannot write `{}`: {e}", out.display()));
            }
            eprintln!(
                "fetch-timings: `{}` from {} → `{}`",
                escape::terminal(&args.file),
                escape::terminal(&info.to_string()),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => warn(&e.to_string()),
    }
}
