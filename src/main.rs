//! parallel-pytest: parse the CLI, dispatch to a command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use parallel_pytest::{cli, commands, error};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprint!("{}", error::render(&err));
            ExitCode::from(2)
        }
    }
}
