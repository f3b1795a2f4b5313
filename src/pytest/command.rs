//! The pytest command line for one shard, built as data (pure): argv, environment, the files
//! it needs in the out dir, and its shell-quoted rendering for `--dry-run`/`--print-command`.
//!
//! Layout of the command:
//! `python -m pytest -p _parallel_pytest_selection --parallel-pytest-selection=SEL
//!  [--rootdir=R] [-n W --dist D --max-worker-restart M] --junitxml=J -o junit_family=xunit1
//!  (FILES... | TOP-FOLDERS...) [user args verbatim]`
//!
//! Why a selection file + plugin and not pytest's `@argsfile` (8.2+): the node ids and
//! deselects never touch argv on *any* pytest version (7.x has no `@argsfile`), a node id that
//! vanished since the timings were recorded is skipped instead of failing the shard with exit
//! 4, and we need not know pytest's version before starting it — finding out costs a Python
//! start (40-80 ms), several times our whole start-up budget. Files go on argv while they fit
//! [`ARGV_PATH_BUDGET`]; beyond that, their top folders do and the plugin prunes collection to
//! the selected files (the same on every pytest version).
//!
//! Our options come first so a user option after them wins (argparse keeps the last value);
//! `--junitxml` is the one exception, handled in [`UserArgs`], because a silently dropped report
//! would break `report`.

use std::path::{Path, PathBuf};

use crate::ci::Shard;
use crate::env_vars::ours;
use crate::node_id::file_part;
use crate::plan::ShardPlan;
use crate::python::{RESULTS_LOG_MODULE, SELECTION_MODULE, SelectionFile};

use super::serial;

/// Above this many bytes of file paths, pytest gets the top folders on argv and the plugin
/// narrows collection to the selected files. Linux allows 2 MiB of argv +
/// environment in total and 128 KiB per single argument; 128 KiB of paths leaves ample room for
/// a large CI environment.
pub const ARGV_PATH_BUDGET: usize = 128 * 1024;

/// How the selected files reach pytest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathPassing {
    /// Few enough files: the paths themselves on argv.
    Argv,
    /// Too many files: top-level folders on argv, the plugin ignores the rest.
    TopFolders,
}

/// Everything the command depends on; all paths absolute.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub python: &'a Path,
    /// pytest's rootdir: plan paths and node ids are relative to it (passed as `--rootdir`).
    pub rootdir: &'a Path,
    /// Where pytest starts (`--root`, else the current directory), as plain pytest would.
    pub invocation_dir: &'a Path,
    pub out_dir: &'a Path,
    pub id: Shard,
    pub shard: &'a ShardPlan,
    pub workers: u32,
    pub dist: &'a str,
    /// Bytes of paths allowed on argv ([`ARGV_PATH_BUDGET`] by default).
    pub argv_budget: usize,
    pub user_args: &'a [String],
    /// The net for files discovery missed (`net.py`); `None` leaves it out.
    pub net: Option<&'a crate::python::NetFile>,
    /// With `--launcher processes`: which of the shard's plain pytest processes (1-based) this
    /// command is; its files get their own names (`junit-2-of-3.p1.xml`).
    pub process: Option<u32>,
}

impl Inputs<'_> {
    /// The name part of this command's files: `2-of-3`, or `2-of-3.p1` for process 1.
    pub fn stem(&self) -> String {
        match self.process {
            Some(k) => format!("{}.p{k}", self.id.file_stem()),
            None => self.id.file_stem(),
        }
    }
}

