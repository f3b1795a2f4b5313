//! The sampler: a background thread that reads `/proc` about once a second while pytest runs,
//! and the pure [`Tracker`] that folds those samples into one [`ResourceUsage`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::proc::{ProcInfo, read_processes, ticks_per_second, worker_label};
use super::{ResourceUsage, WorkerUsage};

/// A process identity that survives pid reuse.
type ProcKey = (u32, u64);

/// How often the sampler looks at the tree: often enough to see a worker's peak on suites whose
/// tests allocate for a second or more, rare enough to cost nothing measurable.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

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
struct Tracker {
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
            exact: false,
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

#[cfg(test)]
mod tests {
    use super::super::proc::fixture::write_proc;
    use super::*;

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
            std::path::PathBuf::from("/proc"),
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
}
