//! Serial tests: tests carrying the serial marker run after the xdist phase, in one
//! plain pytest process of the same shard. The isolation plugin
//! (`python/parallel_pytest_plugin/isolation.py`) does the filtering inside pytest, after the
//! user's `-m`/`-k` and the shard's selection, so this module only builds the extra arguments,
//! decides whether the second phase is needed and folds the two exit codes into one;
//! `junit::rewrite` appends the second JUnit file to the first.

use std::path::Path;

use super::command::PytestCommand;

use crate::python::ISOLATION_MODULE;
/// Which tests one pytest process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Everything but the serial tests (under xdist when workers > 1).
    Parallel,
    /// Only the serial tests, in one process without xdist.
    Serial,
}

/// Arguments that load the plugin and pick the phase (`None`: only register the marker).
/// `serial_out` (parallel phase only) receives the node ids of the serial tests it left out.
pub fn plugin_args(phase: Option<Phase>, marker: &str, serial_out: Option<&Path>) -> Vec<String> {
    let mut args = vec![
        "-p".to_string(),
        ISOLATION_MODULE.to_string(),
        format!("--parallel-pytest-serial-marker={marker}"),
    ];
    match phase {
        Some(Phase::Parallel) => {
            args.push("--parallel-pytest-phase=parallel".into());
            if let Some(out) = serial_out {
                args.push(format!("--parallel-pytest-serial-out={}", out.display()));
            }
        }
        Some(Phase::Serial) => args.push("--parallel-pytest-phase=serial".into()),
        None => {}
    }
    args
}

/// Loads the isolation plugin into a command built by [`command::build`] (which already
/// carries every plugin file): its arguments go right after the selection plugin's (before the
/// user's, so a user option still wins where argparse lets the last one win).
pub fn add_plugin(cmd: &mut PytestCommand, plugin_args: Vec<String>) {
    let at = cmd
        .args
        .iter()
        .position(|a| a.starts_with("--parallel-pytest-selection="))
        .map_or(cmd.args.len().min(2), |i| i + 1);
    cmd.args.splice(at..at, plugin_args);
}

/// Checks a marker name from `--serial-marker` or the config: pytest markers are Python
/// identifiers, and anything else would break the plugin's option or the `-m` users write.
pub fn validate_marker(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a pytest marker name: expected letters, digits and `_`, not \
             starting with a digit"
        ))
    }
}

/// The serial tests the parallel phase left out (one node id per line), or `None` when the
/// phase never got to collection (the file is missing).
pub fn read_serial_ids(path: &Path) -> Option<Vec<String>> {
    crate::python::SerialOut::read(path).map(|out| out.node_ids)
}

/// Whether to start the serial phase after the parallel one ended with `parallel_exit`.
/// Not after an interruption (Ctrl-C, cancellation: exit 2 or a signal) or a usage/internal
/// error (3, 4: the same arguments would fail again); failed tests (1) do not stop it.
pub fn run_serial_phase(parallel_exit: Option<i32>, serial_ids: &[String]) -> bool {
    !serial_ids.is_empty() && matches!(parallel_exit, Some(0 | 1 | 5))
}

