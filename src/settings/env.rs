//! `env`'s settings: the machine section and the output format, resolved once.

use std::path::PathBuf;

use super::{MachineSettings, Settings, SettingsError};
use crate::cli::{EnvArgs, TextOrJson};

/// Everything `env` needs, with origins for the values it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSettings {
    pub machine: MachineSettings,
    /// `--format` / `PARALLEL_PYTEST_ENV_FORMAT`; not a pyproject key (it is per invocation).
    pub format: TextOrJson,
}

impl EnvSettings {
    /// Resolve `--root`, read its pyproject.toml, and pick each value by the one precedence rule.
    pub fn resolve(root: Option<PathBuf>, args: &EnvArgs) -> Result<Self, SettingsError> {
        let Settings { machine, .. } = Settings::load(root, &args.machine)?;
        Ok(EnvSettings {
            machine,
            format: args.format,
        })
    }
}
