//! What does this Python offer? One small embedded snippet prints JSON (no scraping):
//! interpreter path and version, pytest and pytest-xdist versions.
//!
//! Interim: replaced by `pytest::interpreter` (foundation) once it lands on main.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use super::manifest::PythonInfo;

const SNIPPET: &str = r#"
import json, sys
def v(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None
print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                  "pytest": v("pytest"), "xdist": v("pytest-xdist")}))
"#;

#[derive(Debug, Deserialize)]
struct Raw {
    executable: String,
    version: Option<String>,
    pytest: Option<String>,
    xdist: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("Python interpreter `{0}` was not found")]
    NotFound(String),
    #[error("failed to run `{python}`")]
    Spawn {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{python}` failed while reporting its versions: {stderr}")]
    Failed { python: String, stderr: String },
}

pub fn probe(python: &Path) -> Result<PythonInfo, ProbeError> {
    let shown = python.display().to_string();
    let out = Command::new(python)
        .args(["-c", SNIPPET])
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ProbeError::NotFound(shown.clone()),
            _ => ProbeError::Spawn {
                python: shown.clone(),
                source,
            },
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let raw: Option<Raw> = serde_json::from_str(stdout.trim()).ok();
    match (out.status.success(), raw) {
        (true, Some(raw)) => Ok(PythonInfo {
            executable: raw.executable,
            version: raw.version,
            pytest: raw.pytest,
            xdist: raw.xdist,
        }),
        _ => Err(ProbeError::Failed {
            python: shown,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// Whether this pytest version reads `@argsfile` arguments (added in 8.2).
pub fn supports_argsfile(pytest_version: &str) -> bool {
    let mut parts = pytest_version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (8, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argsfile_versions() {
        assert!(!supports_argsfile("7.4.4"));
        assert!(!supports_argsfile("8.1.2"));
        assert!(supports_argsfile("8.2.0"));
        assert!(supports_argsfile("9.2.0"));
        assert!(supports_argsfile("10.0.0rc1"));
        assert!(!supports_argsfile("garbage"));
    }
}
