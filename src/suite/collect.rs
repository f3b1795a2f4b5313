//! `--collect`: ask pytest for the exact node ids with one `python -m pytest --collect-only -q`.

use std::path::Path;
use std::process::Command;

use super::SuiteError;

/// Runs `python -m pytest --collect-only -p no:cacheprovider ARGS --verbosity=-1` in `dir` and
/// returns the node ids it prints (rootdir-relative), in pytest's order. `--verbosity=-1` comes
/// last so it wins over a `-q` in the user's `addopts` (`-qq` would print per-file counts).
pub fn collect(python: &Path, dir: &Path, args: &[String]) -> Result<Vec<String>, SuiteError> {
    collect_in_env(python, dir, args, None)
}

fn collect_in_env(
    python: &Path,
    dir: &Path,
    args: &[String],
    python_path: Option<&std::ffi::OsStr>,
) -> Result<Vec<String>, SuiteError> {
    let mut cmd = Command::new(python);
    if let Some(path) = python_path {
        cmd.env("PYTHONPATH", path);
    }
    cmd.current_dir(dir)
        .args([
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .args(args);
    let shown = format!(
        "{} -m pytest --collect-only {} --verbosity=-1",
        python.display(),
        shlex::try_join(args.iter().map(String::as_str)).unwrap_or_default()
    );
    let failed = |message: String| SuiteError::Collect {
        command: shown.trim_end().to_owned(),
        message,
    };
    let out = cmd.output().map_err(|e| {
        failed(match e.kind() {
            std::io::ErrorKind::NotFound => format!("`{}` was not found", python.display()),
            std::io::ErrorKind::PermissionDenied => {
                format!("`{}` is not executable", python.display())
            }
            _ => e.to_string(),
        })
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => Ok(parse_collect_output(&stdout)),
        // 5: nothing collected — an empty suite, not an error.
        Some(5) => Ok(Vec::new()),
        code => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stdout
                .lines()
                .chain(stderr.lines())
                .filter(|l| !l.trim().is_empty())
                .collect();
            let tail = tail[tail.len().saturating_sub(12)..].join("\n");
            Err(failed(format!(
                "pytest exited with {}:\n{tail}",
                code.map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"))
            )))
        }
    }
}

/// Node ids are the lines before the first blank line that look like `path::name`.
pub fn parse_collect_output(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.contains("::"))
        .map(|l| l.trim_end().to_owned())
        .collect()
}

/// [`collect`] with parallel-pytest's isolation plugin loaded (issue 8): it registers the serial
/// marker, so a project with `--strict-markers` that never declared it still collects, and it
/// writes every test's markers and `xdist_group` as JSON, returned beside the ids (`None` when
/// the plugin wrote nothing, for example because collection failed).
pub fn collect_marked(
    python: &Path,
    dir: &Path,
    args: &[String],
    serial_marker: &str,
) -> Result<(Vec<String>, Option<String>), SuiteError> {
    use crate::pytest::serial;
    // A private folder per call: the plugin file and its JSON output, removed afterwards.
    let folder = std::env::temp_dir().join(format!(
        "parallel-pytest-collect-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let setup = || -> std::io::Result<()> {
        std::fs::create_dir_all(&folder)?;
        std::fs::write(
            folder.join(format!("{}.py", serial::PLUGIN_MODULE)),
            serial::PLUGIN_SOURCE,
        )
    };
    if let Err(e) = setup() {
        return Err(SuiteError::Collect {
            command: format!("{} -m pytest --collect-only", python.display()),
            message: format!(
                "failed to write the marker plugin to `{}`: {e}",
                folder.display()
            ),
        });
    }
    let out_json = folder.join("collected.json");
    let mut plugin_args = serial::plugin_args(None, serial_marker, None);
    plugin_args.push(format!(
        "--parallel-pytest-collect-out={}",
        out_json.display()
    ));
    plugin_args.extend(args.iter().cloned());
    let python_path = crate::pytest::process::python_path(&folder, std::env::var_os("PYTHONPATH"));
    let result = collect_in_env(python, dir, &plugin_args, Some(&python_path));
    let marks = std::fs::read_to_string(&out_json).ok();
    let _ = std::fs::remove_dir_all(&folder);
    result.map(|ids| (ids, marks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quiet_collect_output() {
        let out = "tests/test_a.py::test_x\ntests/test_a.py::TestC::test_y[1 2]\n\n2 tests collected in 0.01s\n";
        assert_eq!(
            parse_collect_output(out),
            vec![
                "tests/test_a.py::test_x",
                "tests/test_a.py::TestC::test_y[1 2]"
            ]
        );
    }
}
