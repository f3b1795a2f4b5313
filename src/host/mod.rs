//! What may I use? cgroup v1/v2 CPU quota, affinity, memory → xdist worker budget.
pub mod usage;
