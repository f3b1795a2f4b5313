//! Measured resource use of a pytest process tree, and the advice drawn from it (issue 8).
//!
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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the sampler looks at the tree: often enough to see a worker's peak on suites whose
/// tests allocate for a second or more, rare enough to cost nothing measurable.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Peak memory above this share of the limit makes a shard "memory-bound".
pub const MEMORY_BOUND_SHARE: f64 = 0.8;
/// Utilisation below this means workers mostly waited (sleep, I/O, network).
pub const WAITING_UTILISATION: f64 = 0.6;
/// All available CPUs busy at least this share of the wall time: CPU-starved when the workers
/// outnumber the CPUs.
pub const CPU_SATURATED_SHARE: f64 = 0.85;
/// Workers that spent at least this share of their wall time waiting for a CPU were starved,
/// whatever else was running on the machine (neighbour jobs, a noisy host).
pub const CPU_WAIT_SHARE: f64 = 0.25;

/// What was measured for one pytest process tree (one phase of a shard). Stored in the shard
/// manifest, so every field is optional on reading (`#[serde(default)]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceUsage {
    /// False when nothing could be measured (no `/proc`), so zeros below mean "unknown".
    pub measured: bool,
    /// How many times the tree was sampled.
    pub samples: u32,
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
    /// Lines for people, most pressing first (see [`advise`]).
    pub advice: Vec<String>,
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
        let (utilisation, advice) = if parallel.measured {
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
                advise(&inputs).iter().map(ToString::to_string).collect(),
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

/// One process as read from `/proc/<pid>/stat` and `/proc/<pid>/status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Start time in clock ticks after boot: with the pid, it tells a reused pid apart.
    pub start_ticks: u64,
    /// `utime + stime` in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
    /// Nanoseconds spent waiting on a run queue, from `schedstat` (`None`: not available).
    pub run_wait_ns: Option<u64>,
}

/// Parses the fields we need from `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so the fields are counted from
/// the last `)`.
pub fn parse_stat(text: &str) -> Option<(u32, u32, u64, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // `rest[0]` is field 3 (state); field n is `rest[n - 3]`.
    let field = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    let ppid = u32::try_from(field(4)?).ok()?;
    let cpu_ticks = field(14)?.checked_add(field(15)?)?;
    let start_ticks = field(22)?;
    Some((pid, ppid, start_ticks, cpu_ticks))
}

