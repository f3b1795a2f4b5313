//! `parallel-pytest env`: CI detection, bad input, this machine's CPUs, the real venv Python.

use serde_json::Value;

use crate::harness::{Cmd, python, python7, repo_root};

/// Run a `Cmd::env_json()` command and parse its stdout.
fn env_json(cmd: Cmd) -> Value {
    let (out, _) = cmd.expect_code(0);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// A usage error: exit 2, one line on stderr (no panic, no backtrace) containing every needle.
trait EnvJson {
    fn env_json() -> Cmd;
}

impl EnvJson for Cmd {
    fn env_json() -> Cmd {
        Cmd::new().args(["env", "--format", "json"])
    }
}

fn usage_error(cmd: Cmd, needles: &[&str]) {
    let (out, err) = cmd.expect_code(2);
    assert_eq!(out, "", "nothing on stdout");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines[0].starts_with("error: "), "{err}");
    for needle in needles {
        assert!(lines[0].contains(needle), "`{needle}` in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// The pinned version of `package` in a requirements file of the repo.
fn pinned(file: &str, package: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("requirements").join(file)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{package}==")))
        .unwrap_or_else(|| panic!("{package} pinned in {file}"))
        .trim()
        .to_owned()
}

#[test]
fn gitlab_parallel_job() {
    let json = env_json(
        Cmd::env_json()
            .env("GITLAB_CI", "true")
            .env("CI_NODE_INDEX", "2")
            .env("CI_NODE_TOTAL", "3"),
    );
    assert_eq!(json["provider"], "gitlab");
    assert_eq!(json["shard"]["index"], 2);
    assert_eq!(json["shard"]["total"], 3);
    assert_eq!(json["shard"]["source"], "CI_NODE_INDEX/CI_NODE_TOTAL");
}

#[test]
fn circleci_is_zero_based() {
    let json = env_json(
        Cmd::env_json()
            .env("CIRCLECI", "true")
            .env("CIRCLE_NODE_INDEX", "0")
            .env("CIRCLE_NODE_TOTAL", "4"),
    );
    assert_eq!(json["provider"], "circleci");
    assert_eq!(json["shard"]["index"], 1);
    assert_eq!(json["shard"]["total"], 4);
}

#[test]
fn gitea_before_github_and_job_index_pair() {
    let json = env_json(
        Cmd::env_json()
            .env("GITHUB_ACTIONS", "true")
            .env("GITEA_ACTIONS", "true")
            .env("PARALLEL_PYTEST_JOB_INDEX", "2")
            .env("PARALLEL_PYTEST_JOB_TOTAL", "3"),
    );
    assert_eq!(json["provider"], "gitea");
    assert_eq!(json["shard"]["index"], 3);
    assert_eq!(
        json["shard"]["source"],
        "PARALLEL_PYTEST_JOB_INDEX/PARALLEL_PYTEST_JOB_TOTAL"
    );
}

#[test]
fn local_without_ci_and_flag_wins() {
    let json = env_json(Cmd::env_json());
    assert_eq!(json["provider"], "local");
    assert_eq!(json["shard"], Value::Null);
    let json = env_json(
        Cmd::env_json()
            .env("PARALLEL_PYTEST_SHARD", "1/2")
            .args(["--shard", "3/5"]),
    );
    assert_eq!(json["shard"]["index"], 3);
    assert_eq!(json["shard"]["source"], "--shard");
    let json = env_json(Cmd::env_json().env("PARALLEL_PYTEST_SHARD", "1/2"));
    assert_eq!(json["shard"]["source"], "PARALLEL_PYTEST_SHARD");
}

#[test]
fn bad_shards_exit_2_naming_the_culprit() {
    usage_error(
        Cmd::new().env("PARALLEL_PYTEST_SHARD", "5/4").arg("env"),
        &["PARALLEL_PYTEST_SHARD", "5/4"],
    );
    for bad in ["0/3", "4/3", "a/b"] {
        usage_error(Cmd::new().args(["env", "--shard", bad]), &["--shard", bad]);
    }
    usage_error(
        Cmd::new()
            .env("GITLAB_CI", "true")
            .env("CI_NODE_INDEX", "2")
            .arg("env"),
        &["CI_NODE_INDEX", "CI_NODE_TOTAL"],
    );
    usage_error(
        Cmd::new()
            .env("CIRCLECI", "true")
            .env("CIRCLE_NODE_INDEX", "-1")
            .env("CIRCLE_NODE_TOTAL", "4")
            .arg("env"),
        &["CIRCLE_NODE_INDEX", "-1"],
    );
    usage_error(
        Cmd::new()
            .env("BUILDKITE", "true")
            .env("BUILDKITE_PARALLEL_JOB", "1")
            .env("BUILDKITE_PARALLEL_JOB_COUNT", "two")
            .arg("env"),
        &["BUILDKITE_PARALLEL_JOB_COUNT", "two"],
    );
}

#[test]
fn bad_env_values_name_the_variable() {
    usage_error(
        Cmd::new().env("PARALLEL_PYTEST_WORKERS", "0").arg("env"),
        &["PARALLEL_PYTEST_WORKERS", "`0`"],
    );
    usage_error(
        Cmd::new()
            .env("PARALLEL_PYTEST_MEMORY_PER_WORKER", "lots")
            .arg("env"),
        &["PARALLEL_PYTEST_MEMORY_PER_WORKER", "lots"],
    );
    usage_error(
        Cmd::new().args(["--root", "/no/such/dir", "env"]),
        &["--root", "/no/such/dir"],
    );
    usage_error(
        Cmd::new().args(["env", "--python", "/no/such/python"]),
        &["/no/such/python", "--python", "does not exist"],
    );
}

/// The machine the tests run on: effective CPUs agree with the standard library's own reading
/// of affinity and cgroup quota (both round a fractional quota down). On the project's build
/// machine that is 2.
#[test]
fn this_machine_cpus_and_memory() {
    let json = env_json(Cmd::env_json().args(["--python", python().to_str().unwrap()]));
    let expected = std::thread::available_parallelism().unwrap().get() as u64;
    eprintln!("cpus: {}", json["cpus"]);
    assert_eq!(json["cpus"]["effective"].as_u64(), Some(expected));
    assert!(json["cpus"]["online"].as_u64().unwrap() >= expected);
    if cfg!(target_os = "linux") {
        assert!(json["cpus"]["affinity"].as_u64().is_some());
        assert!(json["memory"]["available_bytes"].as_u64().unwrap() > 0);
    }
    assert!(json["workers"]["count"].as_u64().unwrap() >= 1);
    assert!(json["workers"]["reason"] == "cpu" || json["workers"]["reason"] == "memory");
}

#[test]
fn finds_the_venv_python_and_its_versions() {
    for (py, req) in [(python(), "pytest-latest.txt"), (python7(), "pytest-7.txt")] {
        let json = env_json(Cmd::env_json().args(["--python", py.to_str().unwrap()]));
        let exe = json["python"]["executable"].as_str().unwrap();
        // The venv's own interpreter, not the base one it links to.
        assert!(
            std::path::Path::new(exe).starts_with(py.parent().unwrap().parent().unwrap()),
            "{exe} in {}",
            py.display()
        );
        assert!(json["python"]["version"].as_str().unwrap().starts_with('3'));
        assert_eq!(json["python"]["pytest"], pinned(req, "pytest"));
        assert_eq!(json["python"]["xdist"], pinned(req, "pytest-xdist"));
    }
    // The same through the environment variable, in text form.
    let (out, _) = Cmd::new()
        .env("PARALLEL_PYTEST_PYTHON", python())
        .arg("env")
        .expect_code(0);
    assert!(
        out.contains(&format!(
            "pytest   {}",
            pinned("pytest-latest.txt", "pytest")
        )),
        "{out}"
    );
    for key in [
        "provider", "shard", "cpus", "memory", "workers", "python", "xdist",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(key)),
            "line `{key}` in:\n{out}"
        );
    }
}

/// Python without site-packages (`-S`): a real interpreter where pytest-xdist is missing.
#[cfg(unix)]
#[test]
fn missing_xdist_says_how_to_install_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("python-no-site");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec '{}' -S \"$@\"\n", python().display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (out, _) = Cmd::new()
        .args(["env", "--python", wrapper.to_str().unwrap()])
        .expect_code(0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("xdist") && l.contains("-m pip install pytest-xdist")),
        "{out}"
    );
    let json = env_json(Cmd::env_json().args(["--python", wrapper.to_str().unwrap()]));
    assert_eq!(json["python"]["xdist"], Value::Null);
}

