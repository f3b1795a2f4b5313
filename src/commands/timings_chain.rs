//! The timings fallback chain of `plan` and `run`: never plan blind when some earlier run's
//! timings can be had.
//!
//! Tried in order, each only when what came before gave nothing or times fewer than half of
//! the planned tests ([`GOOD_ENOUGH`]):
//! 1. `local`: the `--timings` sources, else the default store (what the CI cache restored);
//! 2. `base-store`: `.parallel-pytest/base-timings.json`, the base branch's store the action
//!    restores from the cache beside this branch's;
//! 3. `artifact`: the store in the report artifact of the latest successful run on the default
//!    branch, through the CI API ([`history::fetch_report_file_or_why`]);
//! 4. `committed`: a `.test_durations` (or store) committed in the repository;
//! 5. `estimates`: the best of the above, else test counts.
//!
//! Bounded in time (the whole chain), and never a failure: each step that cannot be used is a
//! warning with its reason, and the next is tried. `run` on every shard computes the same
//! chain; GitHub and GitLab see the same latest run unless one finishes between shard jobs,
//! which the report's fingerprint check then names (plan once with `plan --format json` and
//! `run --plan` to rule that out).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::Error;
use crate::plan::{self, Planned, ShardCount};
use crate::publish::history::{self, Platform};
use crate::report::escape;
use crate::settings::plan::PlanInputsSettings;
use crate::timings::{DEFAULT_STORE, Provenance, TEST_DURATIONS};

/// Below this share of planned tests timed, the next source is tried.
pub const GOOD_ENOUGH: f64 = 0.5;
/// Where the action restores the base branch's store.
pub const BASE_STORE: &str = ".parallel-pytest/base-timings.json";
/// Where a fetched store is written (by `fetch-timings`, or by the chain itself when this
/// process may ask the API), under the root.
pub const PREFETCHED_STORE: &str = ".parallel-pytest/fetched-timings.json";

/// `<store>.source.json`: which run a fetched store came from.
pub fn source_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".source.json");
    PathBuf::from(name)
}

/// One candidate plan and where its timings came from.
struct Candidate {
    planned: Planned,
    provenance: Provenance,
}

fn coverage(planned: &Planned) -> f64 {
    planned.estimate.coverage()
}

fn provenance(kind: &str, path: Option<&Path>, planned: &Planned) -> Provenance {
    Provenance {
        kind: kind.to_owned(),
        path: path.map(|p| p.display().to_string()),
        timed_percent: (coverage(planned) * 1000.0).round() / 10.0,
        run: None,
    }
}

