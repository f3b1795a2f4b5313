//! Where am I running? CI provider, shard `I/N`, repository/PR/API context.

pub mod shard;

pub use shard::{Shard, ShardError};
