//! Measured resource use of a pytest process tree, and the advice drawn from it.
//!
//! [`proc`] reads `/proc`, [`sampler`] runs the thread, [`advice`] judges the numbers.
//! While pytest runs, a background thread samples the tree under pytest's pid from `/proc`
//! about once a second: CPU seconds (`utime + stime`) and resident memory (`VmRSS`) of every
//! process, grouped by xdist worker. The `/proc` root is a parameter so unit tests read fixture
//! trees. Where `/proc` is missing (macOS, Windows) the sampler records that nothing was
//! measured instead of failing the run.
//!
//! Limits, said once: a process that starts and exits between two samples is not seen (its
//! CPU time still counts if its parent is a seen process that reaped it, through `cutime`, which
//! we do not add to avoid counting the same seconds twice); RSS is summed per process, so pages
//! shared between a parent and its forked children count more than once — peaks are an upper
//! bound, which is the safe side for choosing a worker count.

pub mod advice;
pub mod kernel;
pub mod proc;
pub mod sampler;

use serde::{Deserialize, Serialize};

pub use advice::Advice;
use advice::{AdviceInputs, advise};

/// What was measured for one pytest process tree (one phase of a shard). Stored in the shard
/// manifest, so every field is optional on reading (`#[serde(default)]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceUsage {
    /// False when nothing could be measured (no `/proc`), so zeros below mean "unknown".
    pub measured: bool,
    /// How many times the tree was sampled.
    pub samples: u32,
    /// `cpu_seconds` (and the peak, when larger) come from the kernel once pytest exited
    /// ([`kernel`]), not from samples.
    pub exact: bool,
    /// CPU seconds (user + system) of every process seen in the tree, exited ones included.
    pub cpu_seconds: f64,
    /// Highest sum of resident memory over the whole tree at one sample, in bytes.
    pub peak_rss_bytes: u64,
    /// Seconds the tree's processes were runnable but waited for a CPU (`/proc/<pid>/schedstat`);
    /// `None` where the kernel does not provide it.
    pub cpu_wait_seconds: Option<f64>,
    /// Per xdist worker (or the single pytest process when xdist is not used).
    pub workers: Vec<WorkerUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerUsage {
    /// `gw0`… when the worker can be named from `/proc`, else `pid <N>` (xdist sets
    /// `PYTEST_XDIST_WORKER` only inside the worker's Python, which `/proc` does not show).
    pub label: String,
    pub pid: u32,
    /// CPU seconds of the worker and its descendants.
    pub cpu_seconds: f64,
    /// Highest sum of resident memory of the worker and its descendants at one sample.
    pub peak_rss_bytes: u64,
}

impl ResourceUsage {
    /// The largest per-worker peak, which is what a worker count must leave room for.
    pub fn peak_worker_rss_bytes(&self) -> Option<u64> {
        self.workers.iter().map(|w| w.peak_rss_bytes).max()
    }
}

/// What a shard's manifest records about resources: both phases' measurements, the machine's
/// limits, and the advice drawn from them (so `report`, running elsewhere, needs no host data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// The xdist phase (or the single pytest process when the shard has one worker).
    pub parallel: ResourceUsage,
    pub parallel_wall_seconds: f64,
    /// The serial phase, when it ran.
    pub serial: Option<ResourceUsage>,
    /// Memory the shard could use: the cgroup limit, else what the machine had available when
    /// pytest started.
    pub memory_limit_bytes: Option<u64>,
    /// CPUs the shard could use (cgroup quota, else the effective count).
    pub cpus: Option<f64>,
    /// CPU seconds / (wall × workers) of the parallel phase; `None` when not measured.
    pub utilisation: Option<f64>,
    /// Highest total resident memory of either phase.
    pub peak_rss_bytes: u64,
    /// Largest single worker's peak, what the next worker count must leave room for.
    pub peak_worker_rss_bytes: Option<u64>,
    /// Most pressing first (see [`advise`]): a kind and its numbers, rendered to words where it
    /// is shown. Manifests of version 1 hold sentences; they read as [`Advice::Text`].
    #[serde(deserialize_with = "advice::de_advice_list")]
    pub advice: Vec<Advice>,
}