/// The run-queue wait (second field, nanoseconds) of `/proc/<pid>/schedstat`.
pub fn parse_schedstat_wait(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` from `/proc/<pid>/status`, in bytes. Kernel threads and zombies have none: 0.
pub fn parse_vm_rss(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib.saturating_mul(1024))
}

/// Every process under `proc_root`. Scanning all of `/proc` (rather than following
/// `/proc/<pid>/task/*/children`, which needs `CONFIG_PROC_CHILDREN`) works on every kernel and
/// finds descendants whose parent already exited. Processes that vanish mid-scan are skipped.
pub fn read_processes(proc_root: &Path) -> std::io::Result<Vec<ProcInfo>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((stat_pid, ppid, start_ticks, cpu_ticks)) = parse_stat(&stat) else {
            continue;
        };
        if stat_pid != pid {
            continue;
        }
        let rss_bytes = std::fs::read_to_string(entry.path().join("status"))
            .map(|s| parse_vm_rss(&s))
            .unwrap_or(0);
        let run_wait_ns = std::fs::read_to_string(entry.path().join("schedstat"))
            .ok()
            .and_then(|s| parse_schedstat_wait(&s));
        out.push(ProcInfo {
            pid,
            ppid,
            start_ticks,
            cpu_ticks,
            rss_bytes,
            run_wait_ns,
        });
    }
    Ok(out)
}

/// Names an xdist worker: `PYTEST_XDIST_WORKER` in its environment, or a `gwN` argument in its
/// command line (neither exists with today's execnet, which starts workers as
/// `python -c "import sys;exec(eval(sys.stdin.readline()))"`), else `pid <N>`.
pub fn worker_label(proc_root: &Path, pid: u32) -> String {
    let dir = proc_root.join(pid.to_string());
    if let Ok(environ) = std::fs::read(dir.join("environ")) {
        let named = environ
            .split(|b| *b == 0)
            .filter_map(|var| var.strip_prefix(b"PYTEST_XDIST_WORKER="))
            .filter_map(|value| std::str::from_utf8(value).ok())
            .find(|value| !value.is_empty());
        if let Some(name) = named {
            return name.to_string();
        }
    }
    if let Ok(cmdline) = std::fs::read(dir.join("cmdline")) {
        let named = cmdline
            .split(|b| *b == 0)
            .filter_map(|arg| std::str::from_utf8(arg).ok())
            .find(|arg| is_gateway_id(arg));
        if let Some(name) = named {
            return name.to_string();
        }
    }
    format!("pid {pid}")
}

fn is_gateway_id(arg: &str) -> bool {
    arg.strip_prefix("gw")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A process identity that survives pid reuse.
type ProcKey = (u32, u64);

#[derive(Debug, Clone)]
struct Seen {
    cpu_ticks: u64,
    run_wait_ns: Option<u64>,
    worker: Option<ProcKey>,
}

#[derive(Debug, Clone)]
struct WorkerAcc {
    label: String,
    peak_rss_bytes: u64,
}

/// Accumulates samples of one tree. Pure: it is fed process lists and never reads `/proc`
/// itself, except through the `label` callback for newly seen workers.
#[derive(Debug)]
pub struct Tracker {
    root: u32,
    /// With xdist the root's direct children are the workers; without, the root is the one
    /// worker and its children are whatever the tests spawned.
    xdist: bool,
    ticks_per_second: f64,
    seen: BTreeMap<ProcKey, Seen>,
    workers: BTreeMap<ProcKey, WorkerAcc>,
    peak_total_rss: u64,
    samples: u32,
}

impl Tracker {
    pub fn new(root: u32, xdist: bool, ticks_per_second: f64) -> Self {
        Tracker {
            root,
            xdist,
            ticks_per_second: if ticks_per_second > 0.0 {
                ticks_per_second
            } else {
                100.0
            },
            seen: BTreeMap::new(),
            workers: BTreeMap::new(),
            peak_total_rss: 0,
            samples: 0,
        }
    }

    /// Takes one sample: `processes` is every process on the machine (or at least the tree).
    pub fn observe(&mut self, processes: &[ProcInfo], label: &mut dyn FnMut(u32) -> String) {
        let by_pid: BTreeMap<u32, &ProcInfo> = processes.iter().map(|p| (p.pid, p)).collect();
        let Some(root) = by_pid.get(&self.root) else {
            // The tree is gone (pytest exited before this sample): keep what we had.
            return;
        };
        let root_key = (root.pid, root.start_ticks);
        let mut total_rss = 0u64;
        let mut worker_rss: BTreeMap<ProcKey, u64> = BTreeMap::new();
        for proc in processes {
            let Some(worker) = self.membership(proc, &by_pid, root_key) else {
                continue;
            };
            let key = (proc.pid, proc.start_ticks);
            total_rss = total_rss.saturating_add(proc.rss_bytes);
            if let Some(w) = worker {
                *worker_rss.entry(w).or_default() += proc.rss_bytes;
                if !self.workers.contains_key(&w) {
                    let name = if w == root_key && !self.xdist {
                        "pytest".to_string()
                    } else {
                        label(w.0)
                    };
                    self.workers.insert(
                        w,
                        WorkerAcc {
                            label: name,
                            peak_rss_bytes: 0,
                        },
                    );
                }
            }
            let entry = self.seen.entry(key).or_insert(Seen {
                cpu_ticks: 0,
                run_wait_ns: None,
                worker,
            });
            // CPU time only grows; `max` keeps a stale read from lowering it.
            entry.cpu_ticks = entry.cpu_ticks.max(proc.cpu_ticks);
            entry.run_wait_ns = entry.run_wait_ns.max(proc.run_wait_ns);
        }
        for (w, rss) in worker_rss {
            if let Some(acc) = self.workers.get_mut(&w) {
                acc.peak_rss_bytes = acc.peak_rss_bytes.max(rss);
            }
        }
        self.peak_total_rss = self.peak_total_rss.max(total_rss);
        self.samples += 1;
    }

    /// `None` when `proc` is outside the tree; `Some(None)` for the xdist controller (the root
    /// itself); `Some(Some(worker))` otherwise.
    fn membership(
        &self,
        proc: &ProcInfo,
        by_pid: &BTreeMap<u32, &ProcInfo>,
        root_key: ProcKey,
    ) -> Option<Option<ProcKey>> {
        let key = (proc.pid, proc.start_ticks);
        if key == root_key {
            return Some(if self.xdist { None } else { Some(root_key) });
        }
        // Walk up the parents; a process started before the root cannot be its descendant,
        // which also stops the walk on pid reuse and on cycles in corrupt input.
        let mut child = proc;
        for _ in 0..64 {
            if child.start_ticks < root_key.1 {
                return None;
            }
            let parent = by_pid.get(&child.ppid)?;
            if (parent.pid, parent.start_ticks) == root_key {
                let worker = if self.xdist {
                    (child.pid, child.start_ticks)
                } else {
                    root_key
                };
                return Some(Some(worker));
            }
            child = parent;
        }
        None
    }

    pub fn usage(&self) -> ResourceUsage {
        let secs = |ticks: u64| ticks as f64 / self.ticks_per_second;
        let workers = self
            .workers
            .iter()
            .map(|(key, acc)| WorkerUsage {
                label: acc.label.clone(),
                pid: key.0,
                cpu_seconds: secs(
                    self.seen
                        .values()
                        .filter(|s| s.worker == Some(*key))
                        .map(|s| s.cpu_ticks)
                        .sum(),
                ),
                peak_rss_bytes: acc.peak_rss_bytes,
            })
            .collect();
        ResourceUsage {
            measured: self.samples > 0,
            samples: self.samples,
            cpu_seconds: secs(self.seen.values().map(|s| s.cpu_ticks).sum()),
            peak_rss_bytes: self.peak_total_rss,
            cpu_wait_seconds: self
                .seen
                .values()
                .filter_map(|s| s.run_wait_ns)
                .reduce(u64::saturating_add)
                .map(|ns| ns as f64 / 1e9),
            workers,
        }
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`, 100 nearly everywhere).
pub fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// Samples one process tree on a background thread until stopped. A thread rather than a
/// tokio task, so sampling keeps its pace however busy the runtime is with pytest's output.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<ResourceUsage>,
}

impl Sampler {
    /// Starts sampling the tree under `root_pid` (pytest itself). `xdist`: whether pytest was
    /// started with workers, which decides who counts as a worker.
    pub fn start(proc_root: PathBuf, root_pid: u32, xdist: bool, interval: Duration) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let mut tracker = Tracker::new(root_pid, xdist, ticks_per_second());
            let mut label = |pid: u32| worker_label(&proc_root, pid);
            loop {
                match read_processes(&proc_root) {
                    Ok(processes) => tracker.observe(&processes, &mut label),
                    // No `/proc` (not Linux): nothing to measure, and nothing will change.
                    Err(_) => return tracker.usage(),
                }
                match stopped.recv_timeout(interval) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => return tracker.usage(),
                }
            }
        });
        Sampler { stop, handle }
    }

    /// Stops sampling and returns what was measured. Call it right after pytest exited; a
    /// sampler thread that panicked reports "not measured" instead of failing the run.
    pub fn stop(self) -> ResourceUsage {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or_default()
    }
}

/// The CPU share the workers actually used: CPU seconds / (wall seconds × workers).
pub fn utilisation(cpu_seconds: f64, wall_seconds: f64, workers: u32) -> Option<f64> {
    let capacity = wall_seconds * f64::from(workers);
    (capacity > 0.0 && cpu_seconds.is_finite()).then(|| cpu_seconds / capacity)
}

/// What the advice is computed from: one shard's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdviceInputs {
    pub wall_seconds: f64,
    pub workers: u32,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    /// The largest single worker's peak, to suggest a worker count that fits.
    pub peak_worker_rss_bytes: Option<u64>,
    /// Memory the shard may use (cgroup limit or physical memory), if known.
    pub memory_limit_bytes: Option<u64>,
    /// CPUs the shard may use (quota ∩ affinity), if known.
    pub cpus: Option<f64>,
    /// Run-queue wait of the tree, if the kernel reports it.
    pub cpu_wait_seconds: Option<f64>,
}

/// One piece of advice; `Display` gives the line people read.
#[derive(Debug, Clone, PartialEq)]
pub enum Advice {
    MemoryBound {
        peak_rss_bytes: u64,
        limit_bytes: u64,
        workers: u32,
        suggested_workers: u32,
    },
    CpuStarved {
        workers: u32,
        cpus: f64,
        busy_share: f64,
    },
    MostlyWaiting {
        utilisation: f64,
        /// More workers would not fit in memory, so do not suggest them.
        memory_bound: bool,
    },
    /// The workers were runnable but waited for a CPU: the machine was busier than its CPU
    /// count suggests (other jobs, or more workers than CPUs).
    WaitedForCpu { wait_share: f64 },
}

/// Advice for one shard, most pressing first. Pure.
pub fn advise(inputs: &AdviceInputs) -> Vec<Advice> {
    let mut out = Vec::new();
    if inputs.wall_seconds <= 0.0 || inputs.workers == 0 {
        return out;
    }
    let mut memory_bound = false;
    let over_limit = inputs.memory_limit_bytes.filter(|limit| {
        *limit > 0 && inputs.peak_rss_bytes as f64 > MEMORY_BOUND_SHARE * *limit as f64
    });
    if let Some(limit) = over_limit {
        memory_bound = true;
        let fewer = inputs.workers.saturating_sub(1).max(1);
        let fitting = inputs
            .peak_worker_rss_bytes
            .filter(|p| *p > 0)
            .map(|per_worker| ((MEMORY_BOUND_SHARE * limit as f64) / per_worker as f64) as u32);
        let suggested_workers = fitting.map_or(fewer, |f| f.clamp(1, fewer));
        out.push(Advice::MemoryBound {
            peak_rss_bytes: inputs.peak_rss_bytes,
            limit_bytes: limit,
            workers: inputs.workers,
            suggested_workers,
        });
    }
    let mut starved = false;
    if let Some(cpus) = inputs.cpus.filter(|c| *c > 0.0) {
        let busy_share = inputs.cpu_seconds / (inputs.wall_seconds * cpus);
        if f64::from(inputs.workers) > cpus && busy_share >= CPU_SATURATED_SHARE {
            starved = true;
            out.push(Advice::CpuStarved {
                workers: inputs.workers,
                cpus,
                busy_share,
            });
        }
    }
    if !starved {
        let wait_share = inputs
            .cpu_wait_seconds
            .map(|w| w / (inputs.wall_seconds * f64::from(inputs.workers)));
        if let Some(wait_share) = wait_share.filter(|s| *s >= CPU_WAIT_SHARE) {
            starved = true;
            out.push(Advice::WaitedForCpu { wait_share });
        }
    }
    let waiting = utilisation(inputs.cpu_seconds, inputs.wall_seconds, inputs.workers)
        .filter(|u| !starved && *u < WAITING_UTILISATION);
    if let Some(utilisation) = waiting {
        out.push(Advice::MostlyWaiting {
            utilisation,
            memory_bound,
        });
    }
    out
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Advice::MemoryBound {
                peak_rss_bytes,
                limit_bytes,
                workers,
                suggested_workers,
            } => write!(
                f,
                "memory-bound: peak memory {} is {:.0}% of the {} limit; use fewer workers \
                 ({suggested_workers} instead of {workers}) or more shards",
                format_bytes(*peak_rss_bytes),
                100.0 * *peak_rss_bytes as f64 / *limit_bytes as f64,
                format_bytes(*limit_bytes),
            ),
            Advice::CpuStarved {
                workers,
                cpus,
                busy_share,
            } => write!(
                f,
                "CPU-starved: {workers} workers kept {} busy {:.0}% of the time; more workers \
                 will not help, more shards or CPUs will",
                plural_cpus(*cpus),
                100.0 * busy_share.min(1.0),
            ),
            Advice::WaitedForCpu { wait_share } => write!(
                f,
                "CPU-starved: the workers waited for a CPU {:.0}% of the time (the machine was \
                 busy with more than these workers); more workers will not help, fewer workers \
                 or more CPUs or shards will",
                100.0 * wait_share.min(1.0),
            ),
            Advice::MostlyWaiting {
                utilisation,
                memory_bound,
            } => {
                write!(
                    f,
                    "mostly waiting: CPU utilisation {:.0}% (below {:.0}%): the tests wait on \
                     sleep, I/O or the network",
                    100.0 * utilisation,
                    100.0 * WAITING_UTILISATION
                )?;
                if *memory_bound {
                    f.write_str("; memory, not CPU, limits the worker count")
                } else {
                    f.write_str(", so more workers may help")
                }
            }
        }
    }
}

fn plural_cpus(cpus: f64) -> String {
    if (cpus - cpus.round()).abs() < 1e-9 {
        let n = cpus.round() as u64;
        format!("{n} CPU{}", if n == 1 { "" } else { "s" })
    } else {
        format!("{cpus:.1} CPUs")
    }
}

/// Bytes for people: `512 MiB`, `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.0} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.0} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc` entry: `stat` in the kernel's format, `status` with `VmRSS`.
    fn write_proc(root: &Path, pid: u32, ppid: u32, start: u64, cpu: (u64, u64), rss_kib: u64) {
        write_proc_named(root, pid, "python", ppid, start, cpu, rss_kib);
    }

    fn write_proc_named(
        root: &Path,
        pid: u32,
        comm: &str,
        ppid: u32,
        start: u64,
        (utime, stime): (u64, u64),
        rss_kib: u64,
    ) {
        let dir = root.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let stat = format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194304 100 0 0 0 {utime} {stime} 7 3 20 0 1 0 {start} 1000000 250 18446744073709551615"
        );
        std::fs::write(dir.join("stat"), stat).unwrap();
        std::fs::write(
            dir.join("status"),
            format!("Name:\t{comm}\nVmPeak:\t 999 kB\nVmRSS:\t {rss_kib} kB\nThreads:\t1\n"),
        )
        .unwrap();
        std::fs::write(dir.join("cmdline"), "python\0-c\0pass\0").unwrap();
    }

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let text = "42 (we (ird) name) R 7 42 42 0 -1 0 0 0 0 0 150 50 9 9 20 0 1 0 12345 0 0";
        assert_eq!(parse_stat(text), Some((42, 7, 12345, 200)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn vm_rss_is_read_in_bytes_and_missing_means_zero() {
        assert_eq!(parse_vm_rss("Name: x\nVmRSS:\t  2048 kB\n"), 2048 * 1024);
        assert_eq!(parse_vm_rss("Name: kthreadd\n"), 0);
    }

    #[test]
    fn xdist_tree_is_grouped_by_worker_and_keeps_exited_processes() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        // An unrelated process, pytest (100), two workers, a subprocess of gw1.
        write_proc(proc, 1, 0, 1, (5000, 5000), 10_000);
        write_proc(proc, 100, 1, 1000, (50, 10), 30_000);
        write_proc(proc, 101, 100, 1010, (100, 0), 40_000);
        write_proc(proc, 102, 100, 1011, (80, 20), 50_000);
        write_proc(proc, 103, 102, 1100, (30, 0), 60_000);
        std::fs::create_dir_all(proc.join("self")).unwrap();
        let mut tracker = Tracker::new(100, true, 100.0);
        let mut names = |pid: u32| format!("w{pid}");
        tracker.observe(&read_processes(proc).unwrap(), &mut names);

        // Second sample: the subprocess exited, gw0 grew.
        std::fs::remove_dir_all(proc.join("103")).unwrap();
        write_proc(proc, 101, 100, 1010, (200, 0), 45_000);
        tracker.observe(&read_processes(proc).unwrap(), &mut names);

        let usage = tracker.usage();
        assert!(usage.measured);
        assert_eq!(usage.samples, 2);
        // 0.6 (pytest) + 2.0 (gw0) + 1.0 (gw1) + 0.3 (exited subprocess); pid 1 excluded.
        assert!((usage.cpu_seconds - 3.9).abs() < 1e-9, "{usage:?}");
        // First sample: 30+40+50+60 MiB-ish in KiB; second: 30+45+50.
        assert_eq!(usage.peak_rss_bytes, 180_000 * 1024);
        assert_eq!(
            usage.workers,
            vec![
                WorkerUsage {
                    label: "w101".into(),
                    pid: 101,
                    cpu_seconds: 2.0,
                    peak_rss_bytes: 45_000 * 1024,
                },
                WorkerUsage {
                    label: "w102".into(),
                    pid: 102,
                    cpu_seconds: 1.3,
                    peak_rss_bytes: 110_000 * 1024,
                },
            ]
        );
        assert_eq!(usage.peak_worker_rss_bytes(), Some(110_000 * 1024));
    }

    #[test]
    fn without_xdist_the_whole_tree_is_one_worker() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        write_proc(proc, 100, 1, 1000, (50, 10), 30_000);
        write_proc(proc, 101, 100, 1010, (100, 0), 40_000);
        let mut tracker = Tracker::new(100, false, 100.0);
        tracker.observe(&read_processes(proc).unwrap(), &mut |_| unreachable!());
        let usage = tracker.usage();
        assert_eq!(usage.workers.len(), 1);
        assert_eq!(usage.workers[0].label, "pytest");
        assert_eq!(usage.workers[0].peak_rss_bytes, 70_000 * 1024);
        assert!((usage.workers[0].cpu_seconds - 1.6).abs() < 1e-9);
    }

    #[test]
    fn reused_pid_is_a_different_process() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        write_proc(proc, 100, 1, 1000, (0, 0), 1);
        write_proc(proc, 101, 100, 1010, (100, 0), 1);
        let mut tracker = Tracker::new(100, true, 100.0);
        let mut names = |pid: u32| format!("w{pid}");
        tracker.observe(&read_processes(proc).unwrap(), &mut names);
        // 101 exited and its pid went to a new worker, which started later with less CPU.
        write_proc(proc, 101, 100, 2000, (10, 0), 1);
        tracker.observe(&read_processes(proc).unwrap(), &mut names);
        let usage = tracker.usage();
        assert!((usage.cpu_seconds - 1.1).abs() < 1e-9);
        assert_eq!(usage.workers.len(), 2);
    }

    #[test]
    fn a_process_older_than_pytest_is_not_in_the_tree_even_with_a_reused_ppid() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        write_proc(proc, 100, 1, 1000, (0, 0), 1);
        // Its parent pid is 100, but it started before pytest: the old owner of pid 100.
        write_proc(proc, 55, 100, 10, (999, 0), 1);
        let mut tracker = Tracker::new(100, true, 100.0);
        tracker.observe(&read_processes(proc).unwrap(), &mut |_| unreachable!());
        assert_eq!(tracker.usage().cpu_seconds, 0.0);
    }

    #[test]
    fn missing_root_or_missing_proc_measures_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut tracker = Tracker::new(100, true, 100.0);
        tracker.observe(
            &read_processes(dir.path()).unwrap(),
            &mut |_| unreachable!(),
        );
        assert_eq!(tracker.usage(), ResourceUsage::default());
        assert!(read_processes(&dir.path().join("nope")).is_err());

        let sampler = Sampler::start(dir.path().join("nope"), 1, true, Duration::from_millis(10));
        assert!(!sampler.stop().measured);
    }

    #[test]
    fn worker_labels_come_from_environ_or_cmdline_else_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        write_proc(proc, 7, 1, 1, (0, 0), 1);
        assert_eq!(worker_label(proc, 7), "pid 7");
        std::fs::write(proc.join("7/cmdline"), "python\0-m\0worker\0gw3\0").unwrap();
        assert_eq!(worker_label(proc, 7), "gw3");
        std::fs::write(proc.join("7/environ"), "A=1\0PYTEST_XDIST_WORKER=gw1\0").unwrap();
        assert_eq!(worker_label(proc, 7), "gw1");
        assert_eq!(worker_label(proc, 8), "pid 8");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sampler_measures_a_real_child_process() {
        // A shell that burns a little CPU in a child, then sleeps so the sampler sees it.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.3",
            ])
            .spawn()
            .unwrap();
        let sampler = Sampler::start(
            PathBuf::from("/proc"),
            child.id(),
            false,
            Duration::from_millis(50),
        );
        std::thread::sleep(Duration::from_millis(200));
        let usage = sampler.stop();
        child.wait().unwrap();
        assert!(usage.measured);
        assert!(usage.samples >= 2, "{usage:?}");
        assert!(usage.peak_rss_bytes > 0, "{usage:?}");
        assert_eq!(usage.workers.len(), 1);
    }

    fn gib(n: f64) -> u64 {
        (n * 1024.0 * 1024.0 * 1024.0) as u64
    }

    #[test]
    fn utilisation_is_cpu_over_wall_times_workers() {
        assert_eq!(utilisation(30.0, 10.0, 4), Some(0.75));
        assert_eq!(utilisation(1.0, 0.0, 4), None);
        assert_eq!(utilisation(1.0, 10.0, 0), None);
    }

    #[test]
    fn memory_bound_suggests_a_worker_count_that_fits() {
        let advice = advise(&AdviceInputs {
            wall_seconds: 100.0,
            workers: 4,
            cpu_seconds: 380.0,
            peak_rss_bytes: gib(3.5),
            peak_worker_rss_bytes: Some(gib(0.8)),
            memory_limit_bytes: Some(gib(4.0)),
            cpus: Some(4.0),
            cpu_wait_seconds: None,
        });
        assert_eq!(
            advice,
            vec![Advice::MemoryBound {
                peak_rss_bytes: gib(3.5),
                limit_bytes: gib(4.0),
                workers: 4,
                suggested_workers: 3,
            }]
        );
        assert_eq!(
            advice[0].to_string(),
            "memory-bound: peak memory 3.5 GiB is 88% of the 4.0 GiB limit; use fewer workers \
             (3 instead of 4) or more shards"
        );
    }

    #[test]
    fn at_eighty_percent_or_below_memory_is_fine() {
        let advice = advise(&AdviceInputs {
            wall_seconds: 10.0,
            workers: 2,
            cpu_seconds: 19.0,
            peak_rss_bytes: gib(0.8),
            peak_worker_rss_bytes: None,
            memory_limit_bytes: Some(gib(1.0)),
            cpus: Some(2.0),
            cpu_wait_seconds: Some(0.5),
        });
        assert_eq!(advice, vec![]);
    }

    #[test]
    fn more_workers_than_busy_cpus_is_cpu_starved_not_waiting() {
        let advice = advise(&AdviceInputs {
            wall_seconds: 10.0,
            workers: 8,
            cpu_seconds: 19.0,
            cpus: Some(2.0),
            ..AdviceInputs::default()
        });
        assert_eq!(advice.len(), 1);
        assert_eq!(
            advice[0].to_string(),
            "CPU-starved: 8 workers kept 2 CPUs busy 95% of the time; more workers will not \
             help, more shards or CPUs will"
        );
    }

    #[test]
    fn low_utilisation_is_mostly_waiting_unless_memory_forbids_more_workers() {
        let inputs = AdviceInputs {
            wall_seconds: 10.0,
            workers: 2,
            cpu_seconds: 3.0,
            cpus: Some(2.0),
            ..AdviceInputs::default()
        };
        let advice = advise(&inputs);
        assert_eq!(
            advice.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "mostly waiting: CPU utilisation 15% (below 60%): the tests wait on sleep, I/O \
                 or the network, so more workers may help"
            ]
        );
        let advice = advise(&AdviceInputs {
            peak_rss_bytes: gib(0.9),
            memory_limit_bytes: Some(gib(1.0)),
            ..inputs
        });
        assert_eq!(advice.len(), 2);
        assert!(
            advice[1]
                .to_string()
                .ends_with("memory, not CPU, limits the worker count")
        );
    }

    #[test]
    fn waiting_for_a_cpu_is_starvation_not_io() {
        // 2 workers for 10 s used 2 CPU seconds but waited 8 s for a CPU: a busy machine.
        let advice = advise(&AdviceInputs {
            wall_seconds: 10.0,
            workers: 2,
            cpu_seconds: 2.0,
            cpus: Some(2.0),
            cpu_wait_seconds: Some(8.0),
            ..AdviceInputs::default()
        });
        assert_eq!(advice, vec![Advice::WaitedForCpu { wait_share: 0.4 }]);
        assert!(
            advice[0]
                .to_string()
                .starts_with("CPU-starved: the workers waited for a CPU 40% of the time")
        );
        assert_eq!(parse_schedstat_wait("123 456 7\n"), Some(456));
        assert_eq!(parse_schedstat_wait("garbage"), None);
    }

    #[test]
    fn run_queue_wait_is_summed_from_schedstat() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        write_proc(proc, 100, 1, 1000, (0, 0), 1);
        write_proc(proc, 101, 100, 1010, (0, 0), 1);
        std::fs::write(proc.join("100/schedstat"), "5 1500000000 3\n").unwrap();
        std::fs::write(proc.join("101/schedstat"), "5 500000000 3\n").unwrap();
        let mut tracker = Tracker::new(100, true, 100.0);
        tracker.observe(&read_processes(proc).unwrap(), &mut |p| format!("w{p}"));
        assert_eq!(tracker.usage().cpu_wait_seconds, Some(2.0));
        // Without schedstat the wait is unknown, not zero.
        std::fs::remove_file(proc.join("100/schedstat")).unwrap();
        std::fs::remove_file(proc.join("101/schedstat")).unwrap();
        let mut tracker = Tracker::new(100, true, 100.0);
        tracker.observe(&read_processes(proc).unwrap(), &mut |p| format!("w{p}"));
        assert_eq!(tracker.usage().cpu_wait_seconds, None);
    }

    #[test]
    fn nothing_to_say_about_a_run_that_did_not_happen() {
        assert_eq!(advise(&AdviceInputs::default()), vec![]);
    }

    #[test]
    fn usage_reads_manifests_without_the_new_fields() {
        let usage: ResourceUsage = serde_json::from_str("{}").unwrap();
        assert_eq!(usage, ResourceUsage::default());
        let worker: WorkerUsage = serde_json::from_str(r#"{"label":"gw0"}"#).unwrap();
        assert_eq!(worker.label, "gw0");
    }

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(300 * 1024 * 1024), "300 MiB");
        assert_eq!(format_bytes(gib(1.5)), "1.5 GiB");
    }
}
