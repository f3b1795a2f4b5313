//! One shard, start to finish: the parallel phase under xdist, then the tests with the serial
//! marker in one plain process, crash detection, one JUnit file for both phases, and the
//! manifest — written once, whatever the outcome. `run` hands over the shard and prints what
//! comes back; nothing here prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::command::{self, PytestCommand};
use super::manifest::{
    MANIFEST_VERSION, Manifest, ProcessRecord, Selection, SerialPhase, ShardCosts,
};
use super::process::{self, Finished, SpawnError};
use super::{coverage, crash, processes, serial};
use crate::host::usage::{ResourceUsage, Resources};
use crate::junit::rewrite::{self, RewriteError};
use crate::python::{Collected, Outcomes, PythonInfo};

/// Why a shard could not be run to an outcome (a failing pytest is an outcome, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The selection file, the plugins, or a folder for them.
    #[error("failed to write `{path}`, which pytest reads", path = .path.display())]
    CommandFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to remove `{path}` left by an earlier run", path = .path.display())]
    Stale {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to copy `{from}` to `{to}`", from = .from.display(), to = .to.display())]
    Copy {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write `{path}`", path = .path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Everything the shard runner needs, resolved by `run`; all paths absolute.
#[derive(Debug, Clone)]
pub struct ShardRun<'a> {
    /// The shard's command inputs (its `workers` already through `ShardPlan::workers_to_start`).
    pub inputs: command::Inputs<'a>,
    pub serial_marker: &'a str,
    /// Seconds pytest gets to write its report after a forwarded signal.
    pub grace: Duration,
    /// The plan's fingerprint, recorded in the manifest.
    pub fingerprint: &'a str,
    /// Thread-pool variables given to the parallel phase (`threads::for_this_machine`).
    pub thread_limits: Vec<(String, String)>,
    /// The plan's timings source, recorded in the manifest.
    pub timings_source: Option<&'a crate::timings::Provenance>,
}

/// Something that happens mid-run, for `run` to print at once (pytest's output surrounds it).
#[derive(Debug)]
pub enum Progress {
    /// The serial phase is about to start with this many tests.
    SerialStarting { tests: usize },
    /// The serial tests did not run: the parallel phase ended with this code (`None`: a signal).
    SerialSkipped {
        tests: usize,
        parallel_exit: Option<i32>,
    },
    /// The serial phase's JUnit could not be merged; its results stay in `kept`.
    MergeFailed { error: RewriteError, kept: PathBuf },
}

/// How the shard ended.
#[derive(Debug, Clone)]
pub struct ShardOutcome {
    /// What `run` exits with: pytest's code, or 128 + signal.
    pub exit_code: u8,
    /// As written to `shard-<I>-of-<N>.json`.
    pub manifest: Manifest,
    /// The signal that killed pytest, and the one this job received and forwarded.
    pub killed_by: Option<process::Cause>,
    pub interrupted_by: Option<process::Cause>,
    /// Whether pytest got far enough to load our plugins (they record the interpreter).
    pub plugins_loaded: bool,
    /// pytest's "no tests collected" (exit 5) for a shard whose planned tests the user's
    /// filters all deselected or whose files yielded no test: the shard exits 0.
    pub nothing_ran: Option<NothingRan>,
}

/// Why a shard ran no test and still succeeded, for `run`'s one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NothingRan {
    /// Planned tests the user's `-k`/`-m`/`--deselect` deselected.
    pub deselected: u64,
    /// Planned files that yielded no test at all.
    pub empty_files: usize,
}

impl std::fmt::Display for NothingRan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::text::count;
        let mut parts = Vec::new();
        if self.deselected > 0 {
            parts.push(format!(
                "your filters deselected {} of this shard",
                count(self.deselected, "planned test", "planned tests")
            ));
        }
        if self.empty_files > 0 {
            parts.push(format!(
                "{} collected nothing",
                count(self.empty_files as u64, "planned file", "planned files")
            ));
        }
        write!(f, "no test to run: {}", parts.join("; "))
    }
}

/// [`NothingRan`] when pytest said "no tests collected" (exit 5) and the plugin's count
/// shows why: every planned test deselected by the user's filters, or no test in the files.
fn nothing_ran(manifest: &Manifest, collected_path: &Path) -> Option<NothingRan> {
    if !collected_path.exists() {
        return None;
    }
    nothing_ran_in(manifest)
}

