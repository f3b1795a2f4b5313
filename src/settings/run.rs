//! `run`'s settings, resolved once from its flags (and their `PARALLEL_PYTEST_*` variables),
//! `[tool.parallel-pytest]` and the defaults, through [`pick`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::plan::DEFAULT_DIST;
use super::{Resolved, Settings, SettingsError, argv_budget, current_dir, find_python, pick};
use crate::cli::RunArgs;
use crate::env_vars::ours;
use crate::plan::constraints::{DEFAULT_SERIAL_MARKER, dist_from_args};
use crate::pytest::{process, serial};
use crate::suite::paths::absolute;

/// Everything `run` decides before planning; paths are absolute.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Where `run` was started: paths on its command line are relative to it.
    pub cwd: PathBuf,
    /// `--root`, made absolute.
    pub root: PathBuf,
    /// `--out-dir` / `out-dir`, else `<root>/.parallel-pytest`.
    pub out_dir: Resolved<PathBuf>,
    /// The interpreter that runs pytest: a bare name is looked up on `PATH` at spawn time.
    pub python: PathBuf,
    /// `--dist` / `dist`, else [`DEFAULT_DIST`].
    pub dist: Resolved<String>,
    /// `--serial-marker` / `serial-marker`, else `serial`; a valid marker name.
    pub serial_marker: Resolved<String>,
    /// `--grace-seconds`, else [`process::DEFAULT_GRACE`].
    pub grace: Duration,
    /// Bytes of paths allowed on pytest's argv (`PARALLEL_PYTEST_ARGV_BUDGET`).
    pub argv_budget: usize,
    /// `--workers N` / `workers = N`; `None` for `auto` (the plan's count stands).
    pub forced_workers: Option<u32>,
    /// Whether the parallel phase gets thread-pool limits: not with `--no-thread-limits` or
    /// `thread-limits = false`.
    pub thread_limits: bool,
}

impl RunSettings {
    pub fn resolve(settings: &Settings, args: &RunArgs) -> Result<Self, SettingsError> {
        let cwd = current_dir()?;
        let python = find_python(&settings.machine, &cwd)?;
        Self::from_parts(
            settings,
            args,
            cwd,
            &python,
            std::env::var(ours::ARGV_BUDGET).ok(),
        )
    }

    /// The pure part of [`RunSettings::resolve`]: everything but the interpreter lookup and
    /// reading the process environment.
    fn from_parts(
        settings: &Settings,
        args: &RunArgs,
        cwd: PathBuf,
        python: &Path,
        argv_budget_var: Option<String>,
    ) -> Result<Self, SettingsError> {
        let root = absolute(&cwd, &settings.root);
        let file = &settings.file;
        let out_dir = pick(
            args.out_dir.clone(),
            file.out_dir.clone(),
            root.join(".parallel-pytest"),
        );
        let serial_marker = pick(
            args.inputs.serial_marker.clone(),
            file.serial_marker.clone(),
            DEFAULT_SERIAL_MARKER.to_string(),
        );
        serial::validate_marker(&serial_marker.value).map_err(|e| SettingsError::Invalid {
            setting: "--serial-marker",
            message: format!("`--serial-marker`: {e}"),
        })?;
        Ok(RunSettings {
            python: python.to_path_buf(),
            out_dir: Resolved {
                value: absolute(&cwd, &out_dir.value),
                origin: out_dir.origin,
            },
            cwd,
            root,
            // `--dist` among pytest's own args wins on pytest's command line, so it wins here.
            dist: pick(
                dist_from_args(&args.inputs.pytest_args).or(args.inputs.dist.clone()),
                file.dist.clone(),
                DEFAULT_DIST.to_string(),
            ),
            serial_marker,
            grace: grace(args.grace_seconds)?,
            argv_budget: argv_budget(argv_budget_var)?,
            forced_workers: settings.machine.forced_workers(),
            thread_limits: !args.no_thread_limits && file.thread_limits != Some(false),
        })
    }
}

fn grace(seconds: Option<f64>) -> Result<Duration, SettingsError> {
    match seconds {
        None => Ok(process::DEFAULT_GRACE),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(SettingsError::Invalid {
            setting: "--grace-seconds",
            message: format!("`--grace-seconds {s}` must be a number of seconds >= 0"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::settings::{MachineSettings, Origin, parse_file_config};

    fn resolve_with(argv: &[&str], pyproject: &str) -> Result<RunSettings, SettingsError> {
        let cli =
            crate::cli::Cli::try_parse_from(["parallel-pytest", "run"].iter().chain(argv).copied())
                .unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            unreachable!()
        };
        let root = PathBuf::from("/proj");
        let file = parse_file_config(pyproject).unwrap();
        let machine = MachineSettings::resolve(&args.inputs.machine, &file, &root);
        let settings = Settings {
            root,
            file,
            machine,
        };
        RunSettings::from_parts(
            &settings,
            &args,
            PathBuf::from("/proj/sub"),
            Path::new("python3"),
            None,
        )
    }

    /// Every `run` flag with a pyproject key honours it, and the flag wins.
    #[test]
    fn pyproject_keys_apply_and_flags_win() {
        let pyproject = "[tool.parallel-pytest]\ndist = \"worksteal\"\nserial-marker = \"db\"\nout-dir = \"out\"\nworkers = 3\n";
        let from_file = resolve_with(&[], pyproject).unwrap();
        assert_eq!(from_file.dist.value, "worksteal");
        assert_eq!(from_file.dist.origin, Origin::Pyproject);
        assert_eq!(from_file.serial_marker.value, "db");
        assert_eq!(from_file.out_dir.value, Path::new("/proj/sub/out"));
        assert_eq!(from_file.forced_workers, Some(3));
        let flags = [
            "--dist",
            "loadfile",
            "--serial-marker",
            "solo",
            "--out-dir",
            "/o",
            "--workers",
            "2",
        ];
        let from_cli = resolve_with(&flags, pyproject).unwrap();
        assert_eq!(from_cli.dist.value, "loadfile");
        assert_eq!(from_cli.serial_marker.value, "solo");
        assert_eq!(from_cli.out_dir.value, Path::new("/o"));
        assert_eq!(from_cli.forced_workers, Some(2));
        let defaults = resolve_with(&[], "").unwrap();
        assert_eq!(defaults.dist.value, DEFAULT_DIST);
        assert_eq!(defaults.serial_marker.value, "serial");
        assert_eq!(defaults.out_dir.value, Path::new("/proj/.parallel-pytest"));
        assert_eq!(defaults.forced_workers, None);
        assert!(resolve_with(&["--serial-marker", "not ok"], "").is_err());
    }

    #[test]
    fn grace_and_argv_budget_are_checked() {
        assert_eq!(grace(None).unwrap(), process::DEFAULT_GRACE);
        assert_eq!(grace(Some(1.5)).unwrap(), Duration::from_millis(1500));
        assert!(grace(Some(-1.0)).is_err());
        assert!(grace(Some(f64::NAN)).is_err());
        assert_eq!(
            argv_budget(None).unwrap(),
            crate::pytest::command::ARGV_PATH_BUDGET
        );
        assert_eq!(argv_budget(Some(" 100 ".into())).unwrap(), 100);
        assert!(argv_budget(Some("many".into())).is_err());
    }
}