/// A ready-to-spawn pytest command plus the files it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct PytestCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Folder of the selection plugin, prepended to `PYTHONPATH` at spawn time.
    pub plugin_dir: PathBuf,
    /// Extra environment for pytest: which shard this is (for fixtures that isolate shards).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// Files to write before running: (path, contents).
    pub files: Vec<(PathBuf, String)>,
    /// Where the plugin records interpreter, pytest and xdist versions (`python-<I>-of-<N>.json`).
    pub info_path: PathBuf,
    /// Where the plugin records what each planned file yielded (`collected-<I>-of-<N>.json`).
    pub collected_path: PathBuf,
    /// Where the plugin appends outcomes JUnit cannot tell (`outcomes-<I>-of-<N>.txt`).
    pub outcomes_path: PathBuf,
    /// Where every pytest process appends its fixed costs (`costs-<I>-of-<N>.jsonl`).
    pub costs_path: PathBuf,
    /// Our JUnit file `<out-dir>/junit-<I>-of-<N>.xml`.
    pub junit_path: PathBuf,
    /// The user's own `--junitxml`, copied to `junit_path` after the run.
    pub user_junit: Option<PathBuf>,
    pub(crate) path_passing: PathPassing,
    pub max_worker_restart: Option<u32>,
}

/// What we need to know about the user's own pytest arguments.
#[derive(Debug, Clone, Default, PartialEq)]
struct UserArgs {
    pub junitxml: Option<String>,
    pub rootdir: bool,
    pub numprocesses: bool,
    pub max_worker_restart: bool,
    pub dist: bool,
}

impl UserArgs {
    /// Scan user arguments for the options we would otherwise set. pytest disables argparse
    /// abbreviations, so only the exact spellings count.
    fn scan(args: &[String]) -> UserArgs {
        let mut out = UserArgs::default();
        let mut iter = args.iter().peekable();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                break;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            match name {
                "--junitxml" | "--junit-xml" => {
                    let value = inline.or_else(|| iter.next().cloned());
                    out.junitxml = value;
                }
                "--rootdir" => out.rootdir = true,
                "-n" | "--numprocesses" => out.numprocesses = true,
                "--max-worker-restart" => out.max_worker_restart = true,
                "--dist" => out.dist = true,
                _ if name.starts_with("-n") && name.len() > 2 && !name.starts_with("--") => {
                    // `-n4` / `-nauto`
                    out.numprocesses = true;
                }
                _ => {}
            }
        }
        out
    }
}

/// `--max-worker-restart`: each worker may be replaced twice on average before xdist gives
/// up. xdist's own default (4 x workers) lets a suite where every test segfaults burn through
/// many more restarts; a smaller bound ends a crash loop sooner, and the crashed tests are
/// reported as failures either way.
pub fn max_worker_restart(workers: u32) -> u32 {
    workers.saturating_mul(2).max(2)
}

/// The files of the shard's whole files and single node ids, each once, in the order pytest
/// walks a folder (by name at each level, as pytest 8's `Dir` collector does), so a shard
/// runs its tests in the order a plain `pytest` run would, not the plan's heaviest-first
/// order: suites may depend on it (a module that fills a registry at import, a later test
/// that clears it).
fn selected_paths(shard: &ShardPlan) -> Vec<String> {
    let mut paths: Vec<&str> = shard
        .files
        .iter()
        .map(|f| f.as_str())
        .chain(shard.node_ids.iter().map(|n| file_part(n)))
        .collect();
    paths.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    paths.dedup();
    paths.into_iter().map(str::to_owned).collect()
}

