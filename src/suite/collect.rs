//! `--collect`: ask pytest for the exact node ids with one `python -m pytest --collect-only -q`.

use std::path::Path;
use std::process::Command;

use super::SuiteError;

/// Runs `python -m pytest --collect-only -p no:cacheprovider ARGS --verbosity=-1` in `dir` and
/// returns the node ids it prints (rootdir-relative), in pytest's order. `--verbosity=-1` comes
/// last so it wins over a `-q` in the user's `addopts` (`-qq` would print per-file counts).
pub fn collect(python: &Path, dir: &Path, args: &[String]) -> Result<Vec<String>, SuiteError> {
    let mut cmd = Command::new(python);
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
