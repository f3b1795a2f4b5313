//! One typed struct per JSON document exchanged with the Python package. Each Python module
//! documents the same shape in its docstring; field names are part of the shard manifest's
//! contract where the manifest embeds them ([`PythonInfo`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

/// A path as a string, lossily for a path that is not UTF-8 (serde refuses those outright,
/// which would lose a whole manifest over one odd interpreter path).
fn lossy_path<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// The interpreter and its pytest and pytest-xdist versions: printed by `probe.py`, written by
/// the selection plugin to [`SelectionFile::info_out`], embedded in the shard manifest
/// (`python`) and in `env --format json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `sys.executable`: the resolved interpreter (a venv's python, not the symlink target).
    #[serde(serialize_with = "lossy_path")]
    pub executable: PathBuf,
    /// `platform.python_version()`, e.g. `3.12.3`; `None` when pytest never got far enough to
    /// load the plugin that reports it.
    #[serde(default)]
    pub version: Option<String>,
    /// Installed pytest version, `None` when pytest is not installed (or unknown).
    #[serde(default)]
    pub pytest: Option<String>,
    /// Installed pytest-xdist version, `None` when not installed (or unknown).
    #[serde(default)]
    pub xdist: Option<String>,
}

impl PythonInfo {
    /// What the selection plugin wrote to `path`; only `python` itself when pytest never got
    /// far enough to load the plugin (no pytest installed, a bad option).
    pub fn read_or(path: &Path, python: &Path) -> PythonInfo {
        fs_err::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| PythonInfo {
                executable: python.to_path_buf(),
                ..PythonInfo::default()
            })
    }

    /// A hint for users without pytest-xdist: the install command for *this* interpreter.
    pub fn xdist_hint(&self) -> Option<String> {
        self.xdist.is_none().then(|| {
            format!(
                "pytest-xdist is not installed for `{}`: install it with `{} -m pip install pytest-xdist`",
                self.executable.display(),
                self.executable.display()
            )
        })
    }
}

/// The shard's selection, read by the selection plugin (`--parallel-pytest-selection=PATH`).
/// Paths and node ids are relative to pytest's rootdir.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionFile {
    /// Whole files (the plugin keeps pytest's order, whatever the order here).
    pub files: Vec<String>,
    /// Single node ids (a test, a class, a parametrized group): each selects what pytest
    /// would select for it on its command line.
    pub node_ids: Vec<String>,
    /// Items or collectors skipped in `files`, exactly (a trailing `::` names a class, a
    /// trailing `[` every case of a parametrized function).
    pub deselect: Vec<String>,
    /// The files did not fit on argv: the plugin prunes collection to them.
    pub paths_via_plugin: bool,
    /// Where the controller writes [`PythonInfo`].
    #[serde(serialize_with = "lossy_path")]
    pub info_out: PathBuf,
    /// Where the collecting process writes [`Collected`].
    #[serde(serialize_with = "lossy_path")]
    pub collected_out: PathBuf,
    /// Where the controller appends [`Outcomes`] lines.
    #[serde(serialize_with = "lossy_path")]
    pub outcomes_out: PathBuf,
    /// Where every process appends its [`CostRecord`] line.
    #[serde(serialize_with = "lossy_path")]
    pub costs_out: PathBuf,
}

impl SelectionFile {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the selection plugin found when collection finished (`collected_out`): per planned
/// file, the items pytest collected for the shard and how many the user's own filters (`-k`,
/// `-m`, `--deselect`, a suite's hook) deselected; planned ids that matched no item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Collected {
    pub files: std::collections::BTreeMap<String, FileCount>,
    /// Items the user's filters deselected, all files together.
    pub deselected: u64,
    /// Planned node ids and deselect entries that matched no collected item.
    pub not_found: Vec<String>,
    /// Planned node ids whose every item the user's filters deselected.
    pub deselected_ids: Vec<String>,
    /// Node ids more than one item of the shard shares, with the item count: pytest runs
    /// each, so repeated testcases with such an id are separate tests, not reruns.
    pub twins: std::collections::BTreeMap<String, u64>,
}

