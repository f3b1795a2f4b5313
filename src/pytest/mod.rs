//! Run it: one shard start to finish ([`shard_run`]): the pytest command as data ([`command`],
//! [`serial`]), the process and its signals ([`process`]), crashed workers ([`crash`]), the
//! shard manifest ([`manifest`]) and the numeric libraries' thread limits ([`threads`]).

pub mod command;
pub mod coverage;
pub mod crash;
pub mod manifest;
pub mod net;
pub mod process;
pub mod processes;
pub mod results_log;
pub mod serial;
pub mod shard_run;
pub mod threads;

pub use manifest::Manifest;
