use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::RunArgs;
use crate::error::CommandError;

pub fn execute(_root: Option<PathBuf>, _args: RunArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Failed(anyhow::anyhow!(
        "`run` is not implemented yet"
    )))
}
