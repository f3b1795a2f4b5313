//! What may I use? cgroup v1/v2 CPU quota, affinity, memory → xdist worker budget.
//!
//! [`detect`] reads the real machine; [`detect_at`] reads a fixture tree (every file path is
//! taken under a root) with a given affinity, so tests never depend on the machine. The
//! decisions themselves ([`effective_cpus`], [`workers::worker_budget`]) are pure functions.

pub mod cgroup;
pub mod usage;
pub mod workers;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use cgroup::{CgroupLimits, Limit, Version};
pub use workers::{
    DEFAULT_MEMORY_PER_WORKER_MIB, WorkerBudget, WorkerInputs, WorkerReason, worker_budget,
};

/// Which bound decided the effective CPU count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CpuSource {
    /// Online CPUs (no tighter bound).
    #[serde(rename = "online")]
    Online,
    /// The scheduler affinity mask (`taskset`, cpuset).
    #[serde(rename = "affinity")]
    Affinity,
    /// cgroup v2 `cpu.max`.
    #[serde(rename = "cgroup v2 cpu.max")]
    CgroupV2,
    /// cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`.
    #[serde(rename = "cgroup v1 cpu.cfs_quota_us")]
    CgroupV1,
}

impl CpuSource {
    /// How the text output names the bound.
    pub fn describe(self) -> &'static str {
        match self {
            CpuSource::Online => "the online CPUs",
            CpuSource::Affinity => "the affinity mask",
            CpuSource::CgroupV2 => "the cgroup v2 quota `cpu.max`",
            CpuSource::CgroupV1 => "the cgroup v1 quota `cpu.cfs_quota_us`",
        }
    }

    /// The contract keyword (`cpus.source` in `env --format json`).
    pub fn as_str(self) -> &'static str {
        match self {
            CpuSource::Online => "online",
            CpuSource::Affinity => "affinity",
            CpuSource::CgroupV2 => "cgroup v2 cpu.max",
            CpuSource::CgroupV1 => "cgroup v1 cpu.cfs_quota_us",
        }
    }
}

/// CPUs: every bound we found and the effective count (`env --format json`: `cpus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cpus {
    pub online: u32,
    /// CPUs in the affinity mask; `None` where the platform has no such call (macOS).
    pub affinity: Option<u32>,
    /// The cgroup CPU quota as a fraction (1.5 = one and a half CPUs); `None` = no quota.
    pub quota: Option<f64>,
    /// The file the quota came from.
    pub quota_file: Option<PathBuf>,
    pub effective: u32,
    pub source: CpuSource,
}

/// Memory (`env --format json`: `memory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// cgroup `memory.max` / `memory.limit_in_bytes` (tightest on the path); `None` = no limit.
    pub limit_bytes: Option<u64>,
    pub limit_file: Option<PathBuf>,
    /// `MemAvailable` from `/proc/meminfo` (Windows: the available physical memory); `None`
    /// where unknown (macOS gives no figure that means the same).
    pub available_bytes: Option<u64>,
    /// Installed memory: `MemTotal`, macOS's `hw.memsize`, Windows' total physical memory.
    /// Shown, never used for the worker budget (installed is not free).
    pub total_bytes: Option<u64>,
}

/// What the host offers, plus warnings about files we could not use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostInfo {
    pub cpus: Cpus,
    pub memory: Memory,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl HostInfo {
    /// The worker decision for this host given the user's settings.
    pub fn workers(&self, memory_per_worker_mib: u64, forced: Option<u32>) -> WorkerBudget {
        worker_budget(WorkerInputs {
            effective_cpus: self.cpus.effective,
            memory_limit: self.memory.limit_bytes,
            memory_available: self.memory.available_bytes,
            memory_per_worker_mib,
            forced,
        })
    }
}

/// Read the real machine. Without `/proc` the memory comes from the platform's own API.
pub fn detect() -> HostInfo {
    let mut info = detect_at(Path::new("/"), affinity());
    if info.memory.total_bytes.is_none() {
        let (total, available) = platform_memory();
        info.memory.total_bytes = total;
        info.memory.available_bytes = info.memory.available_bytes.or(available);
    }
    info
}

