//! Advice drawn from one shard's measurements, as data (a kind and its numbers): the shard
//! manifest stores it, and `report::advice` turns it into sentences where it is shown.

use serde::{Deserialize, Deserializer, Serialize};

use super::utilisation;

/// Peak memory above this share of the limit makes a shard "memory-bound".
const MEMORY_BOUND_SHARE: f64 = 0.8;
/// Utilisation below this means workers mostly waited (sleep, I/O, network).
pub const WAITING_UTILISATION: f64 = 0.6;
/// All available CPUs busy at least this share of the wall time: CPU-starved when the workers
/// outnumber the CPUs.
const CPU_SATURATED_SHARE: f64 = 0.85;
/// Workers that spent at least this share of their wall time waiting for a CPU were starved,
/// whatever else was running on the machine (neighbour jobs, a noisy host).
pub const CPU_WAIT_SHARE: f64 = 0.25;

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

/// One piece of advice: what was found and the numbers behind it. Stored in the manifest as
/// `{"kind": "memory-bound", ...}`; `report::advice::line` gives the sentence people read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
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
    /// A finished sentence from a manifest written before advice was data (version 1).
    Text { text: String },
}

/// Reads the manifest's advice list: data, or the sentences older versions stored.
pub(crate) fn de_advice_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Advice>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Data(Advice),
        Text(String),
    }
    let entries = Vec::<Entry>::deserialize(d)?;
    Ok(entries
        .into_iter()
        .map(|e| match e {
            Entry::Data(a) => a,
            Entry::Text(text) => Advice::Text { text },
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gib(n: f64) -> u64 {
        (n * 1024.0 * 1024.0 * 1024.0) as u64
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
    fn nothing_to_say_about_a_run_that_did_not_happen() {
        assert_eq!(advise(&AdviceInputs::default()), vec![]);
    }

    #[test]
    fn advice_is_stored_as_kind_and_numbers_and_old_sentences_still_read() {
        let a = Advice::WaitedForCpu { wait_share: 0.4 };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"kind":"waited-for-cpu","wait_share":0.4}"#);
        #[derive(Deserialize)]
        struct List(#[serde(deserialize_with = "de_advice_list")] Vec<Advice>);
        let List(read) =
            serde_json::from_str(&format!(r#"[{json}, "memory-bound: old words"]"#)).unwrap();
        assert_eq!(
            read,
            vec![
                a,
                Advice::Text {
                    text: "memory-bound: old words".into()
                }
            ]
        );
    }
}
