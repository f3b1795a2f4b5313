//! Spawn pytest with its output streaming straight through (inherited stdout/stderr: byte for
//! byte, colours and progress intact), keep pytest and its xdist workers together so nothing
//! outlives us, forward CI cancellation, and report how it ended.
//!
//! Unix ([`unix`]): pytest gets its own process group. On the first SIGINT or SIGTERM we send
//! **SIGINT** to the group, whatever we received: Python turns SIGINT into
//! `KeyboardInterrupt`, so pytest (and the xdist controller) stops, writes its JUnit report and
//! exits 2, while SIGTERM would kill Python on the spot with no report. After the grace period
//! (or on a second signal) the group gets SIGTERM, and two seconds later SIGKILL.
//!
//! Windows ([`windows`]): pytest and its workers live in a Job Object, pytest leads its own
//! console process group. On Ctrl-C, Ctrl-Break or a console close we send **CTRL_BREAK** to
//! that group (the only console event a new process group receives; our plugin turns it into
//! `KeyboardInterrupt`), and after the grace period (or on a second event) the job is
//! terminated. The crate `process-wrap` does the Job Object part: it creates the process
//! suspended, assigns it to the job and only then resumes it, which hand-written FFI would have
//! to get exactly right too; `windows` supplies the one console call it lacks.

use std::path::PathBuf;
use std::time::Duration;

use super::command::PytestCommand;
use crate::host::usage::ResourceUsage;
use crate::host::usage::kernel;
use crate::host::usage::sampler::{self, Sampler};

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;
#[cfg(unix)]
use unix::run_async;
#[cfg(windows)]
use windows::run_async;

/// Default time pytest gets between our interrupt and the hard stop. GitHub Actions sends
/// SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after that; GitLab gives a job's script
/// a similar window. Five seconds is enough for pytest to write a JUnit report.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What stopped pytest, or what this job received: named the way the platform names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A Unix signal (`SIGKILL`, 9).
    Signal { name: &'static str, number: i32 },
    /// A Windows exception status pytest exited with (`0xC0000005`, an access violation).
    Exception(u32),
    /// A Windows console event this job received (`CTRL_C_EVENT`).
    Console(&'static str),
    /// We terminated pytest's Job Object after the grace period (Windows).
    JobTerminated,
}

impl Cause {
    /// The name written to the shard manifest (`signal`, `interrupted_by`).
    pub fn name(self) -> String {
        match self {
            Cause::Signal { name, .. } | Cause::Console(name) => name.to_owned(),
            Cause::Exception(code) => match exception_name(code) {
                Some((name, _)) => name.to_owned(),
                None => format!("0x{code:08X}"),
            },
            Cause::JobTerminated => "TerminateJobObject".to_owned(),
        }
    }
}

/// How the pytest process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// pytest's exit code, when it exited on its own.
    pub code: Option<i32>,
    /// What killed pytest, when it did not exit on its own.
    pub killed_by: Option<Cause>,
    /// The first signal or console event we received and forwarded (CI cancellation, Ctrl-C).
    pub interrupted_by: Option<Cause>,
    pub wall: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("`{program}` was not found")]
    NotFound { program: String },
    #[error("permission denied running `{program}`")]
    PermissionDenied { program: String },
    #[error("failed to start `{program}`")]
    Other {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to wait for pytest")]
    Wait(#[source] std::io::Error),
    #[error("failed to install a signal handler")]
    Signals(#[source] std::io::Error),
}

impl SpawnError {
    fn spawn(program: &str, source: std::io::Error) -> SpawnError {
        let program = program.to_owned();
        match source.kind() {
            std::io::ErrorKind::NotFound => SpawnError::NotFound { program },
            std::io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied { program },
            _ => SpawnError::Other { program, source },
        }
    }
}

/// Run the command to completion (see the module doc for signals).
pub fn run(cmd: &PytestCommand, grace: Duration) -> Result<Finished, SpawnError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SpawnError::Signals)?;
    runtime.block_on(run_async(cmd, grace, &mut |_| {}))
}

/// [`run`], sampling pytest's process tree from `/proc` while it runs (where there is no
/// `/proc` the usage says "not measured"). `xdist`: whether pytest starts workers, which
/// decides who counts as a worker.
pub fn run_sampled(
    cmd: &PytestCommand,
    grace: Duration,
    xdist: bool,
) -> Result<(Finished, ResourceUsage), SpawnError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SpawnError::Signals)?;
    let mut sampler = None;
    let before = kernel::reaped();
    let finished = runtime.block_on(run_async(cmd, grace, &mut |pid| {
        sampler = Some(Sampler::start(
            PathBuf::from("/proc"),
            pid,
            xdist,
            sampler::DEFAULT_INTERVAL,
        ));
    }));
    let usage = sampler
        .map(Sampler::stop)
        .unwrap_or_default()
        .with_reaped(before, kernel::reaped());
    Ok((finished?, usage))
}

