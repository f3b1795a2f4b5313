//! Spawn pytest in its own process group with its output streaming straight through
//! (inherited stdout/stderr: byte for byte, colours and progress intact), forward CI
//! cancellation to the group, and report how it ended.
//!
//! Signals: on the first SIGINT or SIGTERM we send **SIGINT** to pytest's group, whatever we
//! received: Python turns SIGINT into `KeyboardInterrupt`, so pytest (and the xdist controller)
//! stops, writes its JUnit report and exits 2, while SIGTERM would kill Python on the spot with
//! no report. After the grace period (or on a second signal) the group gets SIGTERM, and two
//! seconds later SIGKILL.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use super::command::PytestCommand;
use crate::host::usage::ResourceUsage;
use crate::host::usage::kernel;
use crate::host::usage::sampler::{self, Sampler};

/// Default time pytest gets between our SIGINT and SIGTERM. GitHub Actions sends SIGINT, then
/// SIGTERM 7.5 s later, then SIGKILL 2.5 s after that; GitLab gives a job's script a similar
/// window. Five seconds is enough for pytest to write a JUnit report.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
const KILL_AFTER_TERM: Duration = Duration::from_secs(2);

/// How the pytest process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// pytest's exit code, when it exited on its own.
    pub code: Option<i32>,
    /// The signal that killed pytest, when it did not exit on its own.
    pub killed_by: Option<Signal>,
    /// The first signal we received and forwarded (CI cancellation or Ctrl-C).
    pub interrupted_by: Option<Signal>,
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

/// Run the command to completion (see the module doc for signals).
pub fn run(cmd: &PytestCommand, grace: Duration) -> Result<Finished, SpawnError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SpawnError::Signals)?;
    runtime.block_on(run_async(cmd, grace, &mut |_| {}))
}

/// [`run`], sampling pytest's process tree from `/proc` while it runs. `xdist`:
/// whether pytest starts workers, which decides who counts as a worker.
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

async fn run_async(
    cmd: &PytestCommand,
    grace: Duration,
    on_spawn: &mut dyn FnMut(u32),
) -> Result<Finished, SpawnError> {
    // Install the handlers before spawning so a cancellation in between is not lost.
    let mut sigint = signal(SignalKind::interrupt()).map_err(SpawnError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(SpawnError::Signals)?;

    let start = Instant::now();
    let mut command = tokio::process::Command::new(&cmd.program);
    for var in crate::env_vars::token_variables(|v| std::env::var(v).ok()) {
        command.env_remove(var);
    }
    let mut child = command
        .args(&cmd.args)
        .current_dir(&cmd.cwd)
        .env(
            "PYTHONPATH",
            crate::python::python_path(&cmd.plugin_dir, std::env::var_os("PYTHONPATH")),
        )
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        // Its own group: the whole xdist tree gets our forwarded signal, and a terminal's
        // Ctrl-C reaches us (foreground group) rather than racing us to pytest.
        .process_group(0)
        .spawn()
        .map_err(|source| {
            let program = cmd.program.clone();
            match source.kind() {
                std::io::ErrorKind::NotFound => SpawnError::NotFound { program },
                std::io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied { program },
                _ => SpawnError::Other { program, source },
            }
        })?;
    if let Some(pid) = child.id() {
        on_spawn(pid);
    }
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);

    let send = |sig: Signal| {
        if let Some(pgid) = pgid {
            // ESRCH (group already gone) is fine: pytest is exiting anyway.
            let _ = killpg(pgid, sig);
        }
    };

    let mut interrupted_by: Option<Signal> = None;
    // Next escalation step and when it is due.
    let mut escalation: Option<(Signal, tokio::time::Instant)> = None;
    let status: ExitStatus = loop {
        let due = escalation.map(|(_, at)| at);
        tokio::select! {
            status = child.wait() => break status.map_err(SpawnError::Wait)?,
            Some(()) = sigint.recv() => {
                escalation = on_signal(Signal::SIGINT, &mut interrupted_by, escalation, grace, &send);
            }
            Some(()) = sigterm.recv() => {
                escalation = on_signal(Signal::SIGTERM, &mut interrupted_by, escalation, grace, &send);
            }
            _ = sleep_until(due), if due.is_some() => {
                if let Some((sig, _)) = escalation {
                    send(sig);
                    escalation = match sig {
                        Signal::SIGTERM => Some((Signal::SIGKILL, tokio::time::Instant::now() + KILL_AFTER_TERM)),
                        _ => None,
                    };
                }
            }
        }
    };
    if interrupted_by.is_some() {
        // Leftover workers of a cancelled run must not outlive the job step.
        send(Signal::SIGKILL);
    }
    Ok(finished(status, interrupted_by, start.elapsed()))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// First signal: SIGINT to the group, SIGTERM due after the grace period. A second signal:
/// SIGTERM now, SIGKILL shortly after.
fn on_signal(
    received: Signal,
    interrupted_by: &mut Option<Signal>,
    escalation: Option<(Signal, tokio::time::Instant)>,
    grace: Duration,
    send: &impl Fn(Signal),
) -> Option<(Signal, tokio::time::Instant)> {
    let now = tokio::time::Instant::now();
    if interrupted_by.is_none() {
        *interrupted_by = Some(received);
        send(Signal::SIGINT);
        return Some((Signal::SIGTERM, now + grace));
    }
    match escalation {
        Some((Signal::SIGTERM, _)) => {
            send(Signal::SIGTERM);
            Some((Signal::SIGKILL, now + KILL_AFTER_TERM))
        }
        other => other,
    }
}

fn finished(status: ExitStatus, interrupted_by: Option<Signal>, wall: Duration) -> Finished {
    use std::os::unix::process::ExitStatusExt;
    Finished {
        code: status.code(),
        killed_by: status.signal().and_then(|s| Signal::try_from(s).ok()),
        interrupted_by,
        wall,
    }
}

/// The exit code `run` returns for a finished pytest: its own code, or 128 + signal number
/// (the shell convention) when a signal killed it.
pub fn exit_code(f: &Finished) -> u8 {
    match (f.code, f.killed_by) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => 128u8.saturating_add(sig as i32 as u8),
        (None, None) => 1,
    }
}

/// One line explaining a death by signal, with the likely cause for SIGKILL.
pub fn signal_message(sig: Signal, interrupted_by: Option<Signal>) -> String {
    let mut line = format!(
        "pytest was killed by {} (signal {})",
        sig.as_str(),
        sig as i32
    );
    if sig == Signal::SIGKILL && interrupted_by.is_none() {
        line.push_str(
            ": nobody here sent it, so most likely the kernel's out-of-memory killer; \
             give the job more memory or run fewer workers (`--workers`, `--memory-per-worker`)",
        );
    } else if let Some(by) = interrupted_by {
        line.push_str(&format!(
            " after this job received {} and pytest did not stop within the grace period",
            by.as_str()
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(exit_code(&f(None, Some(Signal::SIGKILL))), 137);
        assert_eq!(exit_code(&f(None, Some(Signal::SIGSEGV))), 139);
    }

    #[test]
    fn sigkill_message_suggests_memory() {
        let m = signal_message(Signal::SIGKILL, None);
        assert!(
            m.starts_with("pytest was killed by SIGKILL (signal 9)"),
            "{m}"
        );
        assert!(m.contains("memory"), "{m}");
        let m = signal_message(Signal::SIGKILL, Some(Signal::SIGTERM));
        assert!(m.contains("received SIGTERM"), "{m}");
    }
}