/// A rootdir-relative path made relative to `invocation_dir` (`..` when outside it), as
/// pytest's `bestrelpath` would name it.
fn rebase(rootdir: &Path, invocation_dir: &Path, rel: &str) -> String {
    if rootdir == invocation_dir {
        return rel.to_string();
    }
    let abs = rootdir.join(rel);
    let b: Vec<_> = invocation_dir.components().collect();
    let p: Vec<_> = abs.components().collect();
    let shared = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - shared];
    parts.extend(
        p[shared..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Top-level folders (or files at the top) of the selected paths, sorted.
fn top_folders(paths: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = paths
        .iter()
        .map(|p| p.split('/').next().unwrap_or(p).to_string())
        .collect();
    set.into_iter().collect()
}

/// The selection JSON the plugin reads.
fn selection_json(shard: &ShardPlan, paths_via_plugin: bool, cmd: &PytestCommand) -> String {
    SelectionFile {
        files: shard.files.clone(),
        node_ids: shard.node_ids.clone(),
        deselect: shard.deselect.clone(),
        paths_via_plugin,
        info_out: cmd.info_path.clone(),
        collected_out: cmd.collected_path.clone(),
        outcomes_out: cmd.outcomes_path.clone(),
        costs_out: cmd.costs_path.clone(),
    }
    .to_json()
}

/// The shard's pytest command without the isolation plugin (see [`parallel`], [`serial`]).
fn build(inputs: &Inputs<'_>) -> PytestCommand {
    let out = inputs.out_dir;
    let stem = &inputs.stem();
    let selection_path = out.join(format!("selection-{stem}.json"));
    let user = UserArgs::scan(inputs.user_args);

    // Paths on the command line are relative to where pytest starts; the selection file keeps
    // rootdir-relative node ids, which is what pytest's `item.nodeid` is.
    let paths: Vec<String> = selected_paths(inputs.shard)
        .iter()
        .map(|p| rebase(inputs.rootdir, inputs.invocation_dir, p))
        .collect();
    let path_bytes: usize = paths.iter().map(|p| p.len() + 1).sum();
    let path_passing = if path_bytes <= inputs.argv_budget {
        PathPassing::Argv
    } else {
        PathPassing::TopFolders
    };

    let mut args: Vec<String> = vec![
        "-m".into(),
        "pytest".into(),
        "-p".into(),
        SELECTION_MODULE.into(),
        format!("--parallel-pytest-selection={}", selection_path.display()),
    ];
    if !user.rootdir {
        // Without an ini file pytest would take the common folder of the paths as rootdir,
        // and node ids would stop matching the plan's rootdir-relative ids.
        args.push(format!("--rootdir={}", inputs.rootdir.display()));
    }
    // Our out dir (selection, plugins, reports) is never a test folder, whatever the project's
    // `norecursedirs` says (setting it replaces pytest's default that skips dot folders).
    args.push(format!("--ignore={}", out.display()));
    let restart = push_xdist_args(&mut args, inputs, &user);
    let junit_path = out.join(format!("junit-{stem}.xml"));
    let user_junit = match &user.junitxml {
        Some(p) => Some(inputs.invocation_dir.join(p)),
        None => {
            args.push(format!("--junitxml={}", junit_path.display()));
            None
        }
    };
    // xunit1 gives each testcase `file` and `line`, which the report needs for annotations.
    args.push("-o".into());
    args.push("junit_family=xunit1".into());
    // Each test's start and outcome as it happens: what is left if pytest dies before its JUnit.
    args.push("-p".into());
    args.push(RESULTS_LOG_MODULE.into());
    args.push(results_log_arg(
        &out.join(super::results_log::file_name(stem, false)),
    ));

    let plugin_dir = out.join("plugin");
    let mut files = crate::python::plugin_files(&plugin_dir);
    if let Some(net) = inputs.net {
        let net_path = out.join(format!("net-{stem}.json"));
        files.push((net_path.clone(), net.to_json()));
        args.extend(["-p".into(), crate::python::NET_MODULE.into()]);
        args.push(format!("--parallel-pytest-net={}", net_path.display()));
    }
    match path_passing {
        PathPassing::Argv => args.extend(paths.iter().cloned()),
        PathPassing::TopFolders => args.extend(top_folders(&paths)),
    }
    args.extend(inputs.user_args.iter().cloned());

    let mut cmd = PytestCommand {
        program: inputs.python.display().to_string(),
        args,
        files,
        plugin_dir,
        env: vec![
            (ours::SHARD.to_string(), inputs.id.to_string()),
            (ours::SHARD_INDEX.to_string(), inputs.id.index.to_string()),
            (ours::SHARD_TOTAL.to_string(), inputs.id.total.to_string()),
        ],
        cwd: inputs.invocation_dir.to_path_buf(),
        info_path: out.join(format!("python-{stem}.json")),
        collected_path: out.join(format!("collected-{stem}.json")),
        outcomes_path: out.join(format!("outcomes-{stem}.txt")),
        costs_path: out.join(format!("costs-{stem}.jsonl")),
        junit_path,
        user_junit,
        path_passing,
        max_worker_restart: restart,
    };
    let selection = selection_json(inputs.shard, path_passing == PathPassing::TopFolders, &cmd);
    cmd.files.push((selection_path, selection));
    cmd
}

/// `-n W --dist D --max-worker-restart M` unless the user set them; the restart bound used.
fn push_xdist_args(args: &mut Vec<String>, inputs: &Inputs<'_>, user: &UserArgs) -> Option<u32> {
    if inputs.workers <= 1 || user.numprocesses {
        return None;
    }
    args.push("-n".into());
    args.push(inputs.workers.to_string());
    if !user.dist {
        args.push(format!("--dist={}", inputs.dist));
    }
    if user.max_worker_restart {
        return None;
    }
    let m = max_worker_restart(inputs.workers);
    args.push(format!("--max-worker-restart={m}"));
    Some(m)
}

fn results_log_arg(path: &Path) -> String {
    format!("--parallel-pytest-results-log={}", path.display())
}

/// The parallel phase's command: what `run` starts first, `--dry-run` shows and `plan` can
/// print. With `serial_out`, the isolation plugin leaves the tests marked `serial_marker` out
/// and lists them there; without it (`--print-command`, for scripts that run pytest themselves
/// in one go, where split-off serial tests would be lost) it only registers the marker.
pub fn parallel(
    inputs: &Inputs<'_>,
    serial_marker: &str,
    serial_out: Option<&Path>,
) -> PytestCommand {
    let mut cmd = build(inputs);
    let phase = serial_out.map(|_| serial::Phase::Parallel);
    serial::add_plugin(
        &mut cmd,
        serial::plugin_args(phase, serial_marker, serial_out),
    );
    cmd
}

/// The serial phase's command: the shard's same selection and user arguments, one process
/// (no `-n` of ours; `-n 0` when xdist is installed, so a `-n auto` in the project's `addopts`
/// or the user's arguments cannot bring workers back), JUnit into `serial_junit`.
pub fn serial(
    inputs: &Inputs<'_>,
    marker: &str,
    serial_junit: &Path,
    xdist_installed: bool,
) -> PytestCommand {
    // The parallel phase already ran the files the net found; only it may add them.
    let mut cmd = build(&Inputs {
        workers: 1,
        net: None,
        process: None,
        ..inputs.clone()
    });
    let ours = format!("--junitxml={}", cmd.junit_path.display());
    let stem = inputs.id.file_stem();
    let log = results_log_arg(
        &inputs
            .out_dir
            .join(super::results_log::file_name(&stem, false)),
    );
    for arg in &mut cmd.args {
        if *arg == ours {
            *arg = format!("--junitxml={}", serial_junit.display());
        } else if *arg == log {
            *arg = results_log_arg(
                &inputs
                    .out_dir
                    .join(super::results_log::file_name(&stem, true)),
            );
        }
    }
    cmd.junit_path = serial_junit.to_path_buf();
    serial::add_plugin(
        &mut cmd,
        serial::plugin_args(Some(serial::Phase::Serial), marker, None),
    );
    if xdist_installed {
        // After the user's own options (the last `-n` wins), but before a `--` that would
        // turn it into a path.
        let user = inputs.user_args;
        let tail = user.iter().position(|a| a == "--").unwrap_or(user.len());
        let at = cmd.args.len() - user.len() + tail;
        cmd.args.splice(at..at, ["-n".to_string(), "0".to_string()]);
    }
    cmd
}

impl PytestCommand {
    /// `cd ROOT && PYTHONPATH=PLUGIN${PYTHONPATH:+:$PYTHONPATH} python -m pytest ...`, each
    /// word quoted for a POSIX shell. `cd` is left out when the caller already runs in ROOT.
    pub fn shell(&self, current_dir: Option<&Path>) -> String {
        let q = shell_quote;
        let mut out = String::new();
        if current_dir != Some(self.cwd.as_path()) {
            out.push_str(&format!("cd {} && ", q(&self.cwd.display().to_string())));
        }
        for (k, v) in &self.env {
            out.push_str(&format!("{k}={} ", q(v)));
        }
        out.push_str(&format!(
            "PYTHONPATH={}\"${{PYTHONPATH:+:$PYTHONPATH}}\" ",
            q(&self.plugin_dir.display().to_string())
        ));
        out.push_str(&q(&self.program));
        for a in &self.args {
            out.push(' ');
            out.push_str(&q(a));
        }
        out
    }
}

/// Quote one word for a POSIX shell; words made only of characters no shell treats specially
/// stay bare so the command stays readable. (`shlex` quotes `=` too, which is safe but noisy.)
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    // try_quote fails only on NUL bytes, which cannot be in an argument anyway.
    shlex::try_quote(word).map_or_else(|_| word.replace('\0', ""), |c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(files: &[&str], node_ids: &[&str], deselect: &[&str]) -> ShardPlan {
        ShardPlan {
            index: 1,
            predicted_seconds: 1.0,
            workers: 2,
            files: files.iter().map(|s| s.to_string()).collect(),
            node_ids: node_ids.iter().map(|s| s.to_string()).collect(),
            deselect: deselect.iter().map(|s| s.to_string()).collect(),
            estimated: false,
            cost: None,
            processes: Vec::new(),
        }
    }

    fn inputs<'a>(shard: &'a ShardPlan, user: &'a [String]) -> Inputs<'a> {
        Inputs {
            python: Path::new("/venv/bin/python"),
            rootdir: Path::new("/repo"),
            invocation_dir: Path::new("/repo"),
            out_dir: Path::new("/repo/.parallel-pytest"),
            id: Shard { index: 1, total: 2 },
            process: None,
            shard,
            workers: 2,
            dist: "load",
            argv_budget: ARGV_PATH_BUDGET,
            net: None,
            user_args: user,
        }
    }

    #[test]
    fn full_command() {
        let s = shard(&["tests/b.py", "tests/a.py"], &["tests/c.py::t[1]"], &[]);
        let user = vec!["-k".to_string(), "not slow".to_string()];
        let cmd = build(&inputs(&s, &user));
        assert_eq!(
            cmd.args,
            [
                "-m",
                "pytest",
                "-p",
                "_parallel_pytest_selection",
                "--parallel-pytest-selection=/repo/.parallel-pytest/selection-1-of-2.json",
                "--rootdir=/repo",
                "--ignore=/repo/.parallel-pytest",
                "-n",
                "2",
                "--dist=load",
                "--max-worker-restart=4",
                "--junitxml=/repo/.parallel-pytest/junit-1-of-2.xml",
                "-o",
                "junit_family=xunit1",
                "-p",
                "_parallel_pytest_results_log",
                "--parallel-pytest-results-log=/repo/.parallel-pytest/results-1-of-2.jsonl",
                "tests/a.py",
                "tests/b.py",
                "tests/c.py",
                "-k",
                "not slow",
            ]
        );
        assert_eq!(
            cmd.shell(Some(Path::new("/repo"))),
            "PARALLEL_PYTEST_SHARD=1/2 PARALLEL_PYTEST_SHARD_INDEX=1 PARALLEL_PYTEST_SHARD_TOTAL=2 \
             PYTHONPATH=/repo/.parallel-pytest/plugin\"${PYTHONPATH:+:$PYTHONPATH}\" \
             /venv/bin/python -m pytest -p _parallel_pytest_selection \
             --parallel-pytest-selection=/repo/.parallel-pytest/selection-1-of-2.json \
             --rootdir=/repo --ignore=/repo/.parallel-pytest -n 2 --dist=load \
             --max-worker-restart=4 --junitxml=/repo/.parallel-pytest/junit-1-of-2.xml \
             -o junit_family=xunit1 -p _parallel_pytest_results_log \
             --parallel-pytest-results-log=/repo/.parallel-pytest/results-1-of-2.jsonl \
             tests/a.py tests/b.py tests/c.py -k 'not slow'"
        );
        assert!(cmd.shell(None).starts_with("cd /repo && "));
    }

    #[test]
    fn one_worker_means_no_xdist() {
        let s = shard(&["a.py"], &[], &[]);
        let mut i = inputs(&s, &[]);
        i.workers = 1;
        let cmd = build(&i);
        assert!(
            !cmd.args
                .iter()
                .any(|a| a == "-n" || a.starts_with("--dist"))
        );
        assert_eq!(cmd.path_passing, PathPassing::Argv);
        assert_eq!(cmd.args.last().unwrap(), "a.py");
    }

    #[test]
    fn too_many_paths_for_argv_use_top_folders() {
        let files: Vec<String> = (0..20_000)
            .map(|i| format!("tests/deep/folder/test_{i}.py"))
            .collect();
        let s = ShardPlan {
            files,
            ..shard(&[], &[], &[])
        };
        let cmd = build(&inputs(&s, &[]));
        assert_eq!(cmd.path_passing, PathPassing::TopFolders);
        assert_eq!(cmd.args.last().unwrap(), "tests");
        assert!(
            cmd.files
                .last()
                .unwrap()
                .1
                .contains("\"paths_via_plugin\":true")
        );
    }

    #[test]
    fn user_junitxml_and_rootdir_win() {
        let s = shard(&["a.py"], &[], &[]);
        let user: Vec<String> = ["--junitxml", "out/j.xml", "--rootdir=/x", "-n4"]
            .map(String::from)
            .to_vec();
        let cmd = build(&inputs(&s, &user));
        assert_eq!(cmd.user_junit, Some(PathBuf::from("/repo/out/j.xml")));
        assert!(!cmd.args.iter().any(|a| a.starts_with("--junitxml=/repo")));
        assert!(!cmd.args.iter().any(|a| a == "--rootdir=/repo"));
        assert!(!cmd.args.iter().any(|a| a == "--dist=load"));
    }

    #[test]
    fn paths_are_relative_to_the_invocation_dir() {
        assert_eq!(rebase(Path::new("/r"), Path::new("/r"), "t/a.py"), "t/a.py");
        assert_eq!(rebase(Path::new("/r"), Path::new("/r/t"), "t/a.py"), "a.py");
        assert_eq!(
            rebase(Path::new("/r"), Path::new("/r/u"), "t/a.py"),
            "../t/a.py"
        );
        let s = shard(&["t/a.py"], &["t/b.py::x"], &[]);
        let mut i = inputs(&s, &[]);
        i.invocation_dir = Path::new("/repo/t");
        let cmd = build(&i);
        assert_eq!(cmd.cwd, PathBuf::from("/repo/t"));
        assert!(
            cmd.args
                .ends_with(&["a.py".to_string(), "b.py".to_string()])
        );
        // Node ids stay rootdir-relative for the plugin.
        assert!(cmd.files.last().unwrap().1.contains("\"t/b.py::x\""));
    }

    #[test]
    fn paths_follow_pytests_walk_not_the_plans_order() {
        let s = shard(
            &["t/z.py", "t/sub/b.py", "t/a.py", "t/sub2.py"],
            &["t/m.py::x", "t/a.py::y"],
            &[],
        );
        assert_eq!(
            selected_paths(&s),
            ["t/a.py", "t/m.py", "t/sub/b.py", "t/sub2.py", "t/z.py"]
        );
    }

    #[test]
    fn scan_stops_at_double_dash() {
        let user: Vec<String> = ["--", "--junitxml=x"].map(String::from).to_vec();
        assert_eq!(UserArgs::scan(&user), UserArgs::default());
    }
}
