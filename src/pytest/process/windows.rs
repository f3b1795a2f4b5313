//! pytest in a Job Object and its own console process group; console events forwarded as
//! CTRL_BREAK, the job terminated after the grace period (see the module doc above).

use std::time::{Duration, Instant};

use process_wrap::tokio::{CreationFlags, JobObject, KillOnDrop, TokioCommandWrap};
use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
use windows::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
use windows::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;

use super::{Cause, Finished, SpawnError, command, sleep_until, windows_exit};
use crate::pytest::command::PytestCommand;

pub(super) async fn run_async(
    cmd: &PytestCommand,
    grace: Duration,
    on_spawn: &mut dyn FnMut(u32),
) -> Result<Finished, SpawnError> {
    // Install the handlers before spawning so a cancellation in between is not lost.
    let mut on_c = ctrl_c().map_err(SpawnError::Signals)?;
    let mut on_break = ctrl_break().map_err(SpawnError::Signals)?;
    let mut on_close = ctrl_close().map_err(SpawnError::Signals)?;

    let start = Instant::now();
    let mut wrapped = TokioCommandWrap::from(tokio::process::Command::from(command(cmd)));
    // Creation flags before the job (process-wrap merges them into its suspended start);
    // kill-on-drop makes closing the job at the end take any leftover worker with it.
    wrapped
        .wrap(CreationFlags(CREATE_NEW_PROCESS_GROUP))
        .wrap(JobObject)
        .wrap(KillOnDrop);
    let mut child = wrapped
        .spawn()
        .map_err(|source| SpawnError::spawn(&cmd.program, source))?;
    let pid = child.id();
    if let Some(pid) = pid {
        on_spawn(pid);
    }

    let mut interrupted_by: Option<Cause> = None;
    let mut terminate_at: Option<tokio::time::Instant> = None;
    let mut terminated = false;
    let status = loop {
        tokio::select! {
            // pytest itself, not the whole job: leftovers die with the job below.
            status = child.inner_mut().wait() => break status.map_err(SpawnError::Wait)?,
            Some(()) = on_c.recv() => {
                terminate_at = on_event("CTRL_C_EVENT", &mut interrupted_by, terminate_at, grace, pid);
            }
            Some(()) = on_break.recv() => {
                terminate_at = on_event("CTRL_BREAK_EVENT", &mut interrupted_by, terminate_at, grace, pid);
            }
            Some(()) = on_close.recv() => {
                terminate_at = on_event("CTRL_CLOSE_EVENT", &mut interrupted_by, terminate_at, grace, pid);
            }
            _ = sleep_until(terminate_at), if terminate_at.is_some() && !terminated => {
                // An error means the job is already empty: pytest is exiting anyway.
                let _ = child.start_kill();
                terminated = true;
            }
        }
    };
    // Dropping the child closes the job, which ends any worker still in it.
    drop(child);
    let (code, crashed) = status.code().map_or((None, None), windows_exit);
    Ok(Finished {
        code: if terminated { None } else { code },
        killed_by: if terminated {
            Some(Cause::JobTerminated)
        } else {
            crashed
        },
        interrupted_by,
        wall: start.elapsed(),
    })
}

/// First event: CTRL_BREAK to pytest's group, the job terminated after the grace period. A
/// second event: terminate now.
fn on_event(
    received: &'static str,
    interrupted_by: &mut Option<Cause>,
    terminate_at: Option<tokio::time::Instant>,
    grace: Duration,
    pid: Option<u32>,
) -> Option<tokio::time::Instant> {
    let now = tokio::time::Instant::now();
    if interrupted_by.is_some() {
        return Some(terminate_at.map_or(now, |at| at.min(now)));
    }
    *interrupted_by = Some(Cause::Console(received));
    if let Some(pid) = pid {
        send_ctrl_break(pid);
    }
    Some(now + grace)
}

/// CTRL_BREAK to the console process group `pid` leads. A new process group ignores Ctrl-C,
/// so Ctrl-Break is the one event that reaches it; our plugin turns it into
/// `KeyboardInterrupt`.
#[allow(unsafe_code)]
fn send_ctrl_break(pid: u32) {
    // SAFETY: plain values in, no pointers; an error (group gone, no console) only means
    // nothing was delivered, and the grace period still ends the job.
    let _ = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) };
}
