//! parallel-pytest as a library: the stages (DESIGN.md §2) used by the binary, the
//! integration tests and the benchmarks. The binary in `main.rs` only parses and dispatches.

pub mod ci;
pub mod cli;
pub mod commands;
pub mod env_vars;
pub mod error;
pub mod host;
pub mod junit;
pub mod node_id;
pub mod plan;
pub mod publish;
pub mod pytest;
pub mod python;
pub mod report;
pub mod settings;
pub mod suite;
pub mod text;
pub mod timings;
