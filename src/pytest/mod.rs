//! Run it: pytest argv + argsfile, process and signals, exit mapping, shard manifest.

pub mod interpreter;
pub mod manifest;

pub use interpreter::{InterpreterError, PythonInfo, PythonSource};
pub use manifest::Manifest;