#[test]
fn no_python_on_path_is_reported_not_fatal() {
    let empty = tempfile::tempdir().unwrap();
    let json = env_json(Cmd::env_json().env("PATH", empty.path()));
    assert_eq!(json["python"], Value::Null);
    assert!(
        json["python_error"].as_str().unwrap().contains("PATH"),
        "{json}"
    );
}

/// Precedence end to end: `--workers` > `PARALLEL_PYTEST_WORKERS` > pyproject.toml > auto.
#[test]
fn workers_precedence() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("pyproject.toml"),
        "[tool.parallel-pytest]\nworkers = 3\nmemory-per-worker = 128\n",
    )
    .unwrap();
    let run = |cmd: Cmd| {
        let json = env_json(cmd.current_dir(root.path()).env("PATH", ""));
        (
            json["workers"]["count"].as_u64().unwrap(),
            json["workers"]["reason"].as_str().unwrap().to_owned(),
            json["workers"]["memory_per_worker_mib"].as_u64().unwrap(),
        )
    };
    assert_eq!(run(Cmd::env_json()), (3, "forced".into(), 128));
    let json = env_json(Cmd::env_json().current_dir(root.path()).env("PATH", ""));
    assert_eq!(
        json["workers"]["detail"],
        "forced by `workers = 3` in `[tool.parallel-pytest]`"
    );
    assert_eq!(
        run(Cmd::env_json().env("PARALLEL_PYTEST_WORKERS", "4")),
        (4, "forced".into(), 128)
    );
    assert_eq!(
        run(Cmd::env_json()
            .env("PARALLEL_PYTEST_WORKERS", "4")
            .args(["--workers", "5"])),
        (5, "forced".into(), 128)
    );
    let (_, reason, _) = run(Cmd::env_json().env("PARALLEL_PYTEST_WORKERS", "auto"));
    assert_ne!(reason, "forced");
    // Without the config file: the built-in default budget.
    let json = env_json(Cmd::env_json().env("PATH", ""));
    assert_eq!(json["workers"]["memory_per_worker_mib"], 512);

    // A bad value in the file names the file and the key.
    std::fs::write(
        root.path().join("pyproject.toml"),
        "[tool.parallel-pytest]\nworkers = \"many\"\n",
    )
    .unwrap();
    usage_error(
        Cmd::new().current_dir(root.path()).arg("env"),
        &["pyproject.toml", "many"],
    );
}

