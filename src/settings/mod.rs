//! One resolved `Settings`: CLI flag > `PARALLEL_PYTEST_*` env (both via clap) >
//! `[tool.parallel-pytest]` in the project's pyproject.toml > built-in default.
//!
//! `FileConfig` mirrors the flags in kebab-case; unknown keys are an error that names the key.
//!
//! clap already merges a flag with its `PARALLEL_PYTEST_*` variable (the flag wins), so the
//! resolution here is `args.x` > `file.x` > default, one small function per section: the
//! machine section ([`MachineSettings`], used by `env`, `plan` and `run`) lives here; commands
//! add their own sections the same way, from their clap args and the same [`FileConfig`]
//! (`env.rs` for `env`).
//!
//! Settings sit below `error` in the layer order: failures are a [`SettingsError`] that names
//! the flag, file or key, and `crate::error::Error` wraps it.

pub mod env;
pub mod report;

pub mod run;

pub mod plan;

pub mod quarantine;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::ci::Shard;
use crate::cli::{MachineArgs, WorkerCount};
use crate::host::DEFAULT_MEMORY_PER_WORKER_MIB;
use crate::python::PythonSource;

/// Why the settings could not be resolved; each variant names the flag or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("`--root` / `PARALLEL_PYTEST_ROOT` is `{}`, which is not a directory", .path.display())]
    RootNotDir { path: PathBuf },
    #[error("failed to read the current directory")]
    CurrentDir(#[source] std::io::Error),
    /// `fs-err` already names the file in the source's message.
    #[error("failed to read the project configuration")]
    Read(#[source] std::io::Error),
    /// Bad TOML or a bad `[tool.parallel-pytest]` key; `message` names the key.
    #[error("failed to read `{}`: {message}", .path.display())]
    Pyproject { path: PathBuf, message: String },
    /// A flag, variable or key whose value cannot be used; `message` names it and says why.
    #[error("{message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
    #[error(transparent)]
    Interpreter(#[from] crate::python::InterpreterError),
}

/// Where a resolved value came from (shown by `env`, used in error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag or its `PARALLEL_PYTEST_*` variable (clap merges the two).
    Cli,
    /// `[tool.parallel-pytest]` in `<root>/pyproject.toml`.
    Pyproject,
    /// The built-in default.
    Default,
}

/// A resolved value and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<T> {
    pub value: T,
    pub origin: Origin,
}

/// `cli` > `file` > `default`: the one precedence rule, in one place.
pub(crate) fn pick<T>(cli: Option<T>, file: Option<T>, default: T) -> Resolved<T> {
    match (cli, file) {
        (Some(value), _) => Resolved {
            value,
            origin: Origin::Cli,
        },
        (None, Some(value)) => Resolved {
            value,
            origin: Origin::Pyproject,
        },
        (None, None) => Resolved {
            value: default,
            origin: Origin::Default,
        },
    }
}

/// Everything a command needs before doing its work: the project root, the pyproject table
/// (for command-specific sections) and the machine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `--root` / `PARALLEL_PYTEST_ROOT`, else the current directory.
    pub root: PathBuf,
    pub file: FileConfig,
    pub machine: MachineSettings,
}

/// What the machine may use and which interpreter runs pytest (`env`, `plan`, `run`).
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSettings {
    /// `--shard` only: `PARALLEL_PYTEST_SHARD` and the CI variables are read by
    /// [`crate::ci::detect()`], which must know which variable a shard came from.
    pub shard: Option<Shard>,
    pub workers: Resolved<WorkerCount>,
    /// Memory budget per xdist worker in MiB (default [`DEFAULT_MEMORY_PER_WORKER_MIB`]).
    pub memory_per_worker_mib: Resolved<u64>,
    /// An explicit interpreter; `None` → `python3`/`python` on `PATH`. A relative path from
    /// pyproject.toml is relative to the root; one from the command line, to the cwd.
    pub python: Option<Resolved<PathBuf>>,
}