/// One exit code for the shard from both phases (`None`: that phase did not run, or died by
/// a signal — then the manifest's `signal` says so and the shard is red).
///
/// "No tests collected" (5) from one phase is expected when all of the shard's tests are
/// serial (or none are), so it only survives when neither phase ran a test; otherwise the most
/// serious code wins: internal error (3), interrupted (2), usage error (4), failures (1).
pub fn combine_exit_codes(parallel: Option<i32>, serial: Option<i32>) -> Option<i32> {
    let Some(serial) = serial else {
        return parallel;
    };
    let Some(parallel) = parallel else {
        // The parallel phase died by a signal: keep that (the manifest's `signal`), never green.
        return None;
    };
    let rank = |code: i32| match code {
        0 => 0,
        5 => 1,
        1 => 2,
        4 => 3,
        2 => 4,
        3 => 5,
        // Codes pytest does not document (a plugin's `sys.exit`): worse than any known one.
        _ => 6,
    };
    match (parallel, serial) {
        (5, other) | (other, 5) if other != 5 => Some(other),
        (a, b) => Some(if rank(b) > rank(a) { b } else { a }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::command;
    use super::*;

    #[test]
    fn exit_codes_of_both_phases_fold_into_one() {
        assert_eq!(combine_exit_codes(Some(0), None), Some(0));
        assert_eq!(combine_exit_codes(Some(0), Some(0)), Some(0));
        assert_eq!(combine_exit_codes(Some(0), Some(1)), Some(1));
        assert_eq!(combine_exit_codes(Some(1), Some(0)), Some(1));
        // All of the shard's tests were serial: the empty parallel phase is not an outcome.
        assert_eq!(combine_exit_codes(Some(5), Some(0)), Some(0));
        assert_eq!(combine_exit_codes(Some(5), Some(1)), Some(1));
        assert_eq!(combine_exit_codes(Some(0), Some(5)), Some(0));
        assert_eq!(combine_exit_codes(Some(5), Some(5)), Some(5));
        assert_eq!(combine_exit_codes(Some(1), Some(2)), Some(2));
        assert_eq!(combine_exit_codes(Some(1), Some(3)), Some(3));
        assert_eq!(combine_exit_codes(Some(0), Some(77)), Some(77));
        assert_eq!(combine_exit_codes(None, Some(0)), None);
        assert_eq!(combine_exit_codes(None, None), None);
    }

    #[test]
    fn serial_phase_runs_after_failures_but_not_after_interruptions() {
        let ids = vec!["t.py::a".to_string()];
        assert!(run_serial_phase(Some(0), &ids));
        assert!(run_serial_phase(Some(1), &ids));
        assert!(run_serial_phase(Some(5), &ids));
        assert!(!run_serial_phase(Some(2), &ids));
        assert!(!run_serial_phase(Some(4), &ids));
        assert!(!run_serial_phase(None, &ids));
        assert!(!run_serial_phase(Some(0), &[]));
    }

    #[test]
    fn serial_ids_are_read_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.txt");
        assert_eq!(read_serial_ids(&path), None);
        std::fs::write(&path, "a.py::t\n\nb.py::u[1 2]\n").unwrap();
        assert_eq!(
            read_serial_ids(&path),
            Some(vec!["a.py::t".to_string(), "b.py::u[1 2]".to_string()])
        );
    }

    #[test]
    fn serial_command_runs_the_same_selection_in_one_process() {
        use crate::ci::Shard;
        use crate::plan::ShardPlan;
        let shard = ShardPlan {
            index: 1,
            predicted_seconds: 1.0,
            workers: 2,
            files: vec!["tests/a.py".into()],
            node_ids: vec![],
            deselect: vec![],
            estimated: false,
            cost: None,
            processes: Vec::new(),
        };
        let user = vec![
            "-n".to_string(),
            "4".to_string(),
            "--".to_string(),
            "x".to_string(),
        ];
        let inputs = command::Inputs {
            python: Path::new("/venv/bin/python"),
            rootdir: Path::new("/repo"),
            invocation_dir: Path::new("/repo"),
            out_dir: Path::new("/repo/.pp"),
            id: Shard { index: 1, total: 2 },
            shard: &shard,
            workers: 2,
            dist: "load",
            argv_budget: command::ARGV_PATH_BUDGET,
            net: None,
            process: None,
            user_args: &user,
        };
        let parallel = command::parallel(&inputs, "serial", Some(Path::new("/repo/.pp/s.txt")));
        assert_eq!(
            parallel.args[..10],
            [
                "-m",
                "pytest",
                "-p",
                "_parallel_pytest_selection",
                "--parallel-pytest-selection=/repo/.pp/selection-1-of-2.json",
                "-p",
                "_parallel_pytest_isolation",
                "--parallel-pytest-serial-marker=serial",
                "--parallel-pytest-phase=parallel",
                "--parallel-pytest-serial-out=/repo/.pp/s.txt",
            ]
        );
        assert!(parallel.files.iter().any(|(p, text)| {
            p.ends_with("plugin/_parallel_pytest_isolation.py")
                && text.contains("def pytest_addoption")
        }));

        let serial = command::serial(&inputs, "serial", Path::new("/repo/.pp/j.serial.xml"), true);
        assert_eq!(
            serial.args,
            [
                "-m",
                "pytest",
                "-p",
                "_parallel_pytest_selection",
                "--parallel-pytest-selection=/repo/.pp/selection-1-of-2.json",
                "-p",
                "_parallel_pytest_isolation",
                "--parallel-pytest-serial-marker=serial",
                "--parallel-pytest-phase=serial",
                "--rootdir=/repo",
                "--ignore=/repo/.pp",
                "--junitxml=/repo/.pp/j.serial.xml",
                "-o",
                "junit_family=xunit1",
                "-p",
                "_parallel_pytest_results_log",
                "--parallel-pytest-results-log=/repo/.pp/results-1-of-2.serial.jsonl",
                "tests/a.py",
                "-n",
                "4",
                "-n",
                "0",
                "--",
                "x",
            ]
        );
        assert_eq!(serial.junit_path, Path::new("/repo/.pp/j.serial.xml"));
    }

    #[test]
    fn plugin_args_and_marker_names() {
        assert_eq!(
            plugin_args(Some(Phase::Parallel), "serial", Some(Path::new("/o/s.txt"))),
            [
                "-p",
                "_parallel_pytest_isolation",
                "--parallel-pytest-serial-marker=serial",
                "--parallel-pytest-phase=parallel",
                "--parallel-pytest-serial-out=/o/s.txt"
            ]
        );
        assert_eq!(
            plugin_args(Some(Phase::Serial), "db_only", None)[3],
            "--parallel-pytest-phase=serial"
        );
        assert_eq!(plugin_args(None, "serial", None).len(), 3);
        assert!(validate_marker("serial").is_ok());
        assert!(validate_marker("_x1").is_ok());
        assert_eq!(
            validate_marker("not serial").unwrap_err(),
            "`not serial` is not a pytest marker name: expected letters, digits and `_`, not \
             starting with a digit"
        );
        assert!(validate_marker("1x").is_err());
        assert!(validate_marker("").is_err());
    }
}
