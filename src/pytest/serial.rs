//! Serial tests (issue 8): tests carrying the serial marker run after the xdist phase, in one
//! plain pytest process of the same shard. The isolation plugin
//! (`python/parallel_pytest_plugin/isolation.py`) does the filtering inside pytest, after the
//! user's `-m`/`-k` and the shard's selection, so this module only builds the extra arguments,
//! decides whether the second phase is needed, folds the two exit codes into one and appends
//! the second JUnit file to the first.

use std::path::Path;

use anyhow::Context as _;
use quick_xml::events::{BytesStart, Event};

use super::command::{self, PytestCommand};

use crate::python::ISOLATION_MODULE;
/// The marker when neither `--serial-marker` nor the config names one.
pub const DEFAULT_MARKER: &str = "serial";

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

/// The serial phase's command: the shard's same selection and user arguments, one process
/// (no `-n` of ours; `-n 0` when xdist is installed, so a `-n auto` in the project's `addopts`
/// or the user's arguments cannot bring workers back), JUnit into `serial_junit`.
pub fn serial_command(
    inputs: &command::Inputs<'_>,
    marker: &str,
    serial_junit: &Path,
    xdist_installed: bool,
) -> PytestCommand {
    let mut cmd = command::build(&command::Inputs {
        workers: 1,
        ..inputs.clone()
    });
    let ours = format!("--junitxml={}", cmd.junit_path.display());
    for arg in &mut cmd.args {
        if *arg == ours {
            *arg = format!("--junitxml={}", serial_junit.display());
        }
    }
    cmd.junit_path = serial_junit.to_path_buf();
    add_plugin(&mut cmd, plugin_args(Some(Phase::Serial), marker, None));
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

/// Appends the `<testsuite>` elements of `extra` to the JUnit file `main`, in place (through a
/// temporary file and a rename). pytest writes `<testsuites><testsuite .../></testsuites>`; a
/// lone `<testsuite>` root is wrapped. Totals on the `<testsuites>` root (which pytest does not
/// write, but other tools do) are dropped rather than left wrong: readers sum the suites.
/// When `main` does not exist, `extra` is moved into its place.
pub fn append_junit(main: &Path, extra: &Path) -> anyhow::Result<()> {
    if !main.exists() {
        fs_err::rename(extra, main)?;
        return Ok(());
    }
    let main_text = fs_err::read_to_string(main)?;
    let extra_text = fs_err::read_to_string(extra)?;
    let merged = merge_junit_text(&main_text, &extra_text).with_context(|| {
        format!(
            "failed to merge `{}` into `{}`",
            extra.display(),
            main.display()
        )
    })?;
    let tmp = main.with_extension("xml.tmp");
    fs_err::write(&tmp, merged)?;
    fs_err::rename(&tmp, main)?;
    fs_err::remove_file(extra)?;
    Ok(())
}

const TOTALS: &[&[u8]] = &[
    b"tests",
    b"failures",
    b"errors",
    b"skipped",
    b"time",
    b"disabled",
];

/// Pure core of [`append_junit`].
pub fn merge_junit_text(main: &str, extra: &str) -> anyhow::Result<String> {
    let extra_suites = suite_events(extra).context("failed to read the serial phase's JUnit")?;
    let mut reader = quick_xml::Reader::from_str(main);
    let mut writer = quick_xml::Writer::new(Vec::new());
    let mut depth = 0usize;
    let mut wrapped_root: Option<bool> = None;
    loop {
        let event = reader
            .read_event()
            .context("failed to read the parallel phase's JUnit")?;
        match event {
            Event::Eof => break,
            Event::Start(start) if depth == 0 => {
                depth += 1;
                if start.name().as_ref() == b"testsuites" {
                    wrapped_root = Some(true);
                    writer.write_event(Event::Start(without_totals(&start)))?;
                } else {
                    wrapped_root = Some(false);
                    writer.write_event(Event::Start(BytesStart::new("testsuites")))?;
                    writer.write_event(Event::Start(start))?;
                }
            }
            Event::Empty(start) if depth == 0 => {
                // `<testsuites/>` or `<testsuite/>` with nothing inside.
                if start.name().as_ref() == b"testsuites" {
                    writer.write_event(Event::Start(without_totals(&start)))?;
                } else {
                    writer.write_event(Event::Start(BytesStart::new("testsuites")))?;
                    writer.write_event(Event::Empty(start))?;
                }
                write_all(&mut writer, &extra_suites)?;
                writer.write_event(Event::End(quick_xml::events::BytesEnd::new("testsuites")))?;
                wrapped_root = None;
            }
            Event::Start(start) => {
                depth += 1;
                writer.write_event(Event::Start(start))?;
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if wrapped_root == Some(false) {
                        writer.write_event(Event::End(end))?;
                    }
                    write_all(&mut writer, &extra_suites)?;
                    writer
                        .write_event(Event::End(quick_xml::events::BytesEnd::new("testsuites")))?;
                    wrapped_root = None;
                } else {
                    writer.write_event(Event::End(end))?;
                }
            }
            other => writer.write_event(other)?,
        }
    }
    if wrapped_root.is_some() {
        anyhow::bail!("the parallel phase's JUnit ends before its root element closes");
    }
    String::from_utf8(writer.into_inner()).context("JUnit is not UTF-8")
}

