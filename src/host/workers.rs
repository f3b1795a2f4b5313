//! How many pytest-xdist workers to start: a pure function of what the host offers.
//!
//! Rules (documented in the README):
//!
//! - **Forced.** `--workers N` (or `PARALLEL_PYTEST_WORKERS=N`, or `workers = "N"` in
//!   pyproject.toml) is used as given.
//! - **CPU-bound.** Otherwise start one worker per *effective* CPU: the smallest of the online
//!   CPUs, the affinity mask and the cgroup quota. A fractional quota rounds **down** (1.5 CPUs →
//!   1 worker, 2.9 → 2) but never below 1: a second worker on a 1.5-CPU quota would be throttled
//!   by the CFS scheduler and just interleave with the first, costing memory and start-up time
//!   for no gain.
//! - **Memory-bound.** Each worker is budgeted [`DEFAULT_MEMORY_PER_WORKER_MIB`] MiB unless set
//!   with `--memory-per-worker MIB`; the usable memory is the smaller of the cgroup limit and
//!   `MemAvailable`, and the count is capped at `usable / budget` (at least 1). Memory wins
//!   when it allows fewer workers than the CPUs do.

use serde::Serialize;

/// Default memory budget per xdist worker, in MiB: a worker process with pytest and a typical
/// application imported sits around 100–300 MiB; 512 leaves headroom for the test data.
pub const DEFAULT_MEMORY_PER_WORKER_MIB: u64 = 512;

const MIB: u64 = 1024 * 1024;

/// Why the worker count is what it is (`env --format json`: `workers.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerReason {
    /// One per effective CPU.
    Cpu,
    /// Capped by memory / per-worker budget.
    Memory,
    /// Given by the user.
    Forced,
}

impl WorkerReason {
    /// The contract keyword: `cpu`, `memory` or `forced`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerReason::Cpu => "cpu",
            WorkerReason::Memory => "memory",
            WorkerReason::Forced => "forced",
        }
    }
}

/// The inputs of [`worker_budget`], all already resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerInputs {
    /// Effective CPUs (see [`effective_cpus`](super::effective_cpus)), at least 1.
    pub effective_cpus: u32,
    /// cgroup memory limit in bytes, if any.
    pub memory_limit: Option<u64>,
    /// `MemAvailable` in bytes, if known.
    pub memory_available: Option<u64>,
    /// Budget per worker in MiB.
    pub memory_per_worker_mib: u64,
    /// `--workers N`.
    pub forced: Option<u32>,
}

/// The decision: how many workers, why, and a sentence saying so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerBudget {
    pub count: u32,
    pub reason: WorkerReason,
    /// Human-readable explanation, e.g. `2 effective CPUs`.
    pub detail: String,
}

/// Decide the worker count. Pure: the same inputs always give the same answer.
pub fn worker_budget(inputs: WorkerInputs) -> WorkerBudget {
    if let Some(n) = inputs.forced {
        return WorkerBudget {
            count: n.max(1),
            reason: WorkerReason::Forced,
            // Callers that know where the number came from (flag, variable, pyproject.toml)
            // replace this with a more precise sentence.
            detail: format!("set to {} by the user", n.max(1)),
        };
    }
    let cpus = inputs.effective_cpus.max(1);
    // Not `limit - memory.current`: in a CI container `memory.current` includes the page cache
    // of the checkout and dependency install, which the kernel reclaims on demand, so
    // subtracting it would starve a job of workers it can afford. `MemAvailable` already
    // discounts reclaimable cache host-wide.
    let usable = match (inputs.memory_limit, inputs.memory_available) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let budget = inputs.memory_per_worker_mib.max(1).saturating_mul(MIB);
    if let Some(usable) = usable {
        let by_memory = u32::try_from(usable / budget).unwrap_or(u32::MAX).max(1);
        if by_memory < cpus {
            return WorkerBudget {
                count: by_memory,
                reason: WorkerReason::Memory,
                detail: format!(
                    "{} MiB usable memory / {} MiB per worker (fewer than the {cpus} effective {})",
                    usable / MIB,
                    inputs.memory_per_worker_mib.max(1),
                    plural(cpus, "CPU", "CPUs"),
                ),
            };
        }
    }
    WorkerBudget {
        count: cpus,
        reason: WorkerReason::Cpu,
        detail: format!("{cpus} effective {}", plural(cpus, "CPU", "CPUs")),
    }
}

fn plural<'a>(n: u32, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> WorkerInputs {
        WorkerInputs {
            effective_cpus: 4,
            memory_limit: None,
            memory_available: Some(64 * 1024 * MIB),
            memory_per_worker_mib: DEFAULT_MEMORY_PER_WORKER_MIB,
            forced: None,
        }
    }

    #[test]
    fn cpu_bound_by_default() {
        let b = worker_budget(inputs());
        assert_eq!((b.count, b.reason), (4, WorkerReason::Cpu));
        assert_eq!(b.detail, "4 effective CPUs");
    }

    #[test]
    fn memory_bound_when_the_limit_is_tight() {
        let b = worker_budget(WorkerInputs {
            memory_limit: Some(1536 * MIB),
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (3, WorkerReason::Memory));
        // MemAvailable is consulted too; the smaller one counts.
        let b = worker_budget(WorkerInputs {
            memory_limit: Some(8192 * MIB),
            memory_available: Some(1024 * MIB),
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (2, WorkerReason::Memory));
        // Never below one worker.
        let b = worker_budget(WorkerInputs {
            memory_limit: Some(100 * MIB),
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (1, WorkerReason::Memory));
    }

    #[test]
    fn user_budget_changes_the_cap() {
        let b = worker_budget(WorkerInputs {
            memory_limit: Some(2048 * MIB),
            memory_per_worker_mib: 256,
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (4, WorkerReason::Cpu));
        let b = worker_budget(WorkerInputs {
            memory_limit: Some(2048 * MIB),
            memory_per_worker_mib: 1024,
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (2, WorkerReason::Memory));
    }

    #[test]
    fn forced_wins_over_everything() {
        let b = worker_budget(WorkerInputs {
            forced: Some(7),
            memory_limit: Some(MIB),
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (7, WorkerReason::Forced));
    }

    #[test]
    fn unknown_memory_means_cpu_bound() {
        let b = worker_budget(WorkerInputs {
            memory_available: None,
            ..inputs()
        });
        assert_eq!((b.count, b.reason), (4, WorkerReason::Cpu));
    }
}
