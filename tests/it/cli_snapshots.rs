//! Snapshots of what people read first: `--help` of the binary and of every command, and the
//! main error messages with their exit codes. A change to a flag, a help line or an error's
//! wording shows up as a reviewable snapshot diff (`cargo insta review`).

use std::path::Path;

use crate::harness::Cmd;

/// Stable text: the temp dir and the crate version replaced by placeholders.
fn redact(text: &str, temp: Option<&Path>) -> String {
    let mut text = text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]");
    if let Some(dir) = temp {
        text = text.replace(&dir.display().to_string(), "[TEMP]");
    }
    text
}

/// Exit code and stderr of a command that must fail, with stdout empty.
fn failure(cmd: Cmd, temp: Option<&Path>) -> String {
    let out = cmd.output();
    assert!(out.stdout.is_empty(), "data on stdout for an error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    format!("exit: {:?}\n{}", out.status.code(), redact(&stderr, temp))
}

/// `--help` at clap's fallback width: no terminal on any standard stream, `COLUMNS` unset.
fn help(args: &[&str]) -> String {
    let mut cmd = Cmd::new().args(args).arg("--help").into_command();
    let out = cmd
        .env_remove("COLUMNS")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn parallel-pytest");
    assert!(out.status.success(), "{out:?}");
    redact(&String::from_utf8_lossy(&out.stdout), None)
}

#[test]
fn help_of_the_binary_and_every_command() {
    insta::assert_snapshot!("help", help(&[]));
    for command in ["env", "plan", "run", "report", "fetch-timings"] {
        insta::assert_snapshot!(format!("help_{command}"), help(&[command]));
    }
}

#[test]
fn shard_zero_as_a_flag() {
    insta::assert_snapshot!(failure(Cmd::new().args(["env", "--shard", "0/3"]), None));
}

#[test]
fn shard_zero_in_the_variable() {
    insta::assert_snapshot!(failure(
        Cmd::new().arg("env").env("PARALLEL_PYTEST_SHARD", "0/3"),
        None
    ));
}

#[test]
fn unknown_flag() {
    insta::assert_snapshot!(failure(Cmd::new().args(["env", "--bogus"]), None));
}

#[test]
fn root_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.txt");
    std::fs::write(&file, "").unwrap();
    insta::assert_snapshot!(failure(
        Cmd::new().arg("--root").arg(&file).arg("env"),
        Some(dir.path())
    ));
}

#[test]
fn unknown_pyproject_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.parallel-pytest]\nwrokers = 3\n",
    )
    .unwrap();
    insta::assert_snapshot!(failure(
        Cmd::new().arg("--root").arg(dir.path()).arg("env"),
        Some(dir.path())
    ));
}

#[test]
fn bad_workers_flag_and_variable() {
    insta::assert_snapshot!(
        "bad_workers_flag",
        failure(Cmd::new().args(["env", "--workers", "0"]), None)
    );
    insta::assert_snapshot!(
        "bad_workers_variable",
        failure(
            Cmd::new().arg("env").env("PARALLEL_PYTEST_WORKERS", "many"),
            None
        )
    );
}