/// Read a machine rooted at `root` (`/` in production, a fixture tree in tests), with the
/// given affinity-mask size (the one input that is a syscall rather than a file).
pub fn detect_at(root: &Path, affinity: Option<u32>) -> HostInfo {
    let mut warnings = Vec::new();
    let online = online_cpus(root, &mut warnings);
    let limits = cgroup::read_limits(root, &mut warnings);
    let (effective, source) = effective_cpus(
        online,
        affinity,
        limits.cpu.as_ref().map(|l| (l.value, l.version)),
    );
    HostInfo {
        cpus: Cpus {
            online,
            affinity,
            quota: limits.cpu.as_ref().map(|l| l.value),
            quota_file: limits.cpu.map(|l| l.file),
            effective,
            source,
        },
        memory: Memory {
            limit_bytes: limits.memory.as_ref().map(|l| l.value),
            limit_file: limits.memory.map(|l| l.file),
            available_bytes: mem_available(root, &mut warnings),
            total_bytes: std::fs::read_to_string(root.join("proc/meminfo"))
                .ok()
                .and_then(|text| parse_meminfo(&text, "MemTotal:")),
        },
        warnings,
    }
}

/// The effective CPU count: the smallest of online CPUs, affinity and quota. The quota rounds
/// down (1.5 → 1) but never below 1 (see `workers.rs` for why). On a tie the least specific
/// bound is named (online, then affinity, then the quota), so `source` only names the affinity
/// or the cgroup when it actually lowers the count.
pub fn effective_cpus(
    online: u32,
    affinity: Option<u32>,
    quota: Option<(f64, Version)>,
) -> (u32, CpuSource) {
    let mut best = (online.max(1), CpuSource::Online);
    if let Some(a) = affinity.filter(|&a| a >= 1 && a < best.0) {
        best = (a, CpuSource::Affinity);
    }
    if let Some((q, version)) = quota {
        // `as` saturates for floats; the `max(1)` keeps sub-CPU quotas at one worker.
        let q = (q.floor() as u32).max(1);
        if q < best.0 {
            let source = match version {
                Version::V1 => CpuSource::CgroupV1,
                Version::V2 => CpuSource::CgroupV2,
            };
            best = (q, source);
        }
    }
    best
}

/// Online CPUs from `sys/devices/system/cpu/online` (a list like `0-3,8`), else the standard
/// library's count (macOS, or no /sys).
fn online_cpus(root: &Path, warnings: &mut Vec<String>) -> u32 {
    let fallback = || {
        std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1)
    };
    let file = root.join("sys/devices/system/cpu/online");
    match std::fs::read_to_string(&file) {
        Ok(text) => match parse_cpu_list(&text) {
            Some(n) if n >= 1 => n,
            _ => {
                warnings.push(format!(
                    "ignoring `/sys/devices/system/cpu/online`: `{}` is not a CPU list",
                    text.trim().escape_debug()
                ));
                fallback()
            }
        },
        Err(_) => fallback(),
    }
}

/// Count the CPUs in a kernel CPU list (`0-3,8,10-11` → 7). `None` for garbage.
fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut count: u32 = 0;
    for part in text.trim().split(',') {
        let n = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                b.checked_sub(a)?.checked_add(1)?
            }
            None => {
                part.parse::<u32>().ok()?;
                1
            }
        };
        count = count.checked_add(n)?;
    }
    Some(count)
}

/// `MemAvailable` from `proc/meminfo` (in kB there), in bytes.
fn mem_available(root: &Path, warnings: &mut Vec<String>) -> Option<u64> {
    let text = std::fs::read_to_string(root.join("proc/meminfo")).ok()?;
    let parsed = parse_mem_available(&text);
    if parsed.is_none() {
        warnings.push("ignoring `/proc/meminfo`: no readable `MemAvailable` line".to_owned());
    }
    parsed
}

/// Parse the `MemAvailable:  123 kB` line of `/proc/meminfo`.
fn parse_mem_available(text: &str) -> Option<u64> {
    parse_meminfo(text, "MemAvailable:")
}

/// Parse the `<key>  123 kB` line of `/proc/meminfo`, in bytes.
fn parse_meminfo(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let mut words = line[key.len()..].split_whitespace();
    let kb = words.next()?.parse::<u64>().ok()?;
    match words.next() {
        Some("kB") | None => kb.checked_mul(1024),
        Some(_) => None,
    }
}

/// CPUs in this process's affinity mask (Linux); `None` elsewhere.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn affinity() -> Option<u32> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let set = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let n = (0..CpuSet::count())
        .filter(|&i| set.is_set(i).unwrap_or(false))
        .count();
    u32::try_from(n).ok().filter(|&n| n >= 1)
}

