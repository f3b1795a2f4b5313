use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::PlanArgs;
use crate::error::CommandError;

pub fn execute(_root: Option<PathBuf>, _args: PlanArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Failed(anyhow::anyhow!(
        "`plan` is not implemented yet"
    )))
}