/// One planned file's count in [`Collected`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileCount {
    pub collected: u64,
    pub deselected: u64,
}

impl Collected {
    /// `None` when the file is missing or unreadable (pytest never finished collecting).
    pub fn read(path: &Path) -> Option<Collected> {
        let text = fs_err::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether the shard had nothing to run through no fault of its own: every planned
    /// test was deselected by the user's filters, or the files yielded no items at all.
    pub fn nothing_to_run(&self) -> bool {
        self.files.values().all(|f| f.collected == f.deselected)
    }
}

/// Outcomes JUnit cannot tell, appended by the selection plugin (`outcomes_out`), one
/// `<kind> <nodeid>` line per test: only `xpassed` (a non-strict XPASS) today.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub xpassed: Vec<String>,
}

impl Outcomes {
    /// Empty when the file is missing (no such outcome, or pytest never got there).
    pub fn read(path: &Path) -> Outcomes {
        let text = fs_err::read_to_string(path).unwrap_or_default();
        let mut out = Outcomes::default();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("xpassed ") {
                out.xpassed.push(id.to_string());
            }
        }
        out
    }
}

/// One process's fixed costs, a JSON line the selection plugin appends to `costs_out`:
/// timestamps are `time.time()` (seconds since the epoch). A collector (a plain run, or each
/// xdist worker) writes `collect_start`/`collect_end` and `files` (wall seconds per test file);
/// the controller writes `imported`, `workers_ready`, `first_test`, `last_test_end` and `end`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CostRecord {
    pub role: String,
    pub worker: Option<String>,
    pub imported: Option<f64>,
    pub session_start: Option<f64>,
    pub collect_start: Option<f64>,
    pub collect_end: Option<f64>,
    pub files: std::collections::BTreeMap<String, f64>,
    pub workers_ready: std::collections::BTreeMap<String, f64>,
    pub first_test: Option<f64>,
    pub last_test_end: Option<f64>,
    pub end: Option<f64>,
}

impl CostRecord {
    /// At most this many lines are read (a worker restarted over and over adds one each).
    const MAX_LINES: usize = 4096;

    /// Every well-formed line of `path`; a missing file or a line cut short by a kill is
    /// simply absent.
    pub fn read_all(path: &Path) -> Vec<CostRecord> {
        let text = fs_err::read_to_string(path).unwrap_or_default();
        text.lines()
            .take(Self::MAX_LINES)
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The serial tests the parallel phase left out, written by the isolation plugin to
/// `--parallel-pytest-serial-out`: plain node ids (no xdist `@group` suffix), one per line, in
/// pytest's order. Line-based rather than JSON so a worker killed mid-write cannot leave a
/// document that hides the lines before the cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SerialOut {
    pub node_ids: Vec<String>,
}

impl SerialOut {
    /// `None` when the file is missing or unreadable (the parallel phase never got there).
    pub fn read(path: &Path) -> Option<SerialOut> {
        let text = fs_err::read_to_string(path).ok()?;
        Some(SerialOut::parse(&text))
    }

