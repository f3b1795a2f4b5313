use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::EnvArgs;
use crate::error::CommandError;

pub fn execute(_root: Option<PathBuf>, _args: EnvArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Failed(anyhow::anyhow!(
        "`env` is not implemented yet"
    )))
}
