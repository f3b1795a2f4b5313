//! Run it: pytest argv + argsfile, process and signals, exit mapping, shard manifest.

pub mod command;
pub mod crash;
pub mod manifest;
pub mod process;

pub use manifest::Manifest;
pub mod serial;
