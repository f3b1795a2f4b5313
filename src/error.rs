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
