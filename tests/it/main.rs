//! One integration-test binary (STYLE.md §9); a module per command or platform.
//!
//! Two tiers. A plain `cargo test` runs the fast tier: the real binary against real pytest
//! (the pinned venvs, which the harness bootstraps on first use). The `e2e` feature adds the
//! end-to-end runs and linters that need the whole tool set (`scripts/test.sh` turns it on).

#[cfg(feature = "e2e")]
mod act;
#[cfg(feature = "e2e")]
mod action;
mod artifact_api;
mod cli;
mod cli_snapshots;
mod collect;
mod compare;
mod coverage;
mod env;
mod filter_plan;
mod fixed_costs;
mod fixtures;
mod github;
mod gitlab;
mod gitlab_component;
#[cfg(feature = "e2e")]
mod gitlab_e2e;
mod harness;
mod history;
mod isolation;
mod measure;
mod mock_http;
mod parity;
mod plan;
mod processes;
mod quarantine;
mod readme;
mod report;
mod report_corpus;
mod report_security;
mod run;
mod selection;
mod shard_job;
#[cfg(feature = "e2e")]
mod wheel;
mod workflow;
