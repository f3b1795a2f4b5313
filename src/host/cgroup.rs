//! cgroup v1 and v2 limits: CPU quota and memory limit of the cgroup this process runs in.
//!
//! The cgroup directory is found the way the kernel documents it rather than by assuming
//! `/sys/fs/cgroup`: `/proc/self/cgroup` gives the process's path in each hierarchy, and
//! `/proc/self/mountinfo` says where (and from which root) each hierarchy is mounted. Limits are
//! then read at every level from that directory up to the mount point and the tightest wins,
//! because a parent's `cpu.max` or `memory.max` caps all its children (nested cgroups, e.g. a
//! container inside a systemd slice). Both versions are consulted: on a "hybrid" host the v2
//! hierarchy is mounted but the CPU and memory controllers live in v1.
//!
//! Every path is taken relative to a `root` so tests point the readers at fixture trees. Missing
//! files are normal (no limit); unreadable or garbled ones produce a warning and are skipped,
//! which errs towards "no limit" — the CPU count and affinity still bound the result.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Which cgroup hierarchy a limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Version {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
}

/// One line of `/proc/self/mountinfo` that matters to us.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The path inside the mounted filesystem that is visible at `mount_point`.
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    /// Super options: for cgroup v1 they name the controllers (`rw,cpu,cpuacct`).
    pub super_options: Vec<String>,
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    pub hierarchy: String,
    pub controllers: Vec<String>,
    pub path: String,
}

/// A limit and the file it was read from (the tightest along the cgroup path).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit<T> {
    pub value: T,
    pub version: Version,
    /// The file that set the limit, as an absolute path on this machine.
    pub file: PathBuf,
}

/// What the cgroups allow this process: `None` means no limit was found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CgroupLimits {
    /// CPUs as a fraction: quota / period (`150000 100000` → 1.5).
    pub cpu: Option<Limit<f64>>,
    pub memory: Option<Limit<u64>>,
}

/// Parse `/proc/self/mountinfo`, keeping cgroup mounts only. Malformed lines are skipped.
///
/// Format (proc(5)): `id parent major:minor root mount-point options [optional...] - fstype
/// source super-options`; paths escape space, tab, newline and backslash as `\ooo`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let super_options = right.next().unwrap_or("");
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some(Mount {
                root: unescape_octal(left.get(3)?),
                mount_point: PathBuf::from(unescape_octal(left.get(4)?)),
                fstype: fstype.to_owned(),
                super_options: super_options.split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse `/proc/self/cgroup`. Malformed lines are skipped.
fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy = parts.next()?.to_owned();
            let controllers = parts.next()?;
            let path = parts.next()?.to_owned();
            Some(Membership {
                hierarchy,
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path,
            })
        })
        .collect()
}

/// A cgroup directory of this process and the mount point above which we must not climb.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupDir {
    pub version: Version,
    /// Real path (without the test root) of the process's cgroup directory.
    pub dir: PathBuf,
    pub mount_point: PathBuf,
}

/// The directories holding `controller`'s files for this process: the v2 one (if v2 is
/// mounted) and the v1 one (if a v1 hierarchy carries that controller).
fn locate(mounts: &[Mount], memberships: &[Membership], controller: &str) -> Vec<CgroupDir> {
    let mut dirs = Vec::new();
    let v2_path = memberships
        .iter()
        .find(|m| m.hierarchy == "0" && m.controllers.is_empty())
        .map(|m| m.path.as_str());
    if let (Some(path), Some(mount)) = (v2_path, mounts.iter().find(|m| m.fstype == "cgroup2")) {
        dirs.push(CgroupDir {
            version: Version::V2,
            dir: join_cgroup_path(mount, path),
            mount_point: mount.mount_point.clone(),
        });
    }
    let v1_path = memberships
        .iter()
        .find(|m| m.hierarchy != "0" && m.controllers.iter().any(|c| c == controller))
        .map(|m| m.path.as_str());
    let v1_mount = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == controller));
    if let (Some(path), Some(mount)) = (v1_path, v1_mount) {
        dirs.push(CgroupDir {
            version: Version::V1,
            dir: join_cgroup_path(mount, path),
            mount_point: mount.mount_point.clone(),
        });
    }
    dirs
}