    fn parse(text: &str) -> SerialOut {
        SerialOut {
            node_ids: text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The net's input (`--parallel-pytest-net=PATH`, read by `net.py`): which shard this is, the
/// shards that run pytest (a file's owner is picked among them), every file of the whole plan
/// (rootdir-relative), and the suite's arguments to walk (absolute).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetFile {
    pub shard: u32,
    pub owners: Vec<u32>,
    pub planned: Vec<String>,
    /// This shard's files (whole files and the files of its node ids).
    pub own: Vec<String>,
    pub roots: Vec<String>,
    /// Where the controller writes [`NetOut`].
    #[serde(serialize_with = "lossy_path")]
    pub out: PathBuf,
}

impl NetFile {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the net found in this shard's share of the files; embedded in the shard manifest
/// (`net`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetOut {
    /// Files pytest collects that the plan did not know; this shard ran them.
    pub missed: Vec<MissedFile>,
    /// Planned files pytest would not collect in a plain run.
    pub not_collected: Vec<String>,
    pub files_checked: u64,
    pub walk_seconds: f64,
}

/// A file discovery missed and the shard that ran it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedFile {
    pub file: String,
    pub shard: u32,
}

impl NetOut {
    /// `None` when the plugin wrote nothing (pytest never got to the session start).
    pub fn read(path: &Path) -> Option<NetOut> {
        let text = fs_err::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// What pytest collected, written by the collection plugin to `--parallel-pytest-collect-out`
/// when collection finishes, items in pytest's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub items: Vec<CollectedItem>,
}

/// One collected test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedItem {
    /// Rootdir-relative node id, without xdist's `@group` suffix.
    pub nodeid: String,
    /// The node id's path part.
    pub file: String,
    /// Names of every marker that applies, closest first, each once.
    #[serde(default)]
    pub markers: Vec<String>,
    /// The names `-k` matches against, sorted.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The `xdist_group` name, if any.
    #[serde(default)]
    pub xdist_group: Option<String>,
}

impl Collection {
    pub fn parse(json: &str) -> Result<Collection, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The node ids, in pytest's order.
    pub fn node_ids(&self) -> Vec<String> {
        self.items.iter().map(|i| i.nodeid.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_info_keeps_the_manifest_field_names() {
        let info = PythonInfo {
            executable: "/v/bin/python".into(),
            version: Some("3.12.1".into()),
            pytest: Some("8.3.0".into()),
            xdist: None,
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"executable": "/v/bin/python", "version": "3.12.1",
                "pytest": "8.3.0", "xdist": null})
        );
        assert!(
            info.xdist_hint()
                .unwrap()
                .contains("pip install pytest-xdist")
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = PythonInfo::read_or(&dir.path().join("none.json"), Path::new("/py"));
        assert_eq!(missing.executable, Path::new("/py"));
        assert_eq!(missing.version, None);
    }

    #[test]
    fn selection_file_has_the_fields_the_plugin_reads() {
        let sel = SelectionFile {
            files: vec!["a.py".into()],
            info_out: "/o/python.json".into(),
            ..SelectionFile::default()
        };
        let json: serde_json::Value = serde_json::from_str(&sel.to_json()).unwrap();
        for key in [
            "files",
            "node_ids",
            "deselect",
            "paths_via_plugin",
            "info_out",
            "collected_out",
            "outcomes_out",
            "costs_out",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn collected_and_outcomes_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs_err::write(
            &path,
            r#"{"files": {"a.py": {"collected": 2, "deselected": 2}, "e.py": {"collected": 0,
                "deselected": 0}}, "deselected": 2, "not_found": ["a.py::gone"]}"#,
        )
        .unwrap();
        let c = Collected::read(&path).unwrap();
        assert!(c.nothing_to_run());
        assert_eq!(c.not_found, ["a.py::gone"]);
        assert!(Collected::read(&dir.path().join("none")).is_none());
        let o = dir.path().join("o.txt");
        fs_err::write(&o, "xpassed a.py::t\nxpassed b.py::u[1]\n").unwrap();
        assert_eq!(Outcomes::read(&o).xpassed, ["a.py::t", "b.py::u[1]"]);
        assert!(Outcomes::read(&dir.path().join("none")).xpassed.is_empty());
    }

    #[test]
    fn collection_and_serial_out_parse() {
        let c = Collection::parse(
            r#"{"items": [{"nodeid": "t.py::a", "file": "t.py", "markers": ["serial"],
                "keywords": ["a", "serial", "t.py"], "xdist_group": null}]}"#,
        )
        .unwrap();
        assert_eq!(c.node_ids(), ["t.py::a"]);
        assert_eq!(c.items[0].markers, ["serial"]);
        assert!(Collection::parse("{}").is_err());
        assert_eq!(
            SerialOut::parse("a::b\n\nc::d\n").node_ids,
            ["a::b", "c::d"]
        );
    }
}