/// Plans with the first good-enough timings source; prints the warnings of the steps it
/// passed over (stderr) and records the source in `timings_source`, which the caller shows
/// ([`describe`]).
pub fn build(
    inputs: &PlanInputsSettings,
    shards: ShardCount,
    workers: u32,
    cost_table: Option<plan::TableRequest>,
) -> Result<Planned, Error> {
    let started = Instant::now();
    let mut warnings: Vec<String> = Vec::new();
    let first = plan::build_with_costs(&inputs.plan, shards, workers, cost_table)?;
    let kind = if first.timings_sources.is_empty() {
        "estimates"
    } else {
        "local"
    };
    let path = first.timings_sources.first().cloned();
    let first = Candidate {
        provenance: provenance(kind, path.as_deref(), &first),
        planned: first,
    };
    let mut best = first;
    let root = &inputs.plan.invocation_dir;
    let good =
        |c: &Candidate| c.provenance.kind != "estimates" && coverage(&c.planned) >= GOOD_ENOUGH;
    if !good(&best) {
        let used: Vec<PathBuf> = best.planned.timings_sources.clone();
        let try_file =
            |kind: &str, path: PathBuf, best: &mut Candidate, warnings: &mut Vec<String>| {
                if !path.is_file() || used.contains(&path) {
                    return;
                }
                let mut req = inputs.plan.clone();
                req.timings = vec![path.display().to_string()];
                req.timings_base = root.clone();
                match plan::build_with_costs(&req, shards, workers, cost_table) {
                    Ok(p) => {
                        if coverage(&p) > coverage(&best.planned)
                            || best.provenance.kind == "estimates"
                        {
                            *best = Candidate {
                                provenance: provenance(kind, Some(&path), &p),
                                planned: p,
                            };
                        }
                    }
                    Err(e) => warnings.push(format!("timings: `{}` not used: {e}", path.display())),
                }
            };
        try_file(
            "base-store",
            root.join(BASE_STORE),
            &mut best,
            &mut warnings,
        );
        if !good(&best)
            && let Some(limit) = inputs.timings_fetch
        {
            let fetched = root.join(PREFETCHED_STORE);
            // Fetched by `fetch-timings` (the action's own step, which holds the token), else
            // here when this job may ask the API itself.
            let ready = fetched.is_file() || {
                let left = limit.saturating_sub(started.elapsed());
                match fetch_store(root, &fetched, left) {
                    Ok(()) => true,
                    Err(Some(why)) => {
                        warnings.push(format!(
                            "timings: no store from an earlier run's artifact: {why}"
                        ));
                        false
                    }
                    Err(None) => false,
                }
            };
            if ready {
                try_file("artifact", fetched.clone(), &mut best, &mut warnings);
                if best.provenance.kind == "artifact" {
                    best.provenance.run = std::fs::read(source_path(&fetched))
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                }
            }
        }
        if !good(&best) {
            try_file(
                "committed",
                root.join(TEST_DURATIONS),
                &mut best,
                &mut warnings,
            );
            try_file(
                "committed",
                root.join(DEFAULT_STORE),
                &mut best,
                &mut warnings,
            );
        }
    }
    let mut planned = best.planned;
    let mut provenance = best.provenance;
    if provenance.kind != "estimates" && coverage(&planned) == 0.0 {
        provenance.kind = "estimates".into();
    }
    for w in warnings {
        eprintln!("warning: {}", escape::terminal(&w));
    }
    planned.plan.timings_source = Some(provenance);
    Ok(planned)
}

/// Whether the source is worth a line of its own where the output is for machines: the chain
/// went beyond the local timings.
pub fn came_from_elsewhere(p: &Provenance) -> bool {
    !matches!(p.kind.as_str(), "local" | "estimates")
}

/// `timings source: artifact `…` (GitHub `main` run 42 …), 96.0% of planned tests timed`.
pub fn describe(p: &Provenance) -> String {
    let mut out = format!("timings source: {}", p.kind);
    if let Some(path) = &p.path {
        out.push_str(&format!(" `{path}`"));
    }
    if let Some(run) = &p.run
        && let Ok(info) = serde_json::from_value::<history::SourceInfo>(run.clone())
    {
        out.push_str(&format!(" ({info})"));
    }
    out.push_str(&format!(", {}% of planned tests timed", p.timed_percent));
    if p.timed_percent < GOOD_ENOUGH * 100.0 {
        out.push_str(" (below 50%: tests without timings are estimated)");
    }
    out
}

/// The default branch's store from the CI API, written to `path` with its source beside it.
/// `Err(None)`: not on a CI platform we can ask, or no token in this process (nothing to say:
/// on GitHub the action fetches in a step of its own).
fn fetch_store(root: &Path, path: &Path, limit: std::time::Duration) -> Result<(), Option<String>> {
    let Some(platform) = Platform::from_env(|k| std::env::var(k).ok(), root) else {
        return Err(None);
    };
    if let Platform::Github(g) = &platform
        && g.token.is_none()
    {
        return Err(None);
    }
    let Some(branch) = platform.default_branch().map(str::to_owned) else {
        return Err(Some(format!(
            "{} does not name the default branch in this job",
            platform.name()
        )));
    };
    if limit.is_zero() {
        return Err(Some("no time left (`--timings-fetch-timeout`)".into()));
    }
    let (bytes, info) =
        history::fetch_report_file_or_why(&platform, &branch, history::STORE_FILE, limit)
            .map_err(|e| Some(e.to_string()))?;
    let source = serde_json::to_vec_pretty(&info).map_err(|e| Some(e.to_string()))?;
    path.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, &bytes))
        .and_then(|()| std::fs::write(source_path(path), source))
        .map_err(|e| Some(format!("cannot write `{}`: {e}", path.display())))
}
