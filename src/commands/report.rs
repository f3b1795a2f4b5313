use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::ReportArgs;
use crate::error::CommandError;

pub fn execute(_root: Option<PathBuf>, _args: ReportArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Failed(anyhow::anyhow!(
        "`report` is not implemented yet"
    )))
}