/// Installed and available memory from the platform (total, available). macOS: `sysctl -n
/// hw.memsize` for the total; its "free" pages leave out the reclaimable cache, so available
/// stays unknown rather than a misleading small number.
#[cfg(target_os = "macos")]
fn platform_memory() -> (Option<u64>, Option<u64>) {
    let total = std::process::Command::new("/usr/sbin/sysctl")
        .args(["-n", "hw.memsize"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| parse_sysctl_number(&String::from_utf8_lossy(&o.stdout)));
    (total, None)
}

/// Windows: `GlobalMemoryStatusEx` gives both.
#[cfg(windows)]
#[allow(unsafe_code)]
fn platform_memory() -> (Option<u64>, Option<u64>) {
    use windows::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
    let mut status = MEMORYSTATUSEX {
        dwLength: u32::try_from(std::mem::size_of::<MEMORYSTATUSEX>()).unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: `status` is a live, correctly sized MEMORYSTATUSEX with `dwLength` set, as the
    // call requires; it only writes into it.
    match unsafe { GlobalMemoryStatusEx(&mut status) } {
        Ok(()) => (Some(status.ullTotalPhys), Some(status.ullAvailPhys)),
        Err(_) => (None, None),
    }
}

/// Elsewhere (Linux without `/proc`, the BSDs): unknown.
#[cfg(not(any(target_os = "macos", windows)))]
fn platform_memory() -> (Option<u64>, Option<u64>) {
    (None, None)
}

/// The number `sysctl -n` prints.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn parse_sysctl_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// CPUs in this process's affinity mask: macOS and the BSDs have no portable call, so none.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn affinity() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list("0"), Some(1));
        for bad in ["", "a", "3-1", "0-", "1,,2"] {
            assert_eq!(parse_cpu_list(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn effective_cpu_rounding_and_source() {
        use CpuSource::*;
        assert_eq!(effective_cpus(8, Some(8), None), (8, Online));
        assert_eq!(effective_cpus(8, Some(4), None), (4, Affinity));
        assert_eq!(
            effective_cpus(8, Some(4), Some((1.5, Version::V2))),
            (1, CgroupV2)
        );
        assert_eq!(
            effective_cpus(8, None, Some((2.9, Version::V1))),
            (2, CgroupV1)
        );
        assert_eq!(
            effective_cpus(8, None, Some((0.25, Version::V2))),
            (1, CgroupV2)
        );
        // A quota above the CPU count does not lower anything.
        assert_eq!(
            effective_cpus(2, Some(2), Some((4.0, Version::V2))),
            (2, Online)
        );
        // Ties name the least specific bound.
        assert_eq!(
            effective_cpus(2, Some(2), Some((2.0, Version::V2))),
            (2, Online)
        );
        assert_eq!(effective_cpus(0, None, None), (1, Online));
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal: 100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(parse_meminfo(text, "MemTotal:"), Some(100 * 1024));
        // Written on Windows or not, a line is a line.
        assert_eq!(parse_meminfo("MemTotal: 1 kB\r\n", "MemTotal:"), Some(1024));
    }

    #[test]
    fn sysctl_numbers() {
        assert_eq!(parse_sysctl_number("17179869184\n"), Some(17_179_869_184));
        assert_eq!(parse_sysctl_number(""), None);
        assert_eq!(parse_sysctl_number("sysctl: unknown oid"), None);
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/host")
            .join(name)
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn cgroup_v2_fractional_quota_rounds_down() {
        let host = detect_at(&fixture("cgroup-v2"), Some(8));
        assert_eq!(host.warnings, Vec::<String>::new());
        assert_eq!(host.cpus.online, 8);
        assert_eq!(host.cpus.quota, Some(1.5));
        assert_eq!(
            host.cpus.quota_file.as_deref(),
            Some(Path::new("/sys/fs/cgroup/cpu.max"))
        );
        assert_eq!(
            (host.cpus.effective, host.cpus.source),
            (1, CpuSource::CgroupV2)
        );
        assert_eq!(host.memory.limit_bytes, Some(GIB));
        assert_eq!(host.memory.available_bytes, Some(16_777_216 * 1024));
        let w = host.workers(DEFAULT_MEMORY_PER_WORKER_MIB, None);
        assert_eq!((w.count, w.reason), (1, WorkerReason::Cpu));
    }

    #[test]
    fn cgroup_v2_nested_tightest_limit_wins() {
        let host = detect_at(&fixture("cgroup-v2-nested"), Some(8));
        assert_eq!(host.warnings, Vec::<String>::new());
        assert_eq!(host.cpus.quota, Some(3.0));
        assert_eq!(
            host.cpus.quota_file.as_deref(),
            Some(Path::new("/sys/fs/cgroup/ci.slice/cpu.max"))
        );
        assert_eq!(
            (host.cpus.effective, host.cpus.source),
            (3, CpuSource::CgroupV2)
        );
        assert_eq!(host.memory.limit_bytes, Some(2 * GIB));
        assert_eq!(
            host.memory.limit_file.as_deref(),
            Some(Path::new("/sys/fs/cgroup/ci.slice/job-7/memory.max"))
        );
        // 2 GiB / 512 MiB = 4 >= 3 CPUs: still CPU-bound; 1 GiB per worker → memory-bound.
        let w = host.workers(512, None);
        assert_eq!((w.count, w.reason), (3, WorkerReason::Cpu));
        let w = host.workers(1024, None);
        assert_eq!((w.count, w.reason), (2, WorkerReason::Memory));
    }

    #[test]
    fn cgroup_v1_with_mount_root() {
        let host = detect_at(&fixture("cgroup-v1"), Some(8));
        assert_eq!(host.warnings, Vec::<String>::new());
        assert_eq!(host.cpus.quota, Some(2.5));
        assert_eq!(
            (host.cpus.effective, host.cpus.source),
            (2, CpuSource::CgroupV1)
        );
        assert_eq!(
            host.cpus.quota_file.as_deref(),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"))
        );
        assert_eq!(host.memory.limit_bytes, Some(768 << 20));
        let w = host.workers(512, None);
        assert_eq!((w.count, w.reason), (1, WorkerReason::Memory));
    }

    #[test]
    fn hybrid_without_limits() {
        let host = detect_at(&fixture("no-limit"), Some(2));
        assert_eq!(host.warnings, Vec::<String>::new());
        assert_eq!(host.cpus.quota, None);
        assert_eq!(host.memory.limit_bytes, None);
        assert_eq!((host.cpus.online, host.cpus.effective), (2, 2));
        assert_eq!(host.cpus.source, CpuSource::Online);
        // A narrower affinity mask (taskset) is the bound then.
        let host = detect_at(&fixture("no-limit"), Some(1));
        assert_eq!(
            (host.cpus.effective, host.cpus.source),
            (1, CpuSource::Affinity)
        );
    }

    #[test]
    fn garbage_warns_and_falls_back() {
        let host = detect_at(&fixture("garbage"), Some(1));
        assert_eq!(host.cpus.quota, None);
        assert_eq!(host.memory.limit_bytes, None);
        assert_eq!(host.memory.available_bytes, None);
        assert!(host.cpus.online >= 1);
        assert_eq!(host.cpus.effective, 1);
        let all = host.warnings.join("\n");
        for file in [
            "/sys/fs/cgroup/cpu.max",
            "/sys/fs/cgroup/memory.max",
            "/sys/devices/system/cpu/online",
            "/proc/meminfo",
        ] {
            assert!(
                all.contains(&format!("`{file}`")),
                "warning for {file}:\n{all}"
            );
        }
        assert!(host.warnings.iter().all(|w| !w.contains('\n')));
    }

    #[test]
    fn unreadable_files_warn_and_missing_proc_means_no_limits() {
        let dir = tempfile::tempdir().unwrap();
        copy(&fixture("cgroup-v2"), dir.path());
        // A directory where a file should be: reading fails with something other than NotFound.
        std::fs::remove_file(dir.path().join("sys/fs/cgroup/cpu.max")).unwrap();
        std::fs::create_dir(dir.path().join("sys/fs/cgroup/cpu.max")).unwrap();
        let host = detect_at(dir.path(), Some(8));
        assert_eq!(host.cpus.quota, None);
        assert!(
            host.warnings
                .iter()
                .any(|w| w.contains("`/sys/fs/cgroup/cpu.max`")),
            "{:?}",
            host.warnings
        );

        let empty = tempfile::tempdir().unwrap();
        let host = detect_at(empty.path(), None);
        assert_eq!((host.cpus.quota, host.memory.limit_bytes), (None, None));
        assert!(host.warnings.is_empty());
    }

    /// Without a cgroup namespace the process's path may not exist under the mount (it names
    /// the host's hierarchy); the limits at the mount point are then the best we can see.
    #[test]
    fn cgroup_path_outside_the_mount_falls_back_to_the_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        copy(&fixture("cgroup-v2"), dir.path());
        std::fs::write(
            dir.path().join("proc/self/cgroup"),
            "0::/system.slice/docker-abc.scope\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("sys/fs/cgroup/cpu.max"), "200000 100000\n").unwrap();
        let host = detect_at(dir.path(), Some(8));
        assert_eq!(host.warnings, Vec::<String>::new());
        assert_eq!((host.cpus.quota, host.cpus.effective), (Some(2.0), 2));
    }

    fn copy(from: &Path, to: &Path) {
        for entry in walkdir::WalkDir::new(from) {
            let entry = entry.unwrap();
            let dest = to.join(entry.path().strip_prefix(from).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
            } else {
                std::fs::copy(entry.path(), &dest).unwrap();
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn affinity_is_at_least_one_on_linux() {
        assert!(affinity().is_some_and(|n| n >= 1));
    }
}
