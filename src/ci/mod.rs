//! Where am I running? CI provider, shard `I/N`, repository/PR/API context.

pub mod detect;
pub mod shard;

pub use detect::{CiContext, DetectError, Provider, ShardChoice, detect, detect_from_env};
pub use shard::{Shard, ShardError};
