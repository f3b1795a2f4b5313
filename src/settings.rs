//! One resolved `Settings`: CLI flag > `PARALLEL_PYTEST_*` env (both via clap) >
//! `[tool.parallel-pytest]` in the project's pyproject.toml > built-in default.
//!
//! `FileConfig` mirrors the flags in kebab-case; unknown keys are an error that names the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CommandError;

/// `[tool.parallel-pytest]` in pyproject.toml. Every field is optional; flags and env win.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub workers: Option<String>,
    pub memory_per_worker: Option<u64>,
    pub python: Option<PathBuf>,
    pub timings: Option<Vec<String>>,
    pub timings_out: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    pub dist: Option<String>,
    pub serial_marker: Option<String>,
    pub shards: Option<u32>,
    pub target_seconds: Option<f64>,
    pub max_shards: Option<u32>,
    pub shard_startup_seconds: Option<f64>,
}

/// Read `[tool.parallel-pytest]` from `<root>/pyproject.toml`; missing file or table → defaults.
pub fn load_file_config(root: &Path) -> Result<FileConfig, CommandError> {
    let path = root.join("pyproject.toml");
    let text = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(err) => return Err(CommandError::Failed(err.into())),
    };
    parse_file_config(&text).map_err(|message| {
        CommandError::usage(format!("failed to read `{}`: {message}", path.display()))
    })
}

/// Pure part of `load_file_config`, for tests.
pub fn parse_file_config(text: &str) -> Result<FileConfig, String> {
    #[derive(Deserialize)]
    struct Pyproject {
        tool: Option<Tool>,
    }
    #[derive(Deserialize)]
    struct Tool {
        #[serde(rename = "parallel-pytest")]
        parallel_pytest: Option<toml::Value>,
    }
    let doc: Pyproject = toml::from_str(text).map_err(|e| e.to_string())?;
    match doc.tool.and_then(|t| t.parallel_pytest) {
        None => Ok(FileConfig::default()),
        Some(value) => {
            FileConfig::deserialize(value).map_err(|e| format!("in `[tool.parallel-pytest]`: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tool_table() {
        let cfg = parse_file_config(
            "[project]\nname='x'\n[tool.parallel-pytest]\nworkers = \"3\"\nmemory-per-worker = 256\n",
        )
        .unwrap();
        assert_eq!(cfg.workers.as_deref(), Some("3"));
        assert_eq!(cfg.memory_per_worker, Some(256));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse_file_config("[tool.parallel-pytest]\nwrokers = 3\n").unwrap_err();
        assert!(err.contains("wrokers"), "{err}");
    }

    #[test]
    fn missing_table_is_default() {
        assert_eq!(parse_file_config("").unwrap(), FileConfig::default());
    }
}
