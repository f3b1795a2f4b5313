//! parallel-pytest: parse the CLI, dispatch to a command, map errors to exit codes.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use parallel_pytest::{cli, commands, error};

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(err) => {
            // A bad value from a `PARALLEL_PYTEST_*` variable: name the variable, exit 2.
            if let Some(message) = error::clap_env_error(&err, &cli::Cli::command(), &argv) {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
            err.exit()
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprint!("{}", error::render(&err));
            err.exit_code()
        }
    }
}