impl MachineSettings {
    /// Resolve from the clap args and the pyproject table. `root` anchors relative paths
    /// from the config file.
    fn resolve(args: &MachineArgs, file: &FileConfig, root: &Path) -> Self {
        let file_python = file.python.as_ref().map(|p| {
            // A bare name (`python3.12`) is looked up on PATH; a path is relative to the root.
            if p.components().count() > 1 && p.is_relative() {
                root.join(p)
            } else {
                p.clone()
            }
        });
        let python = match (args.python.clone(), file_python) {
            (None, None) => None,
            (cli, file) => Some(pick(cli, file, PathBuf::new())),
        };
        MachineSettings {
            shard: args.shard,
            workers: pick(args.workers, file.workers, WorkerCount::Auto),
            memory_per_worker_mib: pick(
                args.memory_per_worker,
                file.memory_per_worker,
                DEFAULT_MEMORY_PER_WORKER_MIB,
            ),
            python,
        }
    }

    /// `Some(n)` when the worker count is forced.
    pub fn forced_workers(&self) -> Option<u32> {
        match self.workers.value {
            WorkerCount::Auto => None,
            WorkerCount::Fixed(n) => Some(n),
        }
    }

    /// Where a forced worker count came from, for messages; `None` for `auto`.
    pub fn forced_workers_origin(&self) -> Option<String> {
        let n = self.forced_workers()?;
        Some(match self.workers.origin {
            Origin::Cli => format!("`--workers {n}` / `PARALLEL_PYTEST_WORKERS`"),
            Origin::Pyproject => format!("`workers = {n}` in `[tool.parallel-pytest]`"),
            Origin::Default => format!("the default of {n}"),
        })
    }

    /// The explicit interpreter and its source, for [`crate::python::interpreter::find`].
    pub fn python_choice(&self) -> Option<(&Path, PythonSource)> {
        self.python.as_ref().map(|r| {
            let source = match r.origin {
                Origin::Cli => PythonSource::Flag,
                Origin::Pyproject | Origin::Default => PythonSource::Config,
            };
            (r.value.as_path(), source)
        })
    }
}

impl Settings {
    /// Resolve the root, read its pyproject.toml, and resolve the machine section.
    pub fn load(root: Option<PathBuf>, machine: &MachineArgs) -> Result<Self, SettingsError> {
        let root = resolve_root(root)?;
        let file = load_file_config(&root)?;
        let machine = MachineSettings::resolve(machine, &file, &root);
        Ok(Settings {
            root,
            file,
            machine,
        })
    }
}

/// The project root and its `[tool.parallel-pytest]` table, for commands without machine
/// settings (`report`).
pub fn load_project(root: Option<PathBuf>) -> Result<(PathBuf, FileConfig), SettingsError> {
    let root = resolve_root(root)?;
    let file = load_file_config(&root)?;
    Ok((root, file))
}

/// `--root DIR` must be a directory; without it, the current directory.
fn resolve_root(root: Option<PathBuf>) -> Result<PathBuf, SettingsError> {
    match root {
        Some(dir) if dir.is_dir() => Ok(dir),
        Some(path) => Err(SettingsError::RootNotDir { path }),
        None => std::env::current_dir().map_err(SettingsError::CurrentDir),
    }
}

/// `workers = "auto"`, `workers = "4"` or `workers = 4` in pyproject.toml.
fn de_workers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WorkerCount>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Str(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Int(n) => n.to_string(),
        Raw::Str(s) => s,
    };
    text.parse::<WorkerCount>()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `fail-on = "new"` or `"all"` in pyproject.toml.
fn de_fail_on<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::report::compare::FailOn>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map(Some)
        .map_err(|e: String| serde::de::Error::custom(format!("`fail-on`: {e}")))
}

/// `[tool.parallel-pytest]` in pyproject.toml. Every field is optional; flags and env win.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    #[serde(default, deserialize_with = "de_workers")]
    pub workers: Option<WorkerCount>,
    pub memory_per_worker: Option<u64>,
    pub python: Option<PathBuf>,
    pub timings: Option<Vec<String>>,
    pub timings_out: Option<PathBuf>,
    /// `report --results-out`.
    pub results_out: Option<PathBuf>,
    /// `report --fail-on`: `new` or `all`.
    #[serde(default, deserialize_with = "de_fail_on")]
    pub fail_on: Option<crate::report::compare::FailOn>,
    pub out_dir: Option<PathBuf>,
    pub dist: Option<String>,
    /// `--launcher`: `xdist` or `processes`.
    pub launcher: Option<crate::plan::processes::Launcher>,
    pub serial_marker: Option<String>,
    pub shards: Option<u32>,
    pub target_seconds: Option<f64>,
    pub max_shards: Option<u32>,
    pub shard_startup_seconds: Option<f64>,
    /// `--max-runner-minutes`: the runner-time budget `--target-seconds` chooses within.
    pub max_runner_minutes: Option<f64>,
    /// `thread-limits = false`: as `run --no-thread-limits`.
    pub thread_limits: Option<bool>,
    /// `timings-fetch = false`: as `--no-timings-fetch`.
    pub timings_fetch: Option<bool>,
    pub timings_fetch_timeout: Option<f64>,
    /// `[[tool.parallel-pytest.quarantine]]` entries; read with their lines by
    /// [`quarantine::load`], here only so the key is known.
    pub quarantine: Option<toml::Value>,
    /// A TOML file of `[[quarantine]]` entries, relative to the root.
    pub quarantine_file: Option<PathBuf>,
}

