//! Find the Python interpreter and ask it, in one subprocess, for its Python, pytest and
//! pytest-xdist versions.
//!
//! The probe runs a tiny embedded script ([`PROBE`], `python/parallel_pytest_plugin/probe.py`) that prints one JSON object, rather than
//! scraping `python --version` and `pytest --version` (two or three processes, locale- and
//! plugin-dependent output). Spawn errors are told apart (not found / permission denied /
//! other), and a non-zero exit keeps the trimmed stderr in the error.

use std::ffi::OsStr;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::PythonInfo;

/// The probe (`probe.py`), run as `python -c PROBE`; it prints one [`PythonInfo`] as JSON.
const PROBE: &str = include_str!("../../python/parallel_pytest_plugin/probe.py");

/// Where the interpreter choice came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonSource {
    /// `--python` or `PARALLEL_PYTEST_PYTHON` (clap merges the two).
    Flag,
    /// `python = "…"` in `[tool.parallel-pytest]`.
    Config,
    /// Found without being named: the active virtualenv, `python3` or `python` on `PATH`, or
    /// the `py` launcher.
    Path,
}

impl PythonSource {
    pub fn describe(&self) -> &'static str {
        match self {
            PythonSource::Flag => "`--python` / `PARALLEL_PYTEST_PYTHON`",
            PythonSource::Config => "`python` in `[tool.parallel-pytest]`",
            PythonSource::Path => "`PATH`",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error("no `python3`, `python` or `py` launcher found on `PATH`")]
    NotOnPath,
    #[error("python interpreter `{}` (from {}) does not exist", .path.display(), .source_desc)]
    NotFound { path: PathBuf, source_desc: String },
    #[error("python interpreter `{}` (from {}) is not executable: permission denied", .path.display(), .source_desc)]
    PermissionDenied { path: PathBuf, source_desc: String },
    #[error("failed to start python interpreter `{}`: {error}", .path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("python interpreter `{}` exited with {status} while probing versions: {stderr}", .path.display())]
    Failed {
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("python interpreter `{}` did not answer the version probe within {seconds} s", .path.display())]
    TimedOut { path: PathBuf, seconds: f64 },
    #[error("python interpreter `{}` printed unexpected probe output `{output}`: {error}", .path.display())]
    BadOutput {
        path: PathBuf,
        output: String,
        error: String,
    },
}

/// Choose the interpreter: an explicit one (flag/env/config) wins; otherwise the first of
/// [`candidates`] that exists: the active virtualenv (`VIRTUAL_ENV`, read from the process
/// environment), `python3` and `python` (or `python.exe`) on `path_var` (the value of `PATH`),
/// then the Windows launcher `py -3`. An explicit bare name such as `python3.12` is also
/// looked up on `PATH`; anything with a path separator is used as is.
pub fn find(
    explicit: Option<(&Path, PythonSource)>,
    path_var: Option<&OsStr>,
) -> Result<(PathBuf, PythonSource), InterpreterError> {
    let virtual_env = std::env::var_os("VIRTUAL_ENV");
    find_with(explicit, path_var, virtual_env.as_deref(), &ask_launcher)
}

/// [`find`] with the virtualenv and the launcher query as inputs, for tests.
fn find_with(
    explicit: Option<(&Path, PythonSource)>,
    path_var: Option<&OsStr>,
    virtual_env: Option<&OsStr>,
    launcher: &dyn Fn(&Path) -> Option<PathBuf>,
) -> Result<(PathBuf, PythonSource), InterpreterError> {
    if let Some((path, source)) = explicit {
        let is_bare_name = path.components().count() == 1 && !path.is_absolute();
        if is_bare_name && let Some(found) = search_path(path.as_os_str(), path_var) {
            return Ok((found, source));
        }
        return Ok((path.to_path_buf(), source));
    }
    candidates(path_var, virtual_env)
        .into_iter()
        .filter(|c| is_executable_file(c.path()))
        .find_map(|c| match c {
            Candidate::File(path) => Some(path),
            Candidate::Launcher(py) => launcher(&py),
        })
        .map(|p| (p, PythonSource::Path))
        .ok_or(InterpreterError::NotOnPath)
}

