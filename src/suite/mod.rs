//! What tests exist? pytest config, test-file discovery (no Python needed), optional collection.
//!
//! [`load`] finds the config file and rootdir as pytest does, reads `testpaths`, `python_files`,
//! `norecursedirs` and `addopts`, applies `--ignore`/`--ignore-glob` from `addopts`,
//! `PYTEST_ADDOPTS` and the pytest args, and walks the tree. Paths are rootdir-relative with `/`,
//! as pytest prints node ids.

pub mod args;
pub mod collect;
pub mod config;
pub mod discover;
pub mod expression;
pub mod ini;
pub mod markers;
pub mod paths;
pub mod texts;

use std::path::{Path, PathBuf};

pub use collect::{CollectRequest, collect};
pub use config::PytestConfig;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("failed to read pytest config `{path}`: {message}")]
    Config { path: String, message: String },
    #[error("failed to read pytest config `{}`", .path.display())]
    Ini {
        path: PathBuf,
        #[source]
        source: ini::IniError,
    },
    #[error("failed to read pytest config `{}`", .path.display())]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("file or directory not found: `{0}`")]
    NotFound(String),
    #[error("`PYTEST_ADDOPTS` is not valid shell syntax")]
    AddoptsSyntax,
    #[error(
        "`--pyargs` names packages, not paths: plan with `--collect` to let pytest resolve them"
    )]
    Pyargs,
    #[error("`testpaths` entry `{pattern}` is not a valid glob")]
    TestpathsGlob {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("`--rootdir {}` is not a directory", .0.display())]
    RootdirNotDir(PathBuf),
    #[error("failed to read pytest config `{}`", .path.display())]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to collect tests with `{command}`: {message}")]
    Collect { command: String, message: String },
}

/// What pytest would be asked to run.
#[derive(Debug, Clone, Default)]
pub struct SuiteRequest {
    /// Where pytest is started (the `--root` or current directory).
    pub invocation_dir: PathBuf,
    /// Positional test paths given to us (before `--`).
    pub paths: Vec<PathBuf>,
    /// Args after `--`, for pytest.
    pub pytest_args: Vec<String>,
    /// `PYTEST_ADDOPTS`, which pytest prepends to its args.
    pub env_addopts: Option<String>,
}

/// The suite as pytest would see it.
#[derive(Debug, Clone)]
pub struct Suite {
    pub rootdir: PathBuf,
    pub config_file: Option<PathBuf>,
    /// Test files, rootdir-relative, sorted, unique.
    pub files: Vec<String>,
    /// Explicit node-id args (`file::test`), rootdir-relative.
    pub node_ids: Vec<String>,
    pub warnings: Vec<String>,
    /// The paths pytest walks, absolute (see [`discover::Discovered::roots`]).
    pub roots: Vec<PathBuf>,
    /// The parsed args (user's paths + `PYTEST_ADDOPTS` + pytest args).
    pub args: args::ParsedArgs,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Args pytest sees from the command line: `PYTEST_ADDOPTS`, then ours and the user's.
fn command_line(req: &SuiteRequest) -> Result<Vec<String>, SuiteError> {
    let mut all = Vec::new();
    if let Some(env) = req.env_addopts.as_deref().filter(|s| !s.trim().is_empty()) {
        all.extend(shlex::split(env).ok_or(SuiteError::AddoptsSyntax)?);
    }
    all.extend(req.pytest_args.iter().cloned());
    // Our own PATHS are positional args too; `--` keeps them positional whatever they look like.
    if !req.paths.is_empty() {
        all.push("--".into());
        all.extend(req.paths.iter().map(|p| p.display().to_string()));
    }
    Ok(all)
}

/// Finds the config and rootdir and the test files, without Python.
pub fn load(req: &SuiteRequest) -> Result<Suite, SuiteError> {
    let invocation_dir = paths::absolute(
        &std::env::current_dir().unwrap_or_default(),
        &req.invocation_dir,
    );
    let cli = args::parse(&command_line(req)?);
    if cli.pyargs {
        return Err(SuiteError::Pyargs);
    }
    let path_args: Vec<PathBuf> = cli
        .positional
        .iter()
        .map(|a| PathBuf::from(crate::node_id::file_part(a)))
        .collect();
    let mut config = config::determine(
        &invocation_dir,
        &path_args,
        cli.config_file.as_deref().map(Path::new),
        cli.rootdir.as_deref().map(Path::new),
    )?;
    for (k, v) in &cli.overrides {
        config
            .values
            .insert(k.clone(), config::Value::Str(v.clone()));
    }
    // `addopts` from the config comes first on pytest's command line.
    let addopts = args::parse(&config.args("addopts")?.unwrap_or_default());
    let get = |key: &str, default: &[&str]| -> Result<Vec<String>, SuiteError> {
        Ok(config.args(key)?.unwrap_or_else(|| strings(default)))
    };
    let input = discover::DiscoverInput {
        rootdir: config.rootdir.clone(),
        invocation_dir: invocation_dir.clone(),
        args: cli.positional.clone(),
        testpaths: get("testpaths", &[])?,
        python_files: get("python_files", discover::DEFAULT_PYTHON_FILES)?,
        norecursedirs: get("norecursedirs", discover::DEFAULT_NORECURSEDIRS)?,
        ignore: addopts.ignore.iter().chain(&cli.ignore).cloned().collect(),
        ignore_glob: addopts
            .ignore_glob
            .iter()
            .chain(&cli.ignore_glob)
            .cloned()
            .collect(),
        collect_in_virtualenv: cli.collect_in_virtualenv || addopts.collect_in_virtualenv,
        doctest: discover::Doctest {
            enabled: !(addopts.no_doctest || cli.no_doctest),
            // argparse appends: `addopts` first, then the command line.
            globs: addopts
                .doctest_glob
                .iter()
                .chain(&cli.doctest_glob)
                .cloned()
                .collect(),
            modules: addopts.doctest_modules || cli.doctest_modules,
        },
    };
    let found = discover::discover(&input)?;
    let mut all_args = addopts;
    all_args.deselect.extend(cli.deselect.iter().cloned());
    all_args.positional = cli.positional.clone();
    // The command line comes after `addopts`: its `-k`/`-m` wins.
    all_args.keyword_expr = cli.keyword_expr.or(all_args.keyword_expr);
    all_args.mark_expr = cli.mark_expr.or(all_args.mark_expr);
    Ok(Suite {
        rootdir: config.rootdir,
        config_file: config.file,
        files: found.files,
        node_ids: found.node_ids,
        warnings: found.warnings,
        roots: found.roots,
        args: all_args,
    })
}
