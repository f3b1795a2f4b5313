//! The one error type commands return; `main.rs` renders it and maps it to an exit code.
//!
//! Stages define their own `thiserror` enums; commands convert them into `CommandError` with
//! `Usage` (the user's input is wrong: exit 2) or `Failed` (something broke while doing the
//! work: exit 2 as well, since pytest and report already own 0/1 and pytest owns 1–5 for `run`).

use std::fmt;

#[derive(Debug)]
pub enum CommandError {
    /// Bad flag, variable, config value or input file: names the culprit, exit 2.
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// Something failed while working (I/O, a subprocess that could not start). Exit 2.
    Failed(anyhow::Error),
}

impl CommandError {
    pub fn usage(message: impl Into<String>) -> Self {
        CommandError::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CommandError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Usage { message, .. } => f.write_str(message),
            CommandError::Failed(err) => write!(f, "{err}"),
        }
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(err: anyhow::Error) -> Self {
        CommandError::Failed(err)
    }
}

/// Renders an error for stderr: headline, `caused by:` chain, `hint:`.
pub fn render(err: &CommandError) -> String {
    let mut out = String::new();
    match err {
        CommandError::Usage { message, hint } => {
            out.push_str(&format!("error: {message}\n"));
            if let Some(hint) = hint {
                out.push_str(&format!("hint: {hint}\n"));
            }
        }
        CommandError::Failed(err) => {
            out.push_str(&format!("error: {err}\n"));
            for cause in err.chain().skip(1) {
                out.push_str(&format!("  caused by: {cause}\n"));
            }
        }
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
