//! The Rust side of parallel-pytest's Python package (`python/parallel_pytest_plugin/`): the
//! embedded plugin files and where they are written, the interpreter lookup and probe, and one
//! typed struct per JSON document exchanged with Python.
//!
//! Every pytest process we start loads its plugins from one folder written by [`write_plugins`]
//! (or listed by [`plugin_files`] for a command built as data), always under the same `-p`
//! module names, and finds them through [`python_path`].

pub mod handoff;
pub mod interpreter;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use handoff::{
    Collected, Collection, CostRecord, FileCount, NetFile, NetOut, Outcomes, PythonInfo,
    SelectionFile, SerialOut,
};
pub use interpreter::{InterpreterError, PythonSource};

/// `-p` name of the selection plugin (`selection.py`): keeps the shard's tests.
pub const SELECTION_MODULE: &str = "_parallel_pytest_selection";
/// `-p` name of the isolation plugin (`isolation.py`): serial marker and the two phases.
pub const ISOLATION_MODULE: &str = "_parallel_pytest_isolation";
/// `-p` name of the collection plugin (`collect.py`): writes what pytest collected.
pub const COLLECT_MODULE: &str = "_parallel_pytest_collect";

/// `-p` name of the net plugin (`net.py`): runs test files discovery missed, once.
pub const NET_MODULE: &str = "_parallel_pytest_net";
/// `-p` name of the results log plugin (`results_log.py`): each test's start and outcome as
/// it happens, for a pytest that dies before writing its JUnit file.
pub const RESULTS_LOG_MODULE: &str = "_parallel_pytest_results_log";

/// Module name and source of every plugin, in the order they are written.
const PLUGINS: [(&str, &str); 5] = [
    (
        SELECTION_MODULE,
        include_str!("../../python/parallel_pytest_plugin/selection.py"),
    ),
    (
        ISOLATION_MODULE,
        include_str!("../../python/parallel_pytest_plugin/isolation.py"),
    ),
    (
        COLLECT_MODULE,
        include_str!("../../python/parallel_pytest_plugin/collect.py"),
    ),
    (
        NET_MODULE,
        include_str!("../../python/parallel_pytest_plugin/net.py"),
    ),
    (
        RESULTS_LOG_MODULE,
        include_str!("../../python/parallel_pytest_plugin/results_log.py"),
    ),
];

/// The plugin files as (path in `plugin_dir`, source): what [`write_plugins`] writes, for a
/// command that carries the files it needs as data.
pub fn plugin_files(plugin_dir: &Path) -> Vec<(PathBuf, String)> {
    PLUGINS
        .iter()
        .map(|(module, source)| {
            (
                plugin_dir.join(format!("{module}.py")),
                (*source).to_owned(),
            )
        })
        .collect()
}

/// Write every plugin into `plugin_dir` (created if missing).
pub fn write_plugins(plugin_dir: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(plugin_dir)?;
    for (path, source) in plugin_files(plugin_dir) {
        fs_err::write(path, source)?;
    }
    Ok(())
}

/// `PYTHONPATH` with the plugin folder in front of whatever the user has.
pub fn python_path(plugin_dir: &Path, existing: Option<OsString>) -> OsString {
    let mut out = OsString::from(plugin_dir.as_os_str());
    if let Some(existing) = existing.filter(|e| !e.is_empty()) {
        out.push(":");
        out.push(existing);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_plugin_under_its_module_name() {
        let dir = tempfile::tempdir().unwrap();
        let plugin_dir = dir.path().join("plugin");
        write_plugins(&plugin_dir).unwrap();
        for module in [SELECTION_MODULE, ISOLATION_MODULE, COLLECT_MODULE] {
            let text = std::fs::read_to_string(plugin_dir.join(format!("{module}.py"))).unwrap();
            assert!(text.contains("def pytest_addoption"), "{module}");
        }
    }

    #[test]
    fn python_path_prepends() {
        assert_eq!(
            python_path(Path::new("/p"), Some("/a:/b".into())),
            "/p:/a:/b"
        );
        assert_eq!(python_path(Path::new("/p"), Some("".into())), "/p");
        assert_eq!(python_path(Path::new("/p"), None), "/p");
    }
}