fn without_totals(start: &BytesStart<'_>) -> BytesStart<'static> {
    let mut out = BytesStart::new(String::from_utf8_lossy(start.name().as_ref()).into_owned());
    for attr in start.attributes().flatten() {
        if !TOTALS.contains(&attr.key.as_ref()) {
            out.push_attribute(attr);
        }
    }
    out.into_owned()
}

/// Every event inside `<testsuites>` (or the lone `<testsuite>` root itself) of `text`.
fn suite_events(text: &str) -> anyhow::Result<Vec<Event<'static>>> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut wrapped = false;
    let mut closed = false;
    let mut out = Vec::new();
    loop {
        let event = reader.read_event()?;
        match event {
            Event::Eof => break,
            Event::Decl(_) | Event::DocType(_) | Event::PI(_) if depth == 0 => {}
            Event::Start(start) if depth == 0 => {
                depth += 1;
                wrapped = start.name().as_ref() == b"testsuites";
                if !wrapped {
                    out.push(Event::Start(start.into_owned()));
                }
            }
            Event::Empty(start) if depth == 0 => {
                closed = true;
                if start.name().as_ref() != b"testsuites" {
                    out.push(Event::Empty(start.into_owned()));
                }
            }
            Event::Start(start) => {
                depth += 1;
                out.push(Event::Start(start.into_owned()));
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    closed = true;
                    if !wrapped {
                        out.push(Event::End(end.into_owned()));
                    }
                } else {
                    out.push(Event::End(end.into_owned()));
                }
            }
            other if depth > 0 => out.push(other.into_owned()),
            _ => {}
        }
    }
    if !closed {
        anyhow::bail!("the file ends before its root element closes");
    }
    Ok(out)
}

fn write_all(writer: &mut quick_xml::Writer<Vec<u8>>, events: &[Event<'_>]) -> std::io::Result<()> {
    for event in events {
        writer.write_event(event.borrow())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARALLEL: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.0"><testcase classname="tests.test_a" name="test_x" time="0.1" /><testcase classname="tests.test_a" name="test_y" time="0.2"><failure message="assert 1 == 2 &amp; &lt;x&gt;">tb</failure></testcase></testsuite></testsuites>"#;
    const SERIAL: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1" time="0.5"><testcase classname="tests.test_s" name="test_serial" time="0.5"><system-out>&lt;hi&gt;</system-out></testcase></testsuite></testsuites>"#;

    #[test]
    fn serial_suite_is_appended_inside_the_same_root() {
        let merged = merge_junit_text(PARALLEL, SERIAL).unwrap();
        assert_eq!(
            merged,
            r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.0"><testcase classname="tests.test_a" name="test_x" time="0.1" /><testcase classname="tests.test_a" name="test_y" time="0.2"><failure message="assert 1 == 2 &amp; &lt;x&gt;">tb</failure></testcase></testsuite><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1" time="0.5"><testcase classname="tests.test_s" name="test_serial" time="0.5"><system-out>&lt;hi&gt;</system-out></testcase></testsuite></testsuites>"#
        );
    }

    #[test]
    fn lone_testsuite_roots_are_wrapped_and_root_totals_dropped() {
        let main = r#"<testsuite name="a" tests="1"><testcase name="t1"/></testsuite>"#;
        let extra = r#"<testsuites tests="9"><testsuite name="b" tests="1"><testcase name="t2"/></testsuite></testsuites>"#;
        assert_eq!(
            merge_junit_text(main, extra).unwrap(),
            r#"<testsuites><testsuite name="a" tests="1"><testcase name="t1"/></testsuite><testsuite name="b" tests="1"><testcase name="t2"/></testsuite></testsuites>"#
        );
        let main =
            r#"<testsuites name="x" tests="3" failures="1"><testsuite name="a"/></testsuites>"#;
        let extra = r#"<testsuite name="b"><testcase name="t2"/></testsuite>"#;
        assert_eq!(
            merge_junit_text(main, extra).unwrap(),
            r#"<testsuites name="x"><testsuite name="a"/><testsuite name="b"><testcase name="t2"/></testsuite></testsuites>"#
        );
        // An empty parallel phase (every test of the shard was serial).
        let main = r#"<testsuites name="x"/>"#;
        assert_eq!(
            merge_junit_text(main, extra).unwrap(),
            r#"<testsuites name="x"><testsuite name="b"><testcase name="t2"/></testsuite></testsuites>"#
        );
    }

    #[test]
    fn truncated_files_are_an_error_not_a_silent_loss() {
        let cut = &PARALLEL[..PARALLEL.len() - 30];
        assert!(merge_junit_text(cut, SERIAL).is_err());
        let cut = &SERIAL[..SERIAL.len() - 30];
        assert!(merge_junit_text(PARALLEL, cut).is_err());
    }

    #[test]
    fn append_junit_replaces_the_main_file_and_removes_the_extra() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("junit-1-of-2.xml");
        let extra = dir.path().join("junit-1-of-2.serial.xml");
        std::fs::write(&main, PARALLEL).unwrap();
        std::fs::write(&extra, SERIAL).unwrap();
        append_junit(&main, &extra).unwrap();
        assert!(!extra.exists());
        assert!(
            std::fs::read_to_string(&main)
                .unwrap()
                .contains("test_serial")
        );
        // No main file (the parallel phase died before writing it): the serial file takes its place.
        std::fs::remove_file(&main).unwrap();
        std::fs::write(&extra, SERIAL).unwrap();
        append_junit(&main, &extra).unwrap();
        assert_eq!(std::fs::read_to_string(&main).unwrap(), SERIAL);
    }

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
            user_args: &user,
        };
        let mut parallel = command::build(&inputs);
        add_plugin(
            &mut parallel,
            plugin_args(
                Some(Phase::Parallel),
                "serial",
                Some(Path::new("/repo/.pp/s.txt")),
            ),
        );
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

        let serial = serial_command(&inputs, "serial", Path::new("/repo/.pp/j.serial.xml"), true);
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
                "--junitxml=/repo/.pp/j.serial.xml",
                "-o",
                "junit_family=xunit1",
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