/// Read `[tool.parallel-pytest]` from `<root>/pyproject.toml`; missing file or table → defaults.
fn load_file_config(root: &Path) -> Result<FileConfig, SettingsError> {
    let path = root.join("pyproject.toml");
    let text = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(err) => return Err(SettingsError::Read(err)),
    };
    parse_file_config(&text).map_err(|message| SettingsError::Pyproject { path, message })
}

/// Pure part of `load_file_config`, for tests.
fn parse_file_config(text: &str) -> Result<FileConfig, String> {
    #[derive(Deserialize)]
    struct Pyproject {
        tool: Option<Tool>,
    }
    #[derive(Deserialize)]
    struct Tool {
        #[serde(rename = "parallel-pytest")]
        parallel_pytest: Option<toml::Value>,
    }
    // toml's messages end in a newline; the renderer adds its own line breaks.
    let doc: Pyproject = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    match doc.tool.and_then(|t| t.parallel_pytest) {
        None => Ok(FileConfig::default()),
        Some(value) => FileConfig::deserialize(value)
            .map_err(|e| format!("in `[tool.parallel-pytest]`: {}", e.to_string().trim_end())),
    }
}

/// How long fetching from the CI API (the timings chain, the base run's results) may take, or
/// `None` when it is off: `wanted` by the command, and not `timings-fetch = false`. The time
/// is `--timings-fetch-timeout`, else `timings-fetch-timeout`, else 20 s.
fn fetch_limit(
    wanted: bool,
    flag: Option<f64>,
    file: &FileConfig,
) -> Result<Option<std::time::Duration>, SettingsError> {
    let seconds = pick(
        flag,
        file.timings_fetch_timeout,
        plan::DEFAULT_TIMINGS_FETCH_SECONDS,
    )
    .value;
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(SettingsError::Invalid {
            setting: "--timings-fetch-timeout",
            message: format!(
                "`--timings-fetch-timeout` / `timings-fetch-timeout` is `{seconds}`: expected seconds (0 or more)"
            ),
        });
    }
    Ok((wanted && file.timings_fetch != Some(false))
        .then(|| std::time::Duration::from_secs_f64(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tool_table() {
        let cfg = parse_file_config(
            "[project]\nname='x'\n[tool.parallel-pytest]\nworkers = \"3\"\nmemory-per-worker = 256\n",
        )
        .unwrap();
        assert_eq!(cfg.workers, Some(WorkerCount::Fixed(3)));
        assert_eq!(cfg.memory_per_worker, Some(256));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse_file_config("[tool.parallel-pytest]\nwrokers = 3\n").unwrap_err();
        assert!(err.contains("wrokers"), "{err}");
    }

    #[test]
    fn launcher_is_xdist_or_processes() {
        use crate::plan::processes::Launcher;
        let l = |t: &str| parse_file_config(&format!("[tool.parallel-pytest]\nlauncher = {t}\n"));
        assert_eq!(
            l("\"processes\"").unwrap().launcher,
            Some(Launcher::Processes)
        );
        assert_eq!(l("\"xdist\"").unwrap().launcher, Some(Launcher::Xdist));
        let err = l("\"forks\"").unwrap_err();
        assert!(err.contains("forks") && err.contains("processes"), "{err}");
    }

    #[test]
    fn workers_as_number_string_or_auto() {
        let w = |t: &str| parse_file_config(&format!("[tool.parallel-pytest]\nworkers = {t}\n"));
        assert_eq!(w("4").unwrap().workers, Some(WorkerCount::Fixed(4)));
        assert_eq!(w("\"auto\"").unwrap().workers, Some(WorkerCount::Auto));
        let err = w("0").unwrap_err();
        assert!(err.contains("workers") && err.contains("`0`"), "{err}");
        assert!(w("\"many\"").is_err());
    }

    fn args(workers: Option<WorkerCount>, mem: Option<u64>, python: Option<&str>) -> MachineArgs {
        MachineArgs {
            shard: None,
            workers,
            memory_per_worker: mem,
            python: python.map(PathBuf::from),
        }
    }

    /// Pins the precedence: flag/env (clap) > pyproject.toml > default.
    #[test]
    fn precedence_cli_over_file_over_default() {
        let root = Path::new("/proj");
        let file = parse_file_config(
            "[tool.parallel-pytest]\nworkers = 3\nmemory-per-worker = 256\npython = \".venv/bin/python\"\n",
        )
        .unwrap();
        let none = MachineSettings::resolve(&args(None, None, None), &FileConfig::default(), root);
        let from_file = MachineSettings::resolve(&args(None, None, None), &file, root);
        let from_cli = MachineSettings::resolve(
            &args(Some(WorkerCount::Fixed(5)), Some(1024), Some("py")),
            &file,
            root,
        );
        let show = |m: &MachineSettings| {
            format!(
                "workers={:?}@{:?} mem={}@{:?} python={:?}",
                m.workers.value,
                m.workers.origin,
                m.memory_per_worker_mib.value,
                m.memory_per_worker_mib.origin,
                m.python
                    .as_ref()
                    .map(|p| (p.value.display().to_string(), p.origin)),
            )
        };
        assert_eq!(
            show(&none),
            "workers=Auto@Default mem=512@Default python=None"
        );
        assert_eq!(
            show(&from_file),
            "workers=Fixed(3)@Pyproject mem=256@Pyproject python=Some((\"/proj/.venv/bin/python\", Pyproject))"
        );
        assert_eq!(
            show(&from_cli),
            "workers=Fixed(5)@Cli mem=1024@Cli python=Some((\"py\", Cli))"
        );
        assert_eq!(from_cli.forced_workers(), Some(5));
        assert_eq!(none.forced_workers(), None);
    }

    #[test]
    fn missing_table_is_default() {
        assert_eq!(parse_file_config("").unwrap(), FileConfig::default());
    }
}

/// The interpreter that runs pytest: the explicit one (flag/env/pyproject), else `python3` or
/// `python` on `PATH`. A bare name stays bare (looked up on `PATH` at spawn time); a relative
/// path is made absolute because pytest runs in the rootdir, not here.
pub(crate) fn find_python(machine: &MachineSettings, cwd: &Path) -> Result<PathBuf, SettingsError> {
    let (python, _source) = crate::python::interpreter::find(
        machine.python_choice(),
        std::env::var_os("PATH").as_deref(),
    )?;
    Ok(python_path(cwd, &python))
}

fn python_path(cwd: &Path, p: &Path) -> PathBuf {
    if p.components().count() > 1 {
        crate::suite::paths::absolute(cwd, p)
    } else {
        p.to_path_buf()
    }
}

/// `PARALLEL_PYTEST_ARGV_BUDGET` (its value, if set), else the default argv budget for paths.
pub(crate) fn argv_budget(var: Option<String>) -> Result<usize, SettingsError> {
    let name = crate::env_vars::ours::ARGV_BUDGET;
    let Some(v) = var else {
        return Ok(crate::pytest::command::ARGV_PATH_BUDGET);
    };
    v.trim()
        .parse::<usize>()
        .map_err(|_| SettingsError::Invalid {
            setting: name,
            message: format!("`{name}` is `{v}`: expected a number of bytes"),
        })
}

pub(crate) fn current_dir() -> Result<PathBuf, SettingsError> {
    std::env::current_dir().map_err(SettingsError::CurrentDir)
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn python_names_stay_bare_and_paths_become_absolute() {
        let cwd = Path::new("/work");
        assert_eq!(python_path(cwd, Path::new("python3")), Path::new("python3"));
        assert_eq!(
            python_path(cwd, Path::new(".venv/bin/python")),
            Path::new("/work/.venv/bin/python")
        );
    }
}