/// The directory of cgroup `path` under `mount`. When the mount exposes only a subtree (its
/// `root` is not `/`, as in a container without a cgroup namespace), strip that prefix; when
/// the path lies outside the mounted subtree, the mount point itself is the best we can see.
fn join_cgroup_path(mount: &Mount, path: &str) -> PathBuf {
    let rel = if mount.root == "/" {
        Some(path)
    } else {
        path.strip_prefix(mount.root.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    match rel {
        Some(rel) => mount.mount_point.join(rel.trim_start_matches('/')),
        None => mount.mount_point.clone(),
    }
}

/// Map a real absolute path under the test `root`.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Read the CPU and memory limits of this process's cgroups under `root` (`/` in production).
/// Problems become `warnings`; the result is then as if that file had no limit.
pub fn read_limits(root: &Path, warnings: &mut Vec<String>) -> CgroupLimits {
    let read = |rel: &str| std::fs::read_to_string(root.join(rel));
    let (mountinfo, proc_cgroup) = match (read("proc/self/mountinfo"), read("proc/self/cgroup")) {
        (Ok(m), Ok(c)) => (m, c),
        // No /proc (macOS, or a sandbox without it): no cgroups to honour.
        _ => return CgroupLimits::default(),
    };
    let mounts = parse_mountinfo(&mountinfo);
    let memberships = parse_proc_cgroup(&proc_cgroup);

    let mut limits = CgroupLimits::default();
    for dir in locate(&mounts, &memberships, "cpu") {
        let found = match dir.version {
            Version::V2 => tightest(root, &dir, warnings, |d, w| read_cpu_max(root, d, w)),
            Version::V1 => tightest(root, &dir, warnings, |d, w| read_cfs_quota(root, d, w)),
        };
        limits.cpu = min_limit(limits.cpu, found);
    }
    for dir in locate(&mounts, &memberships, "memory") {
        let file = match dir.version {
            Version::V2 => "memory.max",
            Version::V1 => "memory.limit_in_bytes",
        };
        let found = tightest(root, &dir, warnings, |d, w| {
            read_memory(root, d, file, dir.version, w)
        });
        limits.memory = min_limit(limits.memory, found);
    }
    limits
}

fn min_limit<T: PartialOrd>(a: Option<Limit<T>>, b: Option<Limit<T>>) -> Option<Limit<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.value < a.value { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Walk from the cgroup directory up to its mount point and keep the tightest limit. If the
/// directory does not exist (the path is from another namespace), only the mount point is read.
fn tightest<T: PartialOrd>(
    root: &Path,
    dir: &CgroupDir,
    warnings: &mut Vec<String>,
    mut read_one: impl FnMut(&Path, &mut Vec<String>) -> Option<Limit<T>>,
) -> Option<Limit<T>> {
    let start = if under(root, &dir.dir).is_dir() {
        dir.dir.clone()
    } else {
        dir.mount_point.clone()
    };
    let mut best = None;
    let mut current = Some(start.as_path());
    while let Some(level) = current {
        best = min_limit(best, read_one(level, warnings));
        if level == dir.mount_point || !level.starts_with(&dir.mount_point) {
            break;
        }
        current = level.parent();
    }
    best
}

/// Read a small file under `root`; `None` when missing, a warning when unreadable.
fn read_small(root: &Path, file: &Path, warnings: &mut Vec<String>) -> Option<String> {
    match std::fs::read_to_string(under(root, file)) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            warnings.push(format!("ignoring `{}`: {err}", file.display()));
            None
        }
    }
}

/// cgroup v2 `cpu.max`: `max 100000` (no limit) or `<quota> <period>` in microseconds.
fn read_cpu_max(root: &Path, dir: &Path, warnings: &mut Vec<String>) -> Option<Limit<f64>> {
    let file = dir.join("cpu.max");
    let text = read_small(root, &file, warnings)?;
    match parse_cpu_max(&text) {
        Ok(value) => value.map(|value| Limit {
            value,
            version: Version::V2,
            file,
        }),
        Err(Garbled) => {
            warnings.push(garbled(
                &file,
                &text,
                "`max <period>` or `<quota> <period>`",
            ));
            None
        }
    }
}

/// A limit file whose content is not what the kernel writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Garbled;

/// Parse `cpu.max`: `Ok(None)` for no limit, `Ok(Some(cpus))`, `Err` for garbage.
fn parse_cpu_max(text: &str) -> Result<Option<f64>, Garbled> {
    let mut words = text.split_whitespace();
    let quota = words.next().ok_or(Garbled)?;
    // The period may be absent in hand-written files; the kernel always writes it.
    let period = match words.next() {
        Some(p) => p.parse::<u64>().map_err(|_| Garbled)?,
        None => 100_000,
    };
    if words.next().is_some() || period == 0 {
        return Err(Garbled);
    }
    if quota == "max" {
        return Ok(None);
    }
    let quota = quota.parse::<u64>().map_err(|_| Garbled)?;
    if quota == 0 {
        return Err(Garbled);
    }
    Ok(Some(quota as f64 / period as f64))
}

/// cgroup v1 `cpu.cfs_quota_us` (`-1` = no limit) and `cpu.cfs_period_us`.
fn read_cfs_quota(root: &Path, dir: &Path, warnings: &mut Vec<String>) -> Option<Limit<f64>> {
    let quota_file = dir.join("cpu.cfs_quota_us");
    let quota_text = read_small(root, &quota_file, warnings)?;
    let quota = match quota_text.trim().parse::<i64>() {
        Ok(q) if q < 0 => return None,
        Ok(q) if q > 0 => q,
        _ => {
            warnings.push(garbled(
                &quota_file,
                &quota_text,
                "`-1` or a positive number",
            ));
            return None;
        }
    };
    let period_file = dir.join("cpu.cfs_period_us");
    let period_text = read_small(root, &period_file, warnings)?;
    match period_text.trim().parse::<u64>() {
        Ok(period) if period > 0 => Some(Limit {
            value: quota as f64 / period as f64,
            version: Version::V1,
            file: quota_file,
        }),
        _ => {
            warnings.push(garbled(&period_file, &period_text, "a positive number"));
            None
        }
    }
}

/// v1 reports "no limit" as the largest page-aligned i64 (`9223372036854771712`); anything
/// beyond 2^60 bytes (an exbibyte) is treated as unlimited.
const UNLIMITED_BYTES: u64 = 1 << 60;

fn read_memory(
    root: &Path,
    dir: &Path,
    name: &str,
    version: Version,
    warnings: &mut Vec<String>,
) -> Option<Limit<u64>> {
    let file = dir.join(name);
    let text = read_small(root, &file, warnings)?;
    match parse_memory_limit(&text) {
        Ok(value) => value.map(|value| Limit {
            value,
            version,
            file,
        }),
        Err(Garbled) => {
            warnings.push(garbled(&file, &text, "`max` or a number of bytes"));
            None
        }
    }
}

/// Parse `memory.max` / `memory.limit_in_bytes`: `Ok(None)` for no limit.
fn parse_memory_limit(text: &str) -> Result<Option<u64>, Garbled> {
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    // v1 writes -1 when the limit is reset on some kernels.
    if text == "-1" {
        return Ok(None);
    }
    let bytes = text.parse::<u64>().map_err(|_| Garbled)?;
    Ok((bytes < UNLIMITED_BYTES).then_some(bytes))
}

fn garbled(file: &Path, text: &str, expected: &str) -> String {
    let shown: String = text.trim().chars().take(60).collect();
    format!(
        "ignoring `{}`: `{}` is not {expected}",
        file.display(),
        shown.escape_debug()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 /kube/pod1 /sys/fs/cgroup/unified\\040dir rw - cgroup2 cgroup2 rw
garbage line
";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert!(mounts[0].super_options.iter().any(|o| o == "cpuacct"));
        assert_eq!(mounts[1].root, "/kube/pod1");
        assert_eq!(
            mounts[1].mount_point,
            Path::new("/sys/fs/cgroup/unified dir")
        );
    }

    #[test]
    fn joins_paths_relative_to_the_mount_root() {
        let mount = |root: &str| Mount {
            root: root.into(),
            mount_point: "/sys/fs/cgroup".into(),
            fstype: "cgroup2".into(),
            super_options: vec![],
        };
        assert_eq!(
            join_cgroup_path(&mount("/"), "/a/b"),
            Path::new("/sys/fs/cgroup/a/b")
        );
        assert_eq!(
            join_cgroup_path(&mount("/a"), "/a/b"),
            Path::new("/sys/fs/cgroup/b")
        );
        assert_eq!(
            join_cgroup_path(&mount("/a"), "/a"),
            Path::new("/sys/fs/cgroup")
        );
        assert_eq!(
            join_cgroup_path(&mount("/a"), "/ab"),
            Path::new("/sys/fs/cgroup")
        );
        assert_eq!(
            join_cgroup_path(&mount("/x"), "/a"),
            Path::new("/sys/fs/cgroup")
        );
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(parse_cpu_max("max 100000\n"), Ok(None));
        assert_eq!(parse_cpu_max("150000 100000\n"), Ok(Some(1.5)));
        assert_eq!(parse_cpu_max("50000"), Ok(Some(0.5)));
        for bad in ["", "abc 100000", "100 0", "0 100000", "1 2 3", "-5 100000"] {
            assert_eq!(parse_cpu_max(bad), Err(Garbled), "{bad:?}");
        }
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory_limit("max\n"), Ok(None));
        assert_eq!(parse_memory_limit("9223372036854771712\n"), Ok(None));
        assert_eq!(parse_memory_limit("536870912\n"), Ok(Some(536_870_912)));
        assert_eq!(parse_memory_limit("lots"), Err(Garbled));
    }
}
