//! The one error type commands return, composed from each stage's own error type; `main.rs`
//! renders it (headline, `caused by:` chain, `hint:`) and maps it to an exit code.
//!
//! Every variant but `Usage` wraps a stage's `thiserror` enum (or an `io`/`serde_json` error)
//! unchanged, so the cause chain survives to the terminal and the compiler checks that
//! [`Error::exit_code`] and the hints cover each one.
//! pytest owns 1–5 for `run` and `report` owns 0/1, so every error here exits 2. (`report`'s 1
//! is a red run: failures, missing shards, lost tests; under `--fail-on new` with a base, only
//! failures the base did not have count. A base file that cannot be read is a warning, not an
//! error here.)

use std::process::ExitCode;

use crate::ci::{DetectError, ShardError};
use crate::junit::reader::ReadError;
use crate::plan::PlanError;
use crate::publish::PublishError;
use crate::publish::gitlab_child::ChildError;
use crate::pytest::process::SpawnError;
use crate::pytest::shard_run::RunError;
use crate::python::InterpreterError;
use crate::report::ReportError;
use crate::settings::SettingsError;
use crate::suite::SuiteError;
use crate::timings::TimingsError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flag, variable, config value or input file; the message names the culprit.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Timings(#[from] TimingsError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    GitlabChild(#[from] ChildError),
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Junit(#[from] ReadError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A file or stream we had to read or write; `fs-err` puts the path into the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A machine-readable document on stdout or in a file could not be written.
    #[error("failed to write JSON output")]
    Json(#[from] serde_json::Error),
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    /// The documented exit code (README "Exit codes"): every error is 2, because pytest owns
    /// 1–5 for `run` and `report` uses 1 for a red run. Exhaustive on purpose: a new variant
    /// must decide.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage { .. }
            | Error::Settings(_)
            | Error::Detect(_)
            | Error::Shard(_)
            | Error::Suite(_)
            | Error::Timings(_)
            | Error::Plan(_)
            | Error::GitlabChild(_)
            | Error::Interpreter(_)
            | Error::Spawn(_)
            | Error::Run(_)
            | Error::Junit(_)
            | Error::Publish(_)
            | Error::Report(_)
            | Error::Io(_)
            | Error::Json(_) => ExitCode::from(2),
        }
    }

    /// What the user can do about it, when the message alone does not say. Exhaustive, like
    /// [`Error::exit_code`], so a new variant decides whether it has advice.
    fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. } => hint.clone(),
            Error::Settings(SettingsError::Pyproject { .. }) => Some(
                "the keys of `[tool.parallel-pytest]` are the long flags without `--` \
                 (README, \"Configuration\")"
                    .to_owned(),
            ),
            Error::Detect(e) => Some(format!(
                "fix or unset `{}`, or pass `--shard I/N`, which takes precedence",
                e.variable
            )),
            Error::Interpreter(e) | Error::Settings(SettingsError::Interpreter(e)) => {
                interpreter_hint(e)
            }
            Error::Settings(_)
            | Error::Report(_)
            | Error::Run(_)
            | Error::Shard(_)
            | Error::Suite(_)
            | Error::Timings(_)
            | Error::Plan(_)
            | Error::GitlabChild(_)
            | Error::Spawn(_)
            | Error::Junit(_)
            | Error::Publish(_)
            | Error::Io(_)
            | Error::Json(_) => None,
        }
    }
}

fn interpreter_hint(e: &InterpreterError) -> Option<String> {
    match e {
        InterpreterError::NotOnPath => Some(
            "install Python 3 with pytest, or pass `--python PATH` (or set \
             `PARALLEL_PYTEST_PYTHON`)"
                .to_owned(),
        ),
        InterpreterError::NotFound { .. } | InterpreterError::PermissionDenied { .. } => Some(
            "point `--python` at an executable interpreter, or leave it unset to search \
             `PATH` for `python3`"
                .to_owned(),
        ),
        InterpreterError::Spawn { .. }
        | InterpreterError::Failed { .. }
        | InterpreterError::TimedOut { .. }
        | InterpreterError::BadOutput { .. } => None,
    }
}

/// Renders an error for stderr: headline, `caused by:` chain, `hint:`.
pub fn render(err: &Error) -> String {
    let mut out = format!("error: {err}\n");
    let mut cause = std::error::Error::source(err);
    // `transparent` variants forward `source()` to the inner error, whose own message is the
    // headline already: skip causes that repeat the line above.
    let mut last = err.to_string();
    while let Some(c) = cause {
        let text = c.to_string();
        if text != last {
            out.push_str(&format!("  caused by: {text}\n"));
        }
        last = text;
        cause = c.source();
    }
    if let Some(hint) = err.hint() {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}
/// clap reports a bad value read from a flag's environment variable as if it came from the
/// flag (`invalid value '0' for '--workers'`). When the flag is absent from `argv` and its
/// variable holds the rejected value, return a one-line message naming the variable instead.
pub fn clap_env_error(
    err: &clap::Error,
    cmd: &clap::Command,
    argv: &[std::ffi::OsString],
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg)?;
    let value = context(ContextKind::InvalidValue)?;
    // `--workers <auto|N>` → `workers`
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?.to_owned();
    let flag = format!("--{long}");
    let on_command_line = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    if on_command_line {
        return None;
    }
    let var = find_env(cmd, &long)?;
    let set = std::env::var(&var).ok()?;
    if set != value && !set.split(',').any(|part| part == value) {
        return None;
    }
    let reason = std::error::Error::source(err)
        .map(|e| e.to_string())
        .unwrap_or_else(|| format!("not a valid value for `{flag}`"));
    Some(format!("`{var}` is `{set}`: {reason}"))
}

/// The environment variable of the flag `--long`, searching every subcommand.
fn find_env(cmd: &clap::Command, long: &str) -> Option<String> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .or_else(|| cmd.get_subcommands().find_map(|sub| find_env(sub, long)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_the_cause_chain_once_and_the_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let err = Error::from(SettingsError::Read(io));
        assert_eq!(
            render(&err),
            "error: failed to read the project configuration\n  caused by: permission denied\n"
        );
        let err = Error::from(SettingsError::Pyproject {
            path: "/p/pyproject.toml".into(),
            message: "in `[tool.parallel-pytest]`: unknown field `wrokers`".into(),
        });
        let text = render(&err);
        assert!(
            text.starts_with("error: failed to read `/p/pyproject.toml`: in `[tool.parallel-pytest]`: unknown field `wrokers`\nhint: "),
            "{text}"
        );
        assert_eq!(err.exit_code(), ExitCode::from(2));
    }
}