/// A place an interpreter may be when none was given.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Candidate {
    /// The interpreter itself.
    File(PathBuf),
    /// The Windows launcher `py`, asked which interpreter `py -3` runs.
    Launcher(PathBuf),
}

impl Candidate {
    fn path(&self) -> &Path {
        match self {
            Candidate::File(p) | Candidate::Launcher(p) => p,
        }
    }
}

/// Every candidate, in the order they are tried: the virtualenv's interpreter (`bin/python3`,
/// `bin/python`, or on Windows `Scripts\python.exe`), then `python3` and `python` in each
/// `PATH` folder (plain and `.exe`), then the `py` launcher. The launcher comes last because
/// it picks the newest installed Python, not the one a CI step put on `PATH`.
fn candidates(path_var: Option<&OsStr>, virtual_env: Option<&OsStr>) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(venv) = virtual_env.filter(|v| !v.is_empty()).map(Path::new) {
        out.extend(
            [
                venv.join("bin").join("python3"),
                venv.join("bin").join("python"),
                venv.join("Scripts").join("python.exe"),
            ]
            .map(Candidate::File),
        );
    }
    let dirs: Vec<PathBuf> = path_var
        .map(|p| {
            std::env::split_paths(p)
                .filter(|dir| !dir.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    for name in ["python3", "python"] {
        out.extend(
            dirs.iter()
                .flat_map(|d| executables(d, name).map(Candidate::File)),
        );
    }
    out.extend(
        dirs.iter()
            .flat_map(|d| executables(d, "py").map(Candidate::Launcher)),
    );
    out
}

/// `dir/name` and `dir/name.exe` (Windows installs `python.exe`; the suffix is harmless
/// elsewhere).
fn executables(dir: &Path, name: &str) -> [PathBuf; 2] {
    [dir.join(name), dir.join(format!("{name}.exe"))]
}

/// The interpreter `py -3` runs, as the launcher reports it; `None` when it has none.
fn ask_launcher(py: &Path) -> Option<PathBuf> {
    let out = Command::new(py)
        .args(["-3", "-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    launcher_answer(out.status.success(), &out.stdout)
}

/// The path in the launcher's answer (it may end in CRLF).
fn launcher_answer(success: bool, stdout: &[u8]) -> Option<PathBuf> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    (success && !line.is_empty()).then(|| PathBuf::from(line))
}

/// First executable file called `name` in the `PATH`-style list `path_var`.
fn search_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let path_var = path_var?;
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| executables(&dir, &name.to_string_lossy()))
        .find(|candidate| is_executable_file(candidate))
}

#[cfg(unix)]
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(path: &Path) -> bool {
    path.is_file()
}

/// How long the probe may take. Importing `json` and reading package metadata takes a fraction
/// of a second; a minute means the interpreter is stuck (a `sitecustomize` waiting on the
/// network, a shim prompting for input), and CI should say so instead of hanging until the
/// job's own timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Run [`PROBE`] with `python` (one subprocess) and parse what it prints.
pub fn probe(python: &Path, source: &PythonSource) -> Result<PythonInfo, InterpreterError> {
    probe_with_timeout(python, source, PROBE_TIMEOUT)
}

/// [`probe`] with an explicit time limit; the interpreter is killed when it runs out.
fn probe_with_timeout(
    python: &Path,
    source: &PythonSource,
    timeout: Duration,
) -> Result<PythonInfo, InterpreterError> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(PROBE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| spawn_error(python, source, error))?;
    // Drain both pipes on their own threads so a chatty interpreter cannot fill a pipe and
    // block while we wait for it to exit.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                // A read error leaves what was read so far; the exit status still decides.
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = wait_with_timeout(&mut child, python, timeout)?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(InterpreterError::Failed {
            path: python.to_path_buf(),
            status: status.to_string(),
            stderr: last_line(&String::from_utf8_lossy(&stderr)),
        });
    }
    let stdout = String::from_utf8_lossy(&stdout);
    parse_probe_output(&stdout).map_err(|error| InterpreterError::BadOutput {
        path: python.to_path_buf(),
        output: last_line(&stdout),
        error,
    })
}

