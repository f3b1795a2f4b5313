//! Thin orchestration: each command resolves settings, calls the stages, prints, returns an exit code.

pub mod env;
pub mod fetch_timings;
pub mod plan;
pub mod report;
pub mod run;
pub mod timings_chain;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Error;

pub fn dispatch(cli: Cli) -> Result<ExitCode, Error> {
    let root = cli.root;
    match cli.command {
        Command::Env(args) => env::execute(root, args),
        Command::Plan(args) => plan::execute(root, args),
        Command::Run(args) => run::execute(root, args),
        Command::Report(args) => report::execute(root, args),
        Command::FetchTimings(args) => fetch_timings::execute(root, args),
    }
}
