//! Run it: pytest argv + argsfile, process and signals, exit mapping, shard manifest.

pub mod command;
pub mod crash;
pub mod interpreter;
pub mod manifest;
pub mod process;

pub use interpreter::{InterpreterError, PythonInfo, PythonSource};
pub use manifest::Manifest;
pub mod serial;
pub mod shard_run;
