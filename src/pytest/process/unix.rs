//! pytest in its own process group; signals forwarded to the group (see the module doc above).

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use super::{Cause, Finished, SpawnError, command, sleep_until};
use crate::pytest::command::PytestCommand;

const KILL_AFTER_TERM: Duration = Duration::from_secs(2);

impl From<Signal> for Cause {
    fn from(sig: Signal) -> Cause {
        Cause::Signal {
            name: sig.as_str(),
            number: sig as i32,
        }
    }
}

pub(super) async fn run_async(
    cmd: &PytestCommand,
    grace: Duration,
    on_spawn: &mut dyn FnMut(u32),
) -> Result<Finished, SpawnError> {
    // Install the handlers before spawning so a cancellation in between is not lost.
    let mut sigint = signal(SignalKind::interrupt()).map_err(SpawnError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(SpawnError::Signals)?;

    let start = Instant::now();
    let mut child = tokio::process::Command::from(command(cmd))
        // Its own group: the whole xdist tree gets our forwarded signal, and a terminal's
        // Ctrl-C reaches us (foreground group) rather than racing us to pytest.
        .process_group(0)
        .spawn()
        .map_err(|source| SpawnError::spawn(&cmd.program, source))?;
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
        killed_by: status
            .signal()
            .and_then(|s| Signal::try_from(s).ok())
            .map(Cause::from),
        interrupted_by: interrupted_by.map(Cause::from),
        wall,
    }
}
