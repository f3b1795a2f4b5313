//! A shard job as GitHub's runner runs it: `action/main.sh` with `PP_COMMAND=run`, the shard
//! from `PARALLEL_PYTEST_SHARD`, a step summary and an output file. Its log is read as the
//! runner reads it: a line starting with `::` (or `##[`) is a workflow command, except between
//! `::stop-commands::<token>` and `::<token>::`.

use std::path::Path;
use std::process::{Command, Output};

use parallel_pytest::env_vars;

use crate::harness::{bin, fixture_copy, python, repo_root};

/// Runs `action/main.sh` for shard `shard` in `dir`; returns the output and the step summary.
fn shard_job(dir: &Path, shard: &str) -> (Output, String) {
    let summary = dir.join(format!("summary-{}.md", shard.replace('/', "-of-")));
    let outputs = dir.join("github_output");
    let temp = dir.join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    std::fs::write(&summary, "").unwrap();
    let mut cmd = Command::new("bash");
    for var in env_vars::ours::ALL.iter().chain(env_vars::ci::ALL) {
        cmd.env_remove(var);
    }
    cmd.arg(repo_root().join("action/main.sh"))
        .current_dir(dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTION_PATH", repo_root())
        .env("GITHUB_WORKSPACE", dir)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("RUNNER_TEMP", &temp)
        .env("PP_BIN", bin())
        .env("PP_COMMAND", "run")
        .env("PARALLEL_PYTEST_SHARD", shard)
        .env("PARALLEL_PYTEST_PYTHON", python())
        .env("NO_COLOR", "1");
    let out = cmd.output().expect("run bash");
    (out, std::fs::read_to_string(&summary).unwrap())
}

/// The workflow commands the runner would execute from this log, in order.
pub fn live_commands(log: &str) -> Vec<String> {
    let mut live = Vec::new();
    let mut stopped: Option<String> = None;
    for line in log.lines() {
        let line = line.trim_start();
        if let Some(token) = &stopped {
            if line.trim_end() == format!("::{token}::") {
                stopped = None;
            }
            continue;
        }
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            stopped = Some(token.trim_end().to_owned());
            live.push("::stop-commands::".to_owned());
        } else if line.starts_with("::") || line.starts_with("##[") {
            live.push(line.to_owned());
        }
    }
    live
}

fn log(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_log_parser_reads_commands_as_the_runner_does() {
    let log = "::error::a\nplain\n::stop-commands::t0k\n::error::inert\n::other::\n::t0k::\n  ::warning::b\n";
    assert_eq!(
        live_commands(log),
        ["::error::a", "::stop-commands::", "::warning::b"]
    );
}

#[test]
fn green_shards_of_three_are_green_and_say_nothing_in_red() {
    let dir = fixture_copy("shard-jobs");
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let (out, summary) = shard_job(dir.path(), &shard);
        let log = log(&out);
        assert_eq!(out.status.code(), Some(0), "shard {shard}:\n{log}");
        let errors: Vec<String> = live_commands(&log)
            .into_iter()
            .filter(|c| c.starts_with("::error") || c.starts_with("##[error"))
            .collect();
        assert!(errors.is_empty(), "shard {shard}: {errors:?}\n{log}");
        assert!(
            !summary.contains("did not report") && !summary.contains("were expected"),
            "shard {shard}:\n{summary}"
        );
        assert!(summary.contains(&format!("shard {shard}")), "{summary}");
        assert!(summary.contains("passed"), "{summary}");
    }
}

#[test]
fn test_output_issues_no_workflow_command() {
    let dir = fixture_copy("workflow-commands");
    let (out, _) = shard_job(dir.path(), "1/1");
    let log = log(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("::error title=x::y"),
        "the test printed it: {log}"
    );
    // Only what we print: the fence itself, and our own escaped annotations after it.
    for c in live_commands(&log) {
        assert!(
            c == "::stop-commands::"
                || c.contains("title=tests/test_speak.py")
                || c.starts_with("::error title=parallel-pytest")
                || c.starts_with("::error file="),
            "a live command not ours: {c}\n{log}"
        );
        assert!(
            !c.contains("add-mask") && !c.contains("title=x"),
            "{c}\n{log}"
        );
    }
}