/// Several commands side by side (`--launcher processes`), each as [`run_sampled`] runs one
/// (its own process group, signals forwarded to it), each sampled as a plain pytest. The usage
/// is theirs together: CPU seconds from the kernel over the whole phase (a per-process figure
/// from the kernel would count the others reaped meanwhile), the sum of each process's peak
/// memory (an upper bound: their samples are not simultaneous), one worker row per process
/// named `labels[k]`.
pub fn run_side_by_side(
    cmds: &[&PytestCommand],
    labels: &[String],
    grace: Duration,
) -> (Vec<Result<Finished, SpawnError>>, ResourceUsage) {
    let before = kernel::reaped();
    let ended: Vec<(Result<Finished, SpawnError>, Option<ResourceUsage>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = cmds
                .iter()
                .map(|cmd| {
                    scope.spawn(move || {
                        let runtime = match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(r) => r,
                            Err(e) => return (Err(SpawnError::Signals(e)), None),
                        };
                        let mut sampler = None;
                        let finished = runtime.block_on(run_async(cmd, grace, &mut |pid| {
                            sampler = Some(Sampler::start(
                                PathBuf::from("/proc"),
                                pid,
                                false,
                                sampler::DEFAULT_INTERVAL,
                            ));
                        }));
                        (finished, sampler.map(Sampler::stop))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
    let mut usage = ResourceUsage::default();
    let mut results = Vec::with_capacity(ended.len());
    for (k, (finished, sampled)) in ended.into_iter().enumerate() {
        results.push(finished);
        let Some(u) = sampled else { continue };
        usage.measured |= u.measured;
        usage.samples = if k == 0 {
            u.samples
        } else {
            usage.samples.min(u.samples)
        };
        usage.cpu_seconds += u.cpu_seconds;
        usage.peak_rss_bytes += u.peak_rss_bytes;
        usage.cpu_wait_seconds = match (usage.cpu_wait_seconds, u.cpu_wait_seconds) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let label = labels.get(k).cloned().unwrap_or_default();
        usage.workers.extend(u.workers.into_iter().map(|mut w| {
            w.label.clone_from(&label);
            w
        }));
    }
    (results, usage.with_reaped(before, kernel::reaped()))
}

/// The command with pytest's environment, not yet spawned (both platforms add their own
/// grouping on top).
fn command(cmd: &PytestCommand) -> std::process::Command {
    let mut c = std::process::Command::new(&cmd.program);
    // Forge tokens never reach the tests (they could read them or print them into artifacts).
    for var in crate::env_vars::token_variables(|v| std::env::var(v).ok()) {
        c.env_remove(var);
    }
    c.args(&cmd.args)
        .current_dir(&cmd.cwd)
        .env(
            "PYTHONPATH",
            crate::python::python_path(&cmd.plugin_dir, std::env::var_os("PYTHONPATH")),
        )
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit());
    c
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The exit code `run` returns for a finished pytest: its own code, 128 + signal number (the
/// shell convention) when a Unix signal killed it, else 1.
pub fn exit_code(f: &Finished) -> u8 {
    match (f.code, f.killed_by) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(Cause::Signal { number, .. })) => {
            128u8.saturating_add(u8::try_from(number).unwrap_or(0))
        }
        (None, _) => 1,
    }
}

/// One line explaining how pytest died, with the likely cause for SIGKILL.
pub fn signal_message(killed_by: Cause, interrupted_by: Option<Cause>) -> String {
    let mut line = match killed_by {
        Cause::Signal { name, number } => format!("pytest was killed by {name} (signal {number})"),
        Cause::Exception(code) => match exception_name(code) {
            Some((_, what)) => format!("pytest crashed: {what} (exit code 0x{code:08X})"),
            None => format!("pytest crashed with exit code 0x{code:08X}"),
        },
        Cause::Console(name) => format!("pytest was stopped by {name}"),
        Cause::JobTerminated => "pytest and its workers were terminated".to_owned(),
    };
    let sigkill = matches!(
        killed_by,
        Cause::Signal {
            name: "SIGKILL",
            ..
        }
    );
    if sigkill && interrupted_by.is_none() {
        line.push_str(
            ": nobody here sent it, so most likely the kernel's out-of-memory killer; \
             give the job more memory or run fewer workers (`--workers`, `--memory-per-worker`)",
        );
    } else if let Some(by) = interrupted_by {
        line.push_str(&format!(
            " after this job received {} and pytest did not stop within the grace period",
            by.name()
        ));
    }
    line
}

/// The Windows exception statuses (NTSTATUS) a crashed Python exits with: the constant's name
/// and what it means. `None` for anything else.
pub fn exception_name(code: u32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0xC000_0005 => ("STATUS_ACCESS_VIOLATION", "access violation"),
        0xC000_00FD => ("STATUS_STACK_OVERFLOW", "stack overflow"),
        0xC000_0409 => (
            "STATUS_STACK_BUFFER_OVERRUN",
            "stack buffer overrun (a fast-fail abort)",
        ),
        0xC000_013A => ("STATUS_CONTROL_C_EXIT", "stopped by Ctrl-C or Ctrl-Break"),
        0xC000_0017 => ("STATUS_NO_MEMORY", "out of memory"),
        0xC000_001D => ("STATUS_ILLEGAL_INSTRUCTION", "illegal instruction"),
        0xC000_0094 => ("STATUS_INTEGER_DIVIDE_BY_ZERO", "integer division by zero"),
        0xC000_0096 => ("STATUS_PRIVILEGED_INSTRUCTION", "privileged instruction"),
        0xC000_0135 => ("STATUS_DLL_NOT_FOUND", "a DLL was not found"),
        0xC000_0142 => ("STATUS_DLL_INIT_FAILED", "a DLL failed to initialise"),
        0xC000_0374 => ("STATUS_HEAP_CORRUPTION", "heap corruption"),
        0x8000_0003 => ("STATUS_BREAKPOINT", "breakpoint"),
        _ => return None,
    })
}

/// Splits a Windows exit code into pytest's own code or the exception that ended it: codes
/// with the NTSTATUS error (`0xC…`) or warning (`0x8…`) severity are exceptions, not codes a
/// Python program chooses.
#[cfg_attr(not(windows), allow(dead_code))]
fn windows_exit(code: i32) -> (Option<i32>, Option<Cause>) {
    let raw = code as u32;
    if raw >= 0x8000_0000 {
        (None, Some(Cause::Exception(raw)))
    } else {
        (Some(code), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(name: &'static str, number: i32) -> Cause {
        Cause::Signal { name, number }
    }

    #[test]
    fn exit_codes() {
        let f = |code, killed_by| Finished {
            code,
            killed_by,
            interrupted_by: None,
            wall: Duration::ZERO,
        };
        assert_eq!(exit_code(&f(Some(0), None)), 0);
        assert_eq!(exit_code(&f(Some(5), None)), 5);
        assert_eq!(exit_code(&f(None, Some(sig("SIGKILL", 9)))), 137);
        assert_eq!(exit_code(&f(None, Some(sig("SIGSEGV", 11)))), 139);
        assert_eq!(exit_code(&f(None, Some(Cause::Exception(0xC000_0005)))), 1);
        assert_eq!(exit_code(&f(None, Some(Cause::JobTerminated))), 1);
    }

    #[test]
    fn sigkill_message_suggests_memory() {
        let m = signal_message(sig("SIGKILL", 9), None);
        assert!(
            m.starts_with("pytest was killed by SIGKILL (signal 9)"),
            "{m}"
        );
        assert!(m.contains("memory"), "{m}");
        let m = signal_message(sig("SIGKILL", 9), Some(sig("SIGTERM", 15)));
        assert!(m.contains("received SIGTERM"), "{m}");
    }

    #[test]
    fn windows_exit_codes_are_described_like_signals() {
        let (code, cause) = windows_exit(0xC000_0005_u32 as i32);
        assert_eq!(code, None);
        let cause = cause.unwrap();
        assert_eq!(cause.name(), "STATUS_ACCESS_VIOLATION");
        let m = signal_message(cause, None);
        assert!(m.starts_with("pytest crashed: access violation"), "{m}");
        assert!(m.contains("0xC0000005"), "{m}");
        for (raw, what) in [
            (0xC000_00FD, "stack overflow"),
            (0xC000_0409, "stack buffer overrun"),
            (0xC000_013A, "Ctrl-C"),
        ] {
            let m = signal_message(Cause::Exception(raw), None);
            assert!(m.contains(what), "{m}");
        }
        let unknown = Cause::Exception(0xC0DE_0001);
        assert_eq!(unknown.name(), "0xC0DE0001");
        assert_eq!(
            signal_message(unknown, None),
            "pytest crashed with exit code 0xC0DE0001"
        );
        // pytest's own codes stay codes.
        assert_eq!(windows_exit(2), (Some(2), None));
        assert_eq!(windows_exit(0), (Some(0), None));
    }

    #[test]
    fn terminated_job_names_the_console_event() {
        let m = signal_message(Cause::JobTerminated, Some(Cause::Console("CTRL_C_EVENT")));
        assert!(m.contains("terminated"), "{m}");
        assert!(m.contains("received CTRL_C_EVENT"), "{m}");
        assert_eq!(Cause::JobTerminated.name(), "TerminateJobObject");
    }
}