/// Each command has its own format variable: a `plan`-only value for `plan` (`matrix`) must
/// not break `env`, and `env`'s variable is still honoured.
#[test]
fn format_variables_are_per_command() {
    let (out, _) = Cmd::new()
        .arg("env")
        .env("PARALLEL_PYTEST_PLAN_FORMAT", "matrix")
        .env("PARALLEL_PYTEST_REPORT_FORMAT", "json")
        .expect_code(0);
    assert!(out.starts_with("provider "), "text output expected:\n{out}");
    let json = env_json(
        Cmd::new()
            .arg("env")
            .env("PARALLEL_PYTEST_ENV_FORMAT", "json")
            .env("PARALLEL_PYTEST_PLAN_FORMAT", "matrix"),
    );
    assert_eq!(json["provider"], "local");
    usage_error(
        Cmd::new()
            .arg("env")
            .env("PARALLEL_PYTEST_ENV_FORMAT", "matrix"),
        &["`PARALLEL_PYTEST_ENV_FORMAT` is `matrix`"],
    );
    // `plan` reads its own variable, not `env`'s.
    let (out, _) = Cmd::new()
        .arg("--root")
        .arg(crate::harness::fixtures().join("plan-split"))
        .arg("plan")
        .env("PARALLEL_PYTEST_PLAN_FORMAT", "matrix")
        .env("PARALLEL_PYTEST_ENV_FORMAT", "text")
        .expect_code(0);
    let matrix: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert!(matrix.is_object() || matrix.is_array(), "{out}");
}
