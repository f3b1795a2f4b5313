//! `--collect`: ask pytest for the exact tests with one `python -m pytest --collect-only`,
//! read through our collection plugin's JSON rather than pytest's terminal output, which a
//! `-v` in `addopts` or an output plugin (pytest-sugar, rich) reshapes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::SuiteError;
use crate::python::{self, COLLECT_MODULE, Collection, ISOLATION_MODULE};

/// Lines of pytest's output quoted in a collection error.
const QUOTED_LINES: usize = 20;

/// One collection run.
#[derive(Debug, Clone)]
pub struct CollectRequest<'a> {
    pub python: &'a Path,
    /// Where pytest starts.
    pub dir: &'a Path,
    /// pytest arguments (the user's, then the paths).
    pub args: &'a [String],
    /// The serial marker, registered so a `--strict-markers` project that never declared it
    /// still collects.
    pub serial_marker: &'a str,
    /// The suite has test files: collecting nothing is then an error, not an empty suite.
    pub expect_tests: bool,
}

/// Runs `python -m pytest --collect-only -p no:cacheprovider` with the isolation plugin (marker
/// registration) and the collection plugin in `dir`, and returns every collected test with its
/// markers and keywords, in pytest's order.
pub fn collect(req: &CollectRequest<'_>) -> Result<Collection, SuiteError> {
    let folder = private_folder();
    let result = collect_in(req, &folder);
    // Best effort: a leftover temporary folder is not worth failing the plan for.
    let _ = std::fs::remove_dir_all(&folder);
    result
}

/// A private folder per call for the plugin files and the JSON they write.
fn private_folder() -> PathBuf {
    std::env::temp_dir().join(format!(
        "parallel-pytest-collect-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ))
}

fn collect_in(req: &CollectRequest<'_>, folder: &Path) -> Result<Collection, SuiteError> {
    let out_json = folder.join("collected.json");
    let argv = argv(req, &out_json);
    let shown = format!(
        "{} {}",
        shlex::try_quote(&req.python.to_string_lossy()).unwrap_or_default(),
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_default()
    );
    let failed = |message: String| SuiteError::Collect {
        command: shown.clone(),
        message,
    };
    python::write_plugins(folder).map_err(|e| {
        failed(format!(
            "failed to write the plugins to `{}`: {e}",
            folder.display()
        ))
    })?;
    let mut command = Command::new(req.python);
    // Collection imports the test modules: they must not see the forge tokens either.
    for var in crate::env_vars::token_variables(|v| std::env::var(v).ok()) {
        command.env_remove(var);
    }
    let out = command
        .env("PYTHONPATH", python_path(folder))
        .current_dir(req.dir)
        .args(&argv)
        .output()
        .map_err(|e| failed(spawn_message(req.python, &e)))?;
    let code = out.status.code();
    if !matches!(code, Some(0 | 5)) {
        let status = code.map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"));
        return Err(failed(format!(
            "pytest exited with {status}{}",
            quoted(&out)
        )));
    }
    let collection = match std::fs::read_to_string(&out_json) {
        Ok(text) => Collection::parse(&text).map_err(|e| {
            failed(format!(
                "the collection plugin wrote unreadable JSON ({e}){}",
                quoted(&out)
            ))
        })?,
        // pytest exits 5 before `pytest_collection_finish` only when nothing was collected.
        Err(_) if code == Some(5) => Collection::default(),
        Err(e) => {
            return Err(failed(format!(
                "the collection plugin wrote no output ({e}); was `-p {COLLECT_MODULE}` disabled?{}",
                quoted(&out)
            )));
        }
    };
    if collection.items.is_empty() && req.expect_tests {
        return Err(failed(format!(
            "pytest collected no tests, but the suite has test files{}",
            quoted(&out)
        )));
    }
    Ok(collection)
}

/// Everything after the interpreter. No `-q`: the output is only quoted in errors, and the
/// JSON does not depend on the verbosity.
fn argv(req: &CollectRequest<'_>, out_json: &Path) -> Vec<String> {
    let mut argv: Vec<String> = [
        "-m",
        "pytest",
        "--collect-only",
        "-p",
        "no:cacheprovider",
        "-p",
        ISOLATION_MODULE,
    ]
    .map(str::to_owned)
    .to_vec();
    argv.push(format!(
        "--parallel-pytest-serial-marker={}",
        req.serial_marker
    ));
    argv.extend(["-p".to_owned(), COLLECT_MODULE.to_owned()]);
    argv.push(format!(
        "--parallel-pytest-collect-out={}",
        out_json.display()
    ));
    argv.extend(req.args.iter().cloned());
    argv
}

fn python_path(folder: &Path) -> OsString {
    python::python_path(folder, std::env::var_os("PYTHONPATH"))
}

fn spawn_message(python: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("`{}` was not found", python.display()),
        std::io::ErrorKind::PermissionDenied => {
            format!("`{}` is not executable", python.display())
        }
        _ => e.to_string(),
    }
}

/// The last non-empty lines of pytest's stdout and stderr, indented under a colon, or nothing
/// when pytest printed nothing.
fn quoted(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return "; pytest printed nothing".to_owned();
    }
    let tail = &lines[lines.len().saturating_sub(QUOTED_LINES)..];
    let mut text = String::from("; pytest's output ends with:");
    for line in tail {
        text.push_str("\n    ");
        text.push_str(&crate::text::truncate_chars(line, 300));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_loads_both_plugins_before_the_users_arguments() {
        let args = ["-v".to_owned(), "tests".to_owned()];
        let req = CollectRequest {
            python: Path::new("python"),
            dir: Path::new("."),
            args: &args,
            serial_marker: "slow_serial",
            expect_tests: true,
        };
        let argv = argv(&req, Path::new("/t/c.json"));
        assert_eq!(
            argv,
            [
                "-m",
                "pytest",
                "--collect-only",
                "-p",
                "no:cacheprovider",
                "-p",
                "_parallel_pytest_isolation",
                "--parallel-pytest-serial-marker=slow_serial",
                "-p",
                "_parallel_pytest_collect",
                "--parallel-pytest-collect-out=/t/c.json",
                "-v",
                "tests"
            ]
        );
    }
}