/// [`nothing_ran`] once the plugin's count is known to exist.
fn nothing_ran_in(manifest: &Manifest) -> Option<NothingRan> {
    let serial_ran = manifest.serial.as_ref().is_some_and(|s| s.started);
    if manifest.exit_code != Some(5) || serial_ran {
        return None;
    }
    let c = &manifest.collected;
    c.nothing_to_run().then(|| NothingRan {
        deselected: c.files.values().map(|f| f.deselected).sum(),
        empty_files: c.files.values().filter(|f| f.collected == 0).count(),
    })
}

/// The files of one shard in the out dir.
struct Paths {
    manifest: PathBuf,
    serial_out: PathBuf,
    serial_junit: PathBuf,
    results_log: PathBuf,
    serial_results_log: PathBuf,
}

impl Paths {
    fn new(out_dir: &Path, stem: &str) -> Paths {
        Paths {
            manifest: out_dir.join(format!("shard-{stem}.json")),
            serial_out: out_dir.join(format!("serial-{stem}.txt")),
            serial_junit: out_dir.join(format!("junit-{stem}.serial.xml")),
            results_log: out_dir.join(super::results_log::file_name(stem, false)),
            serial_results_log: out_dir.join(super::results_log::file_name(stem, true)),
        }
    }

    /// Removes what an earlier run of this shard left that either launcher writes (a leftover
    /// manifest or results log would otherwise pass for this run's).
    fn remove_stale(&self, req: &ShardRun<'_>, stem: &str) -> Result<(), RunError> {
        for stale in [
            &self.manifest,
            &self.serial_out,
            &self.serial_junit,
            &self.results_log,
            &self.serial_results_log,
        ] {
            remove_if_exists(stale)?;
        }
        if let Some(net) = req.inputs.net {
            remove_if_exists(&net.out)?;
        }
        coverage::remove_stale(req.inputs.out_dir, stem)?;
        Ok(())
    }
}

/// The two commands of a shard, as `--dry-run` shows them and `run` starts them (pure: `plan`
/// may show them too). Whether xdist is installed is known for sure only once pytest has run
/// (the plugin records it); until then, a shard that uses workers needs it anyway.
pub fn commands(req: &ShardRun<'_>) -> (PytestCommand, PytestCommand) {
    let paths = Paths::new(req.inputs.out_dir, &req.inputs.id.file_stem());
    let mut cmd = command::parallel(&req.inputs, req.serial_marker, Some(&paths.serial_out));
    // The serial phase runs alone: its pools may use the whole machine.
    cmd.env.extend(req.thread_limits.iter().cloned());
    let serial = command::serial(
        &req.inputs,
        req.serial_marker,
        &paths.serial_junit,
        req.inputs.workers > 1,
    );
    (cmd, serial)
}

/// [`commands`], with the parallel command's files written so it runs as printed.
pub fn dry_run(req: &ShardRun<'_>) -> Result<(PytestCommand, PytestCommand), RunError> {
    let (cmd, serial) = commands(req);
    write_command_files(&cmd)?;
    Ok((cmd, serial))
}

/// The one command `--print-command` prints (serial tests stay in it), with its files written.
pub fn print_only(req: &ShardRun<'_>) -> Result<PytestCommand, RunError> {
    let mut cmd = command::parallel(&req.inputs, req.serial_marker, None);
    cmd.env.extend(req.thread_limits.iter().cloned());
    write_command_files(&cmd)?;
    Ok(cmd)
}

