//! Exact figures from the kernel once pytest has exited: `getrusage(RUSAGE_CHILDREN)` counts
//! every descendant this process (or a descendant) has reaped, so the difference across one
//! phase is the CPU time of that phase's whole tree, however short it was. The sampler still
//! gives per-worker peaks, which the kernel does not.

use super::ResourceUsage;

/// Cumulative use of the reaped descendants of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reaped {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// The largest resident set of any one reaped process, in bytes.
    pub max_rss_bytes: u64,
}

/// What the kernel says now; `None` where it cannot say.
#[cfg(unix)]
pub fn reaped() -> Option<Reaped> {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    let max_rss = u64::try_from(usage.max_rss()).unwrap_or(0);
    Some(Reaped {
        cpu_seconds: micros as f64 / 1e6,
        // macOS counts bytes, Linux and the BSDs kibibytes.
        max_rss_bytes: if cfg!(target_os = "macos") {
            max_rss
        } else {
            max_rss.saturating_mul(1024)
        },
    })
}

#[cfg(not(unix))]
pub fn reaped() -> Option<Reaped> {
    None
}

impl ResourceUsage {
    /// The phase's CPU seconds from the kernel (what was reaped between `before` and `after`),
    /// and its peak raised to the largest single process when that process belongs to this
    /// phase (the kernel's maximum grew during it). Without both figures, the sample stands.
    pub fn with_reaped(mut self, before: Option<Reaped>, after: Option<Reaped>) -> Self {
        let (Some(before), Some(after)) = (before, after) else {
            return self;
        };
        self.measured = true;
        self.exact = true;
        self.cpu_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
        if after.max_rss_bytes > before.max_rss_bytes {
            self.peak_rss_bytes = self.peak_rss_bytes.max(after.max_rss_bytes);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_gets_the_difference_and_its_own_peak() {
        let before = Reaped {
            cpu_seconds: 1.5,
            max_rss_bytes: 900,
        };
        let sampled = ResourceUsage {
            measured: true,
            samples: 1,
            cpu_seconds: 0.0,
            peak_rss_bytes: 100,
            ..ResourceUsage::default()
        };
        let after = Reaped {
            cpu_seconds: 4.0,
            max_rss_bytes: 900,
        };
        let usage = sampled.clone().with_reaped(Some(before), Some(after));
        assert_eq!((usage.cpu_seconds, usage.peak_rss_bytes), (2.5, 100));
        let grew = Reaped {
            max_rss_bytes: 2000,
            ..after
        };
        let usage = sampled.clone().with_reaped(Some(before), Some(grew));
        assert_eq!(usage.peak_rss_bytes, 2000);
        assert!(usage.exact);
        assert_eq!(sampled.clone().with_reaped(None, Some(after)), sampled);
    }

    #[cfg(unix)]
    #[test]
    fn a_reaped_child_counts() {
        let before = reaped().unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let after = reaped().unwrap();
        assert!(
            after.cpu_seconds > before.cpu_seconds,
            "{before:?} {after:?}"
        );
        assert!(after.max_rss_bytes > 0);
    }
}
