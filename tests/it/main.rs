//! One integration-test binary (STYLE.md §9); a module per command or platform.

mod act;
mod action;
mod cli;
mod collect;
mod env;
mod github;
mod gitlab;
mod gitlab_e2e;
mod harness;
mod isolation;
mod mock_http;
mod plan;
mod readme;
mod report;
mod report_corpus;
mod report_security;
mod run;
mod wheel;
mod workflow;
