//! Resource advice in words: the sentences `run` prints and `report` shows for the
//! [`Advice`] a shard's manifest carries as data.

use crate::host::usage::Advice;
use crate::host::usage::advice::WAITING_UTILISATION;

/// The sentence for one piece of advice, as `run` prints it and the report shows it.
pub(crate) fn line(advice: &Advice) -> String {
    match advice {
        Advice::MemoryBound {
            peak_rss_bytes,
            limit_bytes,
            workers,
            suggested_workers,
        } => format!(
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
        } => format!(
            "CPU-starved: {workers} workers kept {} busy {:.0}% of the time; more workers \
             will not help, more shards or CPUs will",
            cpus_words(*cpus),
            100.0 * busy_share.min(1.0),
        ),
        Advice::WaitedForCpu { wait_share } => format!(
            "CPU-starved: the workers waited for a CPU {:.0}% of the time (the machine was \
             busy with more than these workers); more workers will not help, fewer workers \
             or more CPUs or shards will",
            100.0 * wait_share.min(1.0),
        ),
        Advice::MostlyWaiting {
            utilisation,
            memory_bound,
        } => format!(
            "mostly waiting: CPU utilisation {:.0}% (below {:.0}%): the tests wait on \
             sleep, I/O or the network{}",
            100.0 * utilisation,
            100.0 * WAITING_UTILISATION,
            if *memory_bound {
                "; memory, not CPU, limits the worker count"
            } else {
                ", so more workers may help"
            }
        ),
        Advice::Text { text } => text.clone(),
    }
}

/// `2 CPUs`, `1 CPU`, `1.5 CPUs` (a cgroup quota).
fn cpus_words(cpus: f64) -> String {
    if (cpus - cpus.round()).abs() < 1e-9 {
        let n = cpus.round() as u64;
        crate::text::count(n, "CPU", "CPUs")
    } else {
        format!("{cpus:.1} CPUs")
    }
}

/// Bytes for people: `512 MiB`, `1.5 GiB`.
pub(crate) fn format_bytes(bytes: u64) -> String {
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
    use crate::host::usage::advice::{AdviceInputs, advise};

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(300 * 1024 * 1024), "300 MiB");
        assert_eq!(format_bytes(gib(1.5)), "1.5 GiB");
    }

    fn gib(n: f64) -> u64 {
        (n * 1024.0 * 1024.0 * 1024.0) as u64
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
            line(&advice[0]),
            "memory-bound: peak memory 3.5 GiB is 88% of the 4.0 GiB limit; use fewer workers \
             (3 instead of 4) or more shards"
        );
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
            line(&advice[0]),
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
            advice.iter().map(line).collect::<Vec<_>>(),
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
        assert!(line(&advice[1]).ends_with("memory, not CPU, limits the worker count"));
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
            line(&advice[0])
                .starts_with("CPU-starved: the workers waited for a CPU 40% of the time")
        );
    }
}
