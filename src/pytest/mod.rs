//! Run it: pytest argv + argsfile, process and signals, exit mapping, shard manifest.

pub mod manifest;

pub use manifest::Manifest;
pub mod serial;
