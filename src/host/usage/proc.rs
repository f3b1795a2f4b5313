//! Pure readers of `/proc`: one process's `stat`, `status` and `schedstat`, the whole process
//! table, and an xdist worker's name. The `/proc` root is a parameter so tests read fixture
//! trees.

use std::path::Path;

/// One process as read from `/proc/<pid>/stat` and `/proc/<pid>/status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcInfo {
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
fn parse_stat(text: &str) -> Option<(u32, u32, u64, u64)> {
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
fn parse_schedstat_wait(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` from `/proc/<pid>/status`, in bytes. Kernel threads and zombies have none: 0.
fn parse_vm_rss(status: &str) -> u64 {
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
pub(crate) fn read_processes(proc_root: &Path) -> std::io::Result<Vec<ProcInfo>> {
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
pub(crate) fn worker_label(proc_root: &Path, pid: u32) -> String {
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

/// Clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`, 100 nearly everywhere).
#[cfg(unix)]
pub(crate) fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// Without `/proc` nothing is sampled; the kernel default keeps the arithmetic defined.
#[cfg(not(unix))]
pub(crate) fn ticks_per_second() -> f64 {
    100.0
}

/// Fake `/proc` entries for the tests here and in the sampler.
#[cfg(test)]
pub(crate) mod fixture {
    use std::path::Path;

    /// A fake `/proc` entry: `stat` in the kernel's format, `status` with `VmRSS`.
    pub(crate) fn write_proc(
        root: &Path,
        pid: u32,
        ppid: u32,
        start: u64,
        cpu: (u64, u64),
        rss_kib: u64,
    ) {
        write_proc_named(root, pid, "python", ppid, start, cpu, rss_kib);
    }

    pub(crate) fn write_proc_named(
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
}

#[cfg(test)]
mod tests {
    use super::fixture::write_proc;
    use super::*;

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

    #[test]
    fn schedstat_wait_is_the_second_field() {
        assert_eq!(parse_schedstat_wait("123 456 7\n"), Some(456));
        assert_eq!(parse_schedstat_wait("garbage"), None);
    }
}
