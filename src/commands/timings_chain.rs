//! The timings fallback chain of `plan` and `run`: never plan blind when some earlier run's
//! timings can be had.
//!
//! Tried in order, each only when what came before gave nothing or times fewer than half of
//! the planned tests ([`GOOD_ENOUGH`]):
//! 1. `local`: the `--timings` sources, else the default store (what the CI cache restored);
//!    shown as `base-store` when its recorded provenance names another branch than this job's
//!    (GitLab's cache `fallback_keys` restore the default branch's store in the same place);
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
use crate::timings::{DEFAULT_STORE, Provenance, RunOrigin, TEST_DURATIONS, store};

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
    if provenance.kind != "estimates" {
        let files: Vec<PathBuf> = match &provenance.path {
            Some(p) if provenance.kind != "local" => vec![PathBuf::from(p)],
            _ => planned.timings_sources.clone(),
        };
        let info = run_info(&provenance.kind, &files);
        let this_ref = RunOrigin::from_env(|k| std::env::var(k).ok(), chrono::Utc::now())
            .and_then(|o| o.reference);
        if provenance.kind == "local"
            && info
                .as_ref()
                .is_some_and(|i| from_another_branch(&i.reference, this_ref.as_deref()))
        {
            // The cache gave another branch's store (GitLab's `fallback_keys`, a restore key):
            // it is the base branch's, not this branch's own.
            provenance.kind = "base-store".into();
        }
        provenance.run = info.and_then(|info| serde_json::to_value(info).ok());
    }
    for w in warnings {
        eprintln!("warning: {}", escape::terminal(&w));
    }
    planned.plan.timings_source = Some(provenance);
    Ok(planned)
}

/// Whether a store recorded on `stored` was written for another branch than this job's
/// (`None`: not in CI, nothing to compare).
fn from_another_branch(stored: &str, this_ref: Option<&str>) -> bool {
    this_ref.is_some_and(|r| !stored.is_empty() && stored != r)
}

/// Which run the chosen timings came from: for an artifact, what the API said (`<store>
/// .source.json`) filled in from the store's own provenance (all GitLab's raw endpoint gives
/// is the file); for a cache or committed store, its provenance alone (the last source that
/// has one: later sources win). Both are files of other runs, so both are vetted.
fn run_info(kind: &str, files: &[PathBuf]) -> Option<history::SourceInfo> {
    let origin = files
        .iter()
        .rev()
        .find_map(|p| store::provenance_of(p))
        .filter(|o| !o.is_empty());
    let api = if kind == "artifact" {
        files
            .first()
            .and_then(|p| std::fs::read(source_path(p)).ok())
            .and_then(|b| serde_json::from_slice::<history::SourceInfo>(&b).ok())
            .and_then(history::SourceInfo::checked)
    } else {
        None
    };
    match (api, origin) {
        (Some(api), Some(o)) => Some(api.filled_from(&o)),
        (Some(api), None) => Some(api),
        (None, Some(o)) => Some(history::SourceInfo::from_origin(&o)),
        (None, None) => None,
    }
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
        && let Some(info) = info.checked()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(kind: &str, run: serde_json::Value) -> Provenance {
        Provenance {
            kind: kind.into(),
            path: None,
            timed_percent: 96.0,
            run: Some(run),
        }
    }

    #[test]
    fn another_branchs_store() {
        assert!(from_another_branch("main", Some("feature")));
        assert!(!from_another_branch("feature", Some("feature")));
        assert!(!from_another_branch("", Some("feature")));
        assert!(!from_another_branch("main", None));
    }

    #[test]
    fn describe_names_pipeline_job_commit_and_date() {
        let p = source(
            "local",
            json!({"platform": "GitLab", "ref": "main", "run_id": 12, "job_id": 34,
                   "commit": "0123456789abcdef", "date": "2026-12-03T09:41:07Z"}),
        );
        assert_eq!(
            describe(&p),
            "timings source: local (GitLab `main` pipeline 12 job 34 commit 0123456789ab of 2026-12-03T09:41:07Z), 96% of planned tests timed"
        );
        let gh = source(
            "artifact",
            json!({"platform": "GitHub", "ref": "main", "run_id": 7}),
        );
        assert!(describe(&gh).contains("(GitHub `main` run 7)"));
    }

    #[test]
    fn describe_drops_what_fails_its_check() {
        let p = source(
            "artifact",
            json!({"platform": "GitLab", "ref": "main\u{1b}]0;pwned\u{7}", "commit": "zz",
                   "date": "<b>now</b>", "run_id": 5, "url": "javascript:alert(1)"}),
        );
        assert_eq!(
            describe(&p),
            "timings source: artifact (GitLab pipeline 5), 96% of planned tests timed"
        );
        let unknown = source("artifact", json!({"platform": "Evil", "run_id": 5}));
        assert_eq!(
            describe(&unknown),
            "timings source: artifact, 96% of planned tests timed"
        );
    }

    #[test]
    fn run_info_fills_the_api_gaps_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("fetched.json");
        std::fs::write(
            &store,
            json!({"format": "parallel-pytest-timings", "version": 2, "tests": {},
                   "provenance": {"platform": "GitLab", "run_id": 88, "job_id": 99,
                                  "commit": "abcdef0123456", "ref": "main",
                                  "date": "2026-12-01T00:00:00Z"}})
            .to_string(),
        )
        .unwrap();
        // GitLab's raw endpoint says only platform and ref.
        std::fs::write(
            source_path(&store),
            json!({"platform": "GitLab", "ref": "main"}).to_string(),
        )
        .unwrap();
        let info = run_info("artifact", std::slice::from_ref(&store)).unwrap();
        assert_eq!(info.run_id, Some(88));
        assert_eq!(info.job_id, Some(99));
        assert_eq!(info.commit.as_deref(), Some("abcdef0123456"));
        // A cached store: its provenance alone; the API's file is not looked at.
        let info = run_info("local", std::slice::from_ref(&store)).unwrap();
        assert_eq!(info.reference, "main");
        // The API named another run: its values stand, the store's are not mixed in.
        std::fs::write(
            source_path(&store),
            json!({"platform": "GitLab", "ref": "main", "run_id": 1}).to_string(),
        )
        .unwrap();
        let info = run_info("artifact", std::slice::from_ref(&store)).unwrap();
        assert_eq!(
            (info.run_id, info.job_id, info.commit),
            (Some(1), None, None)
        );
    }
}