/// A failed spawn, told apart by cause.
fn spawn_error(python: &Path, source: &PythonSource, error: std::io::Error) -> InterpreterError {
    match error.kind() {
        ErrorKind::NotFound => InterpreterError::NotFound {
            path: python.to_path_buf(),
            source_desc: source.describe().to_owned(),
        },
        ErrorKind::PermissionDenied => InterpreterError::PermissionDenied {
            path: python.to_path_buf(),
            source_desc: source.describe().to_owned(),
        },
        _ => InterpreterError::Spawn {
            path: python.to_path_buf(),
            error,
        },
    }
}

/// Wait for `child`, killing it when `timeout` runs out.
fn wait_with_timeout(
    child: &mut std::process::Child,
    python: &Path,
    timeout: Duration,
) -> Result<std::process::ExitStatus, InterpreterError> {
    let started = Instant::now();
    loop {
        let polled = child.try_wait().map_err(|error| InterpreterError::Spawn {
            path: python.to_path_buf(),
            error,
        })?;
        if let Some(status) = polled {
            return Ok(status);
        }
        if started.elapsed() >= timeout {
            // Already exited or unkillable: either way we stop waiting for it.
            let _ = child.kill();
            let _ = child.wait();
            return Err(InterpreterError::TimedOut {
                path: python.to_path_buf(),
                seconds: timeout.as_secs_f64(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Parse the probe's JSON. A `sitecustomize` may print before it, so the last non-empty line
/// is the document.
fn parse_probe_output(stdout: &str) -> Result<PythonInfo, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| "no output".to_owned())?;
    serde_json::from_str(line.trim()).map_err(|e| e.to_string())
}

/// The last non-empty line, trimmed and capped, for one-line error messages (a Python
/// traceback's last line names the exception).
fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut shown: String = line.chars().take(300).collect();
    if shown.len() < line.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_output() {
        let info = parse_probe_output(
            "noise from sitecustomize\n{\"executable\": \"/v/bin/python\", \"version\": \"3.12.1\", \"pytest\": \"8.3.0\", \"xdist\": null}\n",
        )
        .unwrap();
        assert_eq!(info.version.as_deref(), Some("3.12.1"));
        assert_eq!(info.pytest.as_deref(), Some("8.3.0"));
        assert!(
            info.xdist_hint()
                .unwrap()
                .contains("pip install pytest-xdist")
        );
        assert!(parse_probe_output("").is_err());
        assert!(parse_probe_output("{}").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn finds_python3_before_python_and_honours_explicit_names() {
        use std::os::unix::fs::PermissionsExt;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let make = |dir: &Path, name: &str, mode: u32| {
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let python_a = make(a.path(), "python", 0o755);
        let python3_b = make(b.path(), "python3", 0o755);
        make(a.path(), "python3", 0o644); // not executable: skipped
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find(None, Some(&path)).unwrap().0, python3_b);
        let only_a = std::env::join_paths([a.path()]).unwrap();
        assert_eq!(find(None, Some(&only_a)).unwrap().0, python_a);
        assert!(matches!(
            find_with(None, None, None, &|_| None),
            Err(InterpreterError::NotOnPath)
        ));
        // A bare explicit name is looked up; a path is taken as given.
        let (p, s) = find(Some((Path::new("python"), PythonSource::Flag)), Some(&path)).unwrap();
        assert_eq!((p, s), (python_a, PythonSource::Flag));
        let given = Path::new("/nowhere/python");
        assert_eq!(
            find(Some((given, PythonSource::Config)), Some(&path))
                .unwrap()
                .0,
            given
        );
    }

    /// An executable file (on Unix the mode matters; elsewhere existing is enough).
    fn touch_exe(path: &Path) -> PathBuf {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path.to_path_buf()
    }

    #[test]
    fn windows_layouts_python_exe_venv_scripts_and_py_launcher() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("Python312");
        let launcher_dir = dir.path().join("Windows");
        let py = touch_exe(&launcher_dir.join("py.exe"));
        let path = std::env::join_paths([&bin, &launcher_dir]).unwrap();
        let from_py = PathBuf::from(r"C:\Python313\python.exe");
        let ask = |p: &Path| (p == py).then(|| from_py.clone());
        // Only the launcher: `py -3` names the interpreter.
        let found = find_with(None, Some(&path), None, &ask).unwrap();
        assert_eq!(found, (from_py.clone(), PythonSource::Path));
        // `python.exe` on PATH comes before the launcher.
        let python_exe = touch_exe(&bin.join("python.exe"));
        assert_eq!(
            find_with(None, Some(&path), None, &ask).unwrap().0,
            python_exe
        );
        // An active virtualenv's `Scripts\python.exe` comes first.
        let venv = dir.path().join(".venv");
        let scripts = touch_exe(&venv.join("Scripts").join("python.exe"));
        let found = find_with(None, Some(&path), Some(venv.as_os_str()), &ask).unwrap();
        assert_eq!(found.0, scripts);
        // A `VIRTUAL_ENV` without an interpreter is passed over.
        let gone = dir.path().join("gone");
        let found = find_with(None, Some(&path), Some(gone.as_os_str()), &ask).unwrap();
        assert_eq!(found.0, python_exe);
        // A launcher without Python 3 is no interpreter.
        let none = find_with(None, Some(launcher_dir.as_os_str()), None, &|_| None);
        assert!(matches!(none, Err(InterpreterError::NotOnPath)));
    }

    #[test]
    fn candidate_order() {
        let path = std::env::join_paths(["/a", "/b"]).unwrap();
        let got = candidates(Some(&path), Some(OsStr::new("/v")));
        let file = |p: &str| Candidate::File(PathBuf::from(p));
        assert_eq!(
            got[..3],
            [
                file("/v/bin/python3"),
                file("/v/bin/python"),
                Candidate::File(Path::new("/v").join("Scripts").join("python.exe")),
            ]
        );
        assert_eq!(
            got[3..7],
            [
                file("/a/python3"),
                file("/a/python3.exe"),
                file("/b/python3"),
                file("/b/python3.exe"),
            ]
        );
        assert_eq!(got.last(), Some(&Candidate::Launcher("/b/py.exe".into())));
        assert!(candidates(None, Some(OsStr::new(""))).is_empty());
    }

    #[test]
    fn launcher_answer_takes_the_last_line_without_crlf() {
        assert_eq!(
            launcher_answer(true, b"C:\\Python313\\python.exe\r\n"),
            Some(PathBuf::from(r"C:\Python313\python.exe"))
        );
        assert_eq!(launcher_answer(false, b"C:\\x.exe\r\n"), None);
        assert_eq!(launcher_answer(true, b"\r\n"), None);
    }

    #[cfg(unix)]
    #[test]
    fn spawn_errors_are_distinguished() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing-python");
        let err = probe(&missing, &PythonSource::Flag).unwrap_err();
        assert!(matches!(err, InterpreterError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("--python"), "{err}");

        let not_exec = dir.path().join("python");
        std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = probe(&not_exec, &PythonSource::Config).unwrap_err();
        assert!(
            matches!(err, InterpreterError::PermissionDenied { .. }),
            "{err}"
        );

        // A "python" that fails keeps its stderr in the error.
        let failing = dir.path().join("failing");
        std::fs::write(
            &failing,
            "#!/bin/sh\necho 'SyntaxError: nope' >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = probe(&failing, &PythonSource::Path).unwrap_err();
        assert!(matches!(err, InterpreterError::Failed { .. }), "{err}");
        assert!(err.to_string().contains("SyntaxError: nope"), "{err}");

        let garbled = dir.path().join("garbled");
        std::fs::write(&garbled, "#!/bin/sh\necho 'Python 3.12'\n").unwrap();
        std::fs::set_permissions(&garbled, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = probe(&garbled, &PythonSource::Path).unwrap_err();
        assert!(matches!(err, InterpreterError::BadOutput { .. }), "{err}");

        // A stuck interpreter is killed and named, not waited on forever.
        let stuck = dir.path().join("stuck");
        std::fs::write(&stuck, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&stuck, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = probe_with_timeout(&stuck, &PythonSource::Path, Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(err, InterpreterError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains("stuck"), "{err}");

        // Output larger than a pipe buffer before the JSON line does not block the probe.
        let chatty = dir.path().join("chatty");
        std::fs::write(
            &chatty,
            "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\necho\necho '{\"executable\": \"/x/python\", \"version\": \"3.12.0\", \"pytest\": null, \"xdist\": null}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&chatty, std::fs::Permissions::from_mode(0o755)).unwrap();
        let info = probe(&chatty, &PythonSource::Path).unwrap();
        assert_eq!(info.version.as_deref(), Some("3.12.0"));
    }
}
