//! Who runs what? Deterministic partition of the suite over shards × workers, fingerprint.

pub mod model;

pub use model::{Plan, ShardPlan};
pub mod gitlab_child;