/// Runs both phases and writes the merged JUnit and the manifest.
pub fn run(
    req: &ShardRun<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ShardOutcome, RunError> {
    if !req.inputs.shard.processes.is_empty() {
        return run_processes(req, progress);
    }
    let paths = Paths::new(req.inputs.out_dir, &req.inputs.id.file_stem());
    let (cmd, _) = commands(req);
    write_command_files(&cmd)?;
    // A report or manifest left by an earlier run must never pass for this run's (a crash
    // before pytest writes its file, or this process being killed, would otherwise look green).
    for stale in [
        &cmd.junit_path,
        &cmd.info_path,
        &cmd.collected_path,
        &cmd.outcomes_path,
        &cmd.costs_path,
    ] {
        remove_if_exists(stale)?;
    }
    let stem = req.inputs.id.file_stem();
    paths.remove_stale(req, &stem)?;
    let mut cmd = cmd;
    cmd.env
        .push(coverage::data_file_env(req.inputs.out_dir, &stem, false));
    let host = crate::host::detect();
    let workers = req.inputs.workers;
    let spawned_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let (parallel, parallel_usage) = process::run_sampled(&cmd, req.grace, workers > 1)?;
    // Read before the serial phase, whose process appends its own lines.
    let fixed_costs = ShardCosts::from_records(
        &crate::python::CostRecord::read_all(&cmd.costs_path),
        spawned_at,
        parallel.wall.as_secs_f64(),
    );
    // The user's `--junitxml` won (it came last); keep a copy under our name for `report`.
    copy_user_junit(&cmd, &cmd.junit_path)?;
    let serial = serial_phase(req, &paths, &cmd, &parallel, progress)?;
    let finished = serial.finished.clone().unwrap_or_else(|| parallel.clone());
    let mut resources = Resources::new(
        parallel_usage,
        parallel.wall.as_secs_f64(),
        workers,
        serial.usage,
        host.memory.limit_bytes.or(host.memory.available_bytes),
        Some(usable_cpus(&host.cpus)),
    );
    // A run cut short by a signal measured the crash, not the suite: no advice from it.
    if finished.killed_by.is_some() {
        resources.advice.clear();
    }
    let manifest = Manifest {
        wall_seconds: finished.wall.as_secs_f64(),
        workers,
        exit_code: finished.code,
        signal: finished.killed_by.map(process::Cause::name),
        pytest_started: true,
        python: PythonInfo::read_or(&cmd.info_path, req.inputs.python),
        crashed_workers: crash::crashes_in_file(&cmd.junit_path),
        interrupted_by: finished.interrupted_by.map(process::Cause::name),
        dist: (workers > 1).then(|| req.inputs.dist.to_string()),
        max_worker_restart: cmd.max_worker_restart,
        serial: serial.phase,
        resources: Some(resources),
        collected: Collected::read(&cmd.collected_path).unwrap_or_default(),
        xpassed: Outcomes::read(&cmd.outcomes_path).xpassed,
        net: req
            .inputs
            .net
            .and_then(|n| crate::python::NetOut::read(&n.out)),
        coverage: coverage::kept(
            req.inputs.out_dir,
            &stem,
            coverage::requested(req.inputs.user_args),
            req.inputs.invocation_dir,
        ),
        fixed_costs,
        ..base_manifest(req, &cmd.junit_path)
    };
    write_manifest(&manifest, &paths.manifest)?;
    let nothing_ran = nothing_ran(&manifest, &cmd.collected_path);
    Ok(outcome(manifest, nothing_ran, &finished, &cmd.info_path))
}

/// The commands of a `--launcher processes` shard's processes, as `--dry-run` shows them and
/// `run` starts them, with their files written (each runs as printed).
pub fn process_commands(req: &ShardRun<'_>) -> Result<Vec<PytestCommand>, RunError> {
    let uid = processes::test_run_uid();
    let cmds: Vec<PytestCommand> =
        processes::commands(&req.inputs, req.serial_marker, &req.thread_limits, &uid)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
    for cmd in &cmds {
        write_command_files(cmd)?;
    }
    Ok(cmds)
}

/// `--launcher processes`: the shard's processes side by side (each forwarded signals as one
/// pytest is), then the serial phase as under xdist; their JUnit files become the shard's one
/// (a process that died leaves its results log instead, rebuilt with xdist's crash message),
/// their logs the shard's one, and the manifest records each process.
fn run_processes(
    req: &ShardRun<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ShardOutcome, RunError> {
    let out = req.inputs.out_dir;
    let stem = req.inputs.id.file_stem();
    let paths = Paths::new(out, &stem);
    // The shard-level command is never started: it names the shard's files (JUnit, info,
    // collected, ...) and is what the serial phase is built from.
    let (shard_cmd, _) = commands(req);
    write_command_files(&shard_cmd)?;
    let uid = processes::test_run_uid();
    let procs = processes::commands(&req.inputs, req.serial_marker, &req.thread_limits, &uid);
    for (k, cmd) in &procs {
        write_command_files(cmd)?;
        let pstem = format!("{stem}.p{k}");
        for stale in [
            &cmd.junit_path,
            &cmd.info_path,
            &cmd.collected_path,
            &cmd.outcomes_path,
            &cmd.costs_path,
            &processes::serial_out(out, &pstem),
            &out.join(super::results_log::file_name(&pstem, false)),
        ] {
            remove_if_exists(stale)?;
        }
    }
    for stale in [&shard_cmd.junit_path, &shard_cmd.info_path] {
        remove_if_exists(stale)?;
    }
    paths.remove_stale(req, &stem)?;
    let spawned_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let host = crate::host::detect();
    let cmds: Vec<&PytestCommand> = procs.iter().map(|(_, c)| c).collect();
    let labels: Vec<String> = procs
        .iter()
        .map(|(k, _)| processes::worker_name(*k))
        .collect();
    let (ended, parallel_usage) = process::run_side_by_side(&cmds, &labels, req.grace);
    let ended: Vec<Finished> = ended.into_iter().collect::<Result<_, _>>()?;
    let parallel = processes::fold(&ended);
    // One JUnit, one results log, one list of serial tests, as one xdist pytest leaves them.
    let mut serial_ids: Vec<String> = Vec::new();
    let mut records = Vec::new();
    let mut costs = Vec::new();
    let mut log = String::new();
    for ((k, cmd), finished) in procs.iter().zip(&ended) {
        let pstem = format!("{stem}.p{k}");
        let worker = processes::worker_name(*k);
        let log_path = out.join(super::results_log::file_name(&pstem, false));
        if !cmd.junit_path.exists()
            && let Some(l) = super::results_log::read(&log_path)
        {
            let xml = processes::junit_from_log(&l, &worker);
            fs_err::write(&cmd.junit_path, xml).map_err(|source| RunError::Output {
                path: cmd.junit_path.clone(),
                source,
            })?;
        }
        if cmd.junit_path.exists()
            && let Err(error) = rewrite::append_suites_file(&shard_cmd.junit_path, &cmd.junit_path)
        {
            progress(Progress::MergeFailed {
                error,
                kept: cmd.junit_path.clone(),
            });
        }
        if let Ok(text) = fs_err::read_to_string(&log_path) {
            log.push_str(&text);
            if !text.is_empty() && !text.ends_with('\n') {
                log.push('\n');
            }
        }
        serial_ids.extend(
            serial::read_serial_ids(&processes::serial_out(out, &pstem)).unwrap_or_default(),
        );
        costs.extend(ShardCosts::from_records(
            &crate::python::CostRecord::read_all(&cmd.costs_path),
            spawned_at,
            finished.wall.as_secs_f64(),
        ));
        records.push(ProcessRecord {
            worker,
            exit_code: finished.code,
            signal: finished.killed_by.map(process::Cause::name),
            wall_seconds: finished.wall.as_secs_f64(),
        });
    }
    let write = |path: &Path, text: &str| {
        fs_err::write(path, text).map_err(|source| RunError::Output {
            path: path.to_path_buf(),
            source,
        })
    };
    write(&paths.results_log, &log)?;
    if !serial_ids.is_empty() {
        write(
            &paths.serial_out,
            &serial_ids
                .iter()
                .map(|i| format!("{i}\n"))
                .collect::<String>(),
        )?;
    }
    // The interpreter as the first process that got far enough recorded it.
    if let Some((_, first)) = procs.iter().find(|(_, c)| c.info_path.exists()) {
        copy(&first.info_path, &shard_cmd.info_path)?;
    }
    let serial = serial_phase(req, &paths, &shard_cmd, &parallel, progress)?;
    let finished = serial.finished.clone().unwrap_or_else(|| parallel.clone());
    let collected = processes::merge_collected(
        procs
            .iter()
            .filter_map(|(_, c)| Collected::read(&c.collected_path)),
    );
    let any_collected = procs.iter().any(|(_, c)| c.collected_path.exists());
    let mut resources = Resources::new(
        parallel_usage,
        parallel.wall.as_secs_f64(),
        procs.len() as u32,
        serial.usage,
        host.memory.limit_bytes.or(host.memory.available_bytes),
        Some(usable_cpus(&host.cpus)),
    );
    if finished.killed_by.is_some() {
        resources.advice.clear();
    }
    let manifest = Manifest {
        wall_seconds: finished.wall.as_secs_f64(),
        workers: req.inputs.shard.processes.len() as u32,
        exit_code: finished.code,
        signal: finished.killed_by.map(process::Cause::name),
        pytest_started: true,
        python: PythonInfo::read_or(&shard_cmd.info_path, req.inputs.python),
        crashed_workers: crash::crashes_in_file(&shard_cmd.junit_path),
        interrupted_by: finished.interrupted_by.map(process::Cause::name),
        serial: serial.phase,
        resources: Some(resources),
        collected,
        xpassed: procs
            .iter()
            .flat_map(|(_, c)| Outcomes::read(&c.outcomes_path).xpassed)
            .collect(),
        net: req
            .inputs
            .net
            .and_then(|n| crate::python::NetOut::read(&n.out)),
        coverage: coverage::kept(
            out,
            &stem,
            coverage::requested(req.inputs.user_args),
            req.inputs.invocation_dir,
        ),
        fixed_costs: processes::merge_costs(&costs),
        launcher: Some(crate::plan::processes::Launcher::Processes.to_string()),
        processes: records,
        ..base_manifest(req, &shard_cmd.junit_path)
    };
    write_manifest(&manifest, &paths.manifest)?;
    let nothing_ran = if any_collected {
        nothing_ran_in(&manifest)
    } else {
        None
    };
    Ok(outcome(
        manifest,
        nothing_ran,
        &finished,
        &shard_cmd.info_path,
    ))
}

/// How a shard that started pytest ended; a shard whose planned tests all went away exits 0
/// and says so (`nothing_ran`).
fn outcome(
    manifest: Manifest,
    nothing_ran: Option<NothingRan>,
    finished: &Finished,
    info_path: &Path,
) -> ShardOutcome {
    ShardOutcome {
        exit_code: if nothing_ran.is_some() {
            0
        } else {
            process::exit_code(finished)
        },
        nothing_ran,
        manifest,
        killed_by: finished.killed_by,
        interrupted_by: finished.interrupted_by,
        plugins_loaded: info_path.exists(),
    }
}

/// A shard the plan gave no tests: pytest is not started; an empty but valid report and the
/// manifest are written, so artifact globs and `report` find this shard's files.
pub fn run_empty(req: &ShardRun<'_>) -> Result<ShardOutcome, RunError> {
    let out_dir = req.inputs.out_dir;
    let stem = req.inputs.id.file_stem();
    fs_err::create_dir_all(out_dir).map_err(|source| RunError::Output {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let junit = out_dir.join(format!("junit-{stem}.xml"));
    fs_err::write(&junit, rewrite::EMPTY_REPORT).map_err(|source| RunError::Output {
        path: junit.clone(),
        source,
    })?;
    let manifest = Manifest {
        workers: 0,
        ..base_manifest(req, &junit)
    };
    let manifest_path = Paths::new(out_dir, &stem).manifest;
    write_manifest(&manifest, &manifest_path)?;
    Ok(ShardOutcome {
        exit_code: 0,
        nothing_ran: None,
        manifest,
        killed_by: None,
        interrupted_by: None,
        plugins_loaded: false,
    })
}

/// What the serial phase added: its record for the manifest, how the shard ended counting
/// both phases (`None`: the phase did not run), and its measurements.
struct SerialResult {
    phase: Option<SerialPhase>,
    finished: Option<Finished>,
    usage: Option<ResourceUsage>,
}

fn serial_phase(
    req: &ShardRun<'_>,
    paths: &Paths,
    parallel_cmd: &PytestCommand,
    parallel: &Finished,
    progress: &mut dyn FnMut(Progress),
) -> Result<SerialResult, RunError> {
    let none = SerialResult {
        phase: None,
        finished: None,
        usage: None,
    };
    let ids = serial::read_serial_ids(&paths.serial_out).unwrap_or_default();
    if ids.is_empty() {
        return Ok(none);
    }
    let started =
        parallel.interrupted_by.is_none() && serial::run_serial_phase(parallel.code, &ids);
    let mut phase = SerialPhase {
        node_ids: ids,
        started,
        ..SerialPhase::default()
    };
    if !started {
        progress(Progress::SerialSkipped {
            tests: phase.node_ids.len(),
            parallel_exit: parallel.code,
        });
        return Ok(SerialResult {
            phase: Some(phase),
            ..none
        });
    }
    progress(Progress::SerialStarting {
        tests: phase.node_ids.len(),
    });
    let xdist = PythonInfo::read_or(&parallel_cmd.info_path, req.inputs.python)
        .xdist
        .is_some();
    let mut cmd = command::serial(&req.inputs, req.serial_marker, &paths.serial_junit, xdist);
    cmd.env.push(coverage::data_file_env(
        req.inputs.out_dir,
        &req.inputs.id.file_stem(),
        true,
    ));
    write_command_files(&cmd)?;
    let (ended, usage) = process::run_sampled(&cmd, req.grace, false)?;
    copy_user_junit(&cmd, &paths.serial_junit)?;
    phase.junit_missing = !paths.serial_junit.exists();
    let merged = merge_serial_junit(parallel_cmd, &paths.serial_junit, progress)?;
    phase.exit_code = ended.code;
    phase.signal = ended.killed_by.map(process::Cause::name);
    phase.wall_seconds = ended.wall.as_secs_f64();
    let finished = Finished {
        // A serial phase killed by a signal has no code: neither has the shard.
        code: ended
            .code
            .and_then(|_| serial::combine_exit_codes(parallel.code, ended.code))
            // Missing results must not read as green.
            .map(|c| if !merged && matches!(c, 0 | 5) { 1 } else { c }),
        killed_by: parallel.killed_by.or(ended.killed_by),
        interrupted_by: parallel.interrupted_by.or(ended.interrupted_by),
        wall: parallel.wall + ended.wall,
    };
    Ok(SerialResult {
        phase: Some(phase),
        finished: Some(finished),
        usage: Some(usage),
    })
}

/// Appends the serial phase's JUnit to the shard's; `false` when that failed (both files stay).
fn merge_serial_junit(
    parallel_cmd: &PytestCommand,
    serial_junit: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<bool, RunError> {
    if !serial_junit.exists() {
        return Ok(true);
    }
    if let Err(error) = rewrite::append_suites_file(&parallel_cmd.junit_path, serial_junit) {
        progress(Progress::MergeFailed {
            error,
            kept: serial_junit.to_path_buf(),
        });
        return Ok(false);
    }
    if let Some(user_junit) = &parallel_cmd.user_junit {
        copy(&parallel_cmd.junit_path, user_junit)?;
    }
    Ok(true)
}

/// The manifest of a shard before pytest ran: what the plan said, nothing measured.
fn base_manifest(req: &ShardRun<'_>, junit: &Path) -> Manifest {
    let shard = req.inputs.shard;
    Manifest {
        manifest_version: MANIFEST_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        fingerprint: req.fingerprint.to_string(),
        shard_index: req.inputs.id.index,
        shard_total: req.inputs.id.total,
        selection: Selection {
            files: shard.files.clone(),
            node_ids: shard.node_ids.clone(),
            deselect: shard.deselect.clone(),
        },
        predicted_seconds: shard.predicted_seconds,
        estimated: shard.estimated,
        wall_seconds: 0.0,
        workers: req.inputs.workers,
        exit_code: None,
        signal: None,
        pytest_started: false,
        junit_file: junit
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        python: PythonInfo {
            executable: req.inputs.python.to_path_buf(),
            ..PythonInfo::default()
        },
        crashed_workers: Vec::new(),
        interrupted_by: None,
        dist: None,
        max_worker_restart: None,
        serial: None,
        resources: None,
        collected: Collected::default(),
        xpassed: Vec::new(),
        net: None,
        thread_limits: req.thread_limits.iter().cloned().collect(),
        timings_source: req.timings_source.cloned(),
        coverage: None,
        predicted_cost: shard.cost.clone(),
        fixed_costs: None,
        launcher: None,
        processes: Vec::new(),
    }
}

fn write_manifest(manifest: &Manifest, path: &Path) -> Result<(), RunError> {
    manifest.write(path).map_err(|source| RunError::Output {
        path: path.to_path_buf(),
        source,
    })
}

/// When the user's own `--junitxml` won, copies their report to `to` for `report`.
fn copy_user_junit(cmd: &PytestCommand, to: &Path) -> Result<(), RunError> {
    match &cmd.user_junit {
        Some(user_junit) if user_junit.exists() => copy(user_junit, to),
        _ => Ok(()),
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), RunError> {
    fs_err::copy(from, to)
        .map(|_| ())
        .map_err(|source| RunError::Copy {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            source,
        })
}

fn write_command_files(cmd: &PytestCommand) -> Result<(), RunError> {
    for (path, contents) in &cmd.files {
        let error = |source| RunError::CommandFile {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(error)?;
        }
        fs_err::write(path, contents).map_err(error)?;
    }
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<(), RunError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RunError::Stale {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// CPUs the shard may use, as a fraction: the cgroup quota (1.5 CPUs) when there is one,
/// never more than the CPUs it may run on.
fn usable_cpus(cpus: &crate::host::Cpus) -> f64 {
    let on = f64::from(cpus.affinity.unwrap_or(cpus.online).max(1));
    cpus.quota.map_or(f64::from(cpus.effective), |q| q.min(on))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ShardPlan;

    fn sp(files: usize, node_ids: usize, workers: u32) -> ShardPlan {
        ShardPlan {
            index: 1,
            predicted_seconds: 2.0,
            workers,
            files: (0..files).map(|i| format!("t{i}.py")).collect(),
            node_ids: (0..node_ids).map(|i| format!("x.py::t[{i}]")).collect(),
            deselect: vec![],
            estimated: false,
            cost: None,
            processes: Vec::new(),
        }
    }

    fn request<'a>(shard: &'a ShardPlan, out_dir: &'a Path) -> ShardRun<'a> {
        ShardRun {
            inputs: command::Inputs {
                python: Path::new("/venv/bin/python"),
                rootdir: Path::new("/repo"),
                invocation_dir: Path::new("/repo"),
                out_dir,
                id: crate::ci::Shard { index: 2, total: 3 },
                shard,
                workers: 2,
                dist: "load",
                argv_budget: command::ARGV_PATH_BUDGET,
                net: None,
                process: None,
                user_args: &[],
            },
            serial_marker: "db",
            grace: Duration::from_secs(1),
            fingerprint: "f",
            thread_limits: Vec::new(),
            timings_source: None,
        }
    }

    #[test]
    fn commands_split_the_serial_tests_into_a_second_process() {
        let shard = sp(1, 0, 2);
        let req = request(&shard, Path::new("/repo/.pp"));
        let (parallel, serial) = commands(&req);
        assert!(
            parallel
                .args
                .contains(&"--parallel-pytest-serial-out=/repo/.pp/serial-2-of-3.txt".to_string())
        );
        assert!(
            parallel
                .args
                .contains(&"--parallel-pytest-serial-marker=db".to_string())
        );
        assert_eq!(
            serial.junit_path,
            Path::new("/repo/.pp/junit-2-of-3.serial.xml")
        );
        assert!(
            serial
                .args
                .contains(&"--parallel-pytest-phase=serial".to_string())
        );
        let m = base_manifest(&req, &parallel.junit_path);
        assert_eq!(
            (m.shard_index, m.junit_file.as_str()),
            (2, "junit-2-of-3.xml")
        );
        assert_eq!(m.manifest_version, MANIFEST_VERSION);
    }

    #[test]
    fn an_empty_shard_writes_an_empty_report_and_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let shard = sp(0, 0, 2);
        let outcome = run_empty(&request(&shard, &out)).unwrap();
        assert_eq!(outcome.exit_code, 0);
        assert!(!outcome.manifest.pytest_started);
        assert_eq!(outcome.manifest.workers, 0);
        let junit = std::fs::read_to_string(out.join("junit-2-of-3.xml")).unwrap();
        assert_eq!(junit, rewrite::EMPTY_REPORT);
        let written: Manifest =
            serde_json::from_str(&std::fs::read_to_string(out.join("shard-2-of-3.json")).unwrap())
                .unwrap();
        assert_eq!(written, outcome.manifest);
    }
}