impl Resources {
    /// Combines what the phases measured with the machine's limits, and advises. The advice
    /// looks at the parallel phase: the serial phase uses one CPU by design, which says nothing
    /// about the worker count.
    pub fn new(
        parallel: ResourceUsage,
        parallel_wall_seconds: f64,
        workers: u32,
        serial: Option<ResourceUsage>,
        memory_limit_bytes: Option<u64>,
        cpus: Option<f64>,
    ) -> Resources {
        let peak_rss_bytes = parallel
            .peak_rss_bytes
            .max(serial.as_ref().map_or(0, |s| s.peak_rss_bytes));
        let peak_worker_rss_bytes = parallel
            .peak_worker_rss_bytes()
            .into_iter()
            .chain(
                serial
                    .as_ref()
                    .and_then(ResourceUsage::peak_worker_rss_bytes),
            )
            .max();
        // A few samples (a short run) say nothing about waiting or starving: no advice then.
        let (utilisation, advice) = if parallel.measured && parallel.samples >= MIN_SAMPLES {
            let inputs = AdviceInputs {
                wall_seconds: parallel_wall_seconds,
                workers,
                cpu_seconds: parallel.cpu_seconds,
                peak_rss_bytes,
                peak_worker_rss_bytes,
                memory_limit_bytes,
                cpus,
                cpu_wait_seconds: parallel.cpu_wait_seconds,
            };
            (
                utilisation(parallel.cpu_seconds, parallel_wall_seconds, workers),
                advise(&inputs),
            )
        } else if parallel.measured {
            (
                utilisation(parallel.cpu_seconds, parallel_wall_seconds, workers),
                Vec::new(),
            )
        } else {
            (None, Vec::new())
        };
        Resources {
            parallel,
            parallel_wall_seconds,
            serial,
            memory_limit_bytes,
            cpus,
            utilisation,
            peak_rss_bytes,
            peak_worker_rss_bytes,
            advice,
        }
    }
}

/// Fewer samples than this draw no advice.
pub const MIN_SAMPLES: u32 = 3;

/// The CPU share the workers actually used: CPU seconds / (wall seconds × workers).
pub fn utilisation(cpu_seconds: f64, wall_seconds: f64, workers: u32) -> Option<f64> {
    let capacity = wall_seconds * f64::from(workers);
    (capacity > 0.0 && cpu_seconds.is_finite()).then(|| cpu_seconds / capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_than_three_samples_draw_no_advice() {
        // 5% of two workers busy: "mostly waiting", if there were enough samples to say so.
        let usage = |samples| ResourceUsage {
            measured: true,
            samples,
            exact: true,
            cpu_seconds: 0.1,
            ..ResourceUsage::default()
        };
        let resources = |samples| Resources::new(usage(samples), 1.0, 2, None, None, Some(2.0));
        let short = resources(2);
        assert_eq!(short.utilisation, Some(0.05));
        assert!(short.advice.is_empty(), "{short:?}");
        assert!(!resources(MIN_SAMPLES).advice.is_empty());
    }

    #[test]
    fn utilisation_is_cpu_over_wall_times_workers() {
        assert_eq!(utilisation(30.0, 10.0, 4), Some(0.75));
        assert_eq!(utilisation(1.0, 0.0, 4), None);
        assert_eq!(utilisation(1.0, 10.0, 0), None);
    }

    #[test]
    fn usage_reads_manifests_without_the_new_fields() {
        let usage: ResourceUsage = serde_json::from_str("{}").unwrap();
        assert_eq!(usage, ResourceUsage::default());
        let worker: WorkerUsage = serde_json::from_str(r#"{"label":"gw0"}"#).unwrap();
        assert_eq!(worker.label, "gw0");
    }
}
