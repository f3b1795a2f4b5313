//! Thread-pool limits for the tests' numeric libraries.
//!
//! BLAS (OpenBLAS, MKL, Accelerate), OpenMP and numexpr each start a pool as wide as the
//! machine in every process. Under `W` xdist workers that is `W` pools on the same CPUs, and
//! numeric tests slow down instead of speeding up (networkx's layout and linear-algebra tests:
//! 12.2 s under `-n 2`, 6.9 s with one thread per pool). With `W > 1`, `run` gives each worker
//! its share of the CPUs, unless the user set the variable (theirs win) or turned this off.

/// The variables the common numeric libraries read for their pool sizes.
pub const THREAD_VARS: [&str; 5] = [
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
];

/// `(variable, value)` for each thread variable the user has not set: `max(1, cpus / workers)`.
/// Nothing with one worker (one pool has the machine to itself).
pub fn limits(
    workers: u32,
    effective_cpus: u32,
    user_set: &dyn Fn(&str) -> bool,
) -> Vec<(String, String)> {
    if workers <= 1 {
        return Vec::new();
    }
    let per_worker = (effective_cpus / workers).max(1).to_string();
    THREAD_VARS
        .iter()
        .filter(|v| !user_set(v))
        .map(|v| ((*v).to_owned(), per_worker.clone()))
        .collect()
}

/// [`limits`] for this machine and this process's environment; empty when `enabled` is false.
pub fn for_this_machine(workers: u32, enabled: bool) -> Vec<(String, String)> {
    if !enabled || workers <= 1 {
        return Vec::new();
    }
    let cpus = crate::host::detect().cpus.effective;
    limits(workers, cpus, &|v| std::env::var_os(v).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_gets_its_share_and_the_users_values_win() {
        assert!(limits(1, 8, &|_| false).is_empty());
        let l = limits(2, 8, &|_| false);
        assert_eq!(l.len(), 5);
        assert!(l.iter().all(|(_, v)| v == "4"));
        // More workers than CPUs: one thread each, never zero.
        assert!(limits(4, 2, &|_| false).iter().all(|(_, v)| v == "1"));
        let l = limits(2, 8, &|v| v == "OMP_NUM_THREADS");
        assert!(l.iter().all(|(k, _)| k != "OMP_NUM_THREADS"));
        assert_eq!(l.len(), 4);
    }
}
