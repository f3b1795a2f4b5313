//! pytest node ids (`tests/test_x.py::TestC::test_y[1]`) as one type, so every stage splits and
//! compares them the same way.
//!
//! A node id is `<file>` followed by `::`-separated names; a parametrized item ends in `[...]`.
//! Only the *first* `::` is structural for sure: plugin items may carry `::` inside their own
//! name (`file.py::ruff::format` is not a child of `file.py::ruff`), so the relation "collector
//! contains item" is decided by the caller who knows which ids are collectors
//! ([`NodeId::is_within`]), never guessed from the text alone.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A pytest node id, always with `/` separators in its file part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    /// Wraps `id`, turning Windows `\` separators of the file part into `/` (pytest writes `/`
    /// on every platform).
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        if !id.contains('\\') {
            return NodeId(id);
        }
        match id.split_once("::") {
            Some((file, _)) if file.contains('\\') => {
                NodeId(format!("{}{}", file.replace('\\', "/"), &id[file.len()..]))
            }
            None if id.contains('\\') => NodeId(id.replace('\\', "/")),
            _ => NodeId(id),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The file part: everything before the first `::` (the whole id for a file node).
    pub fn file(&self) -> &str {
        file_part(&self.0)
    }

    /// The part after the file, without the leading `::` (empty for a file node).
    pub fn name(&self) -> &str {
        self.0.split_once("::").map_or("", |(_, rest)| rest)
    }

    /// The id without its `[params]` suffix: the parametrized function that groups the cases.
    pub fn without_params(&self) -> &str {
        match (self.0.find('['), self.0.find("::")) {
            (Some(bracket), Some(sep)) if bracket > sep => &self.0[..bracket],
            _ => &self.0,
        }
    }

    /// Whether this id lies under `collector` (a file, class or parametrized-function id):
    /// equal, or continued by `::` or `[`. Callers use it only for ids they know are collectors.
    pub fn is_within(&self, collector: &str) -> bool {
        self.0
            .strip_prefix(collector)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('['))
    }
}

/// The file part of a node id given as text: everything before the first `::`.
pub fn file_part(id: &str) -> &str {
    // A byte scan, not `split_once("::")`: this runs for every one of a million ids in a plan,
    // and the substring searcher's set-up costs more than the search on strings this short.
    // `:` is ASCII, so the cut is on a char boundary.
    let bytes = id.as_bytes();
    match bytes.windows(2).position(|pair| pair == b"::") {
        Some(at) => &id[..at],
        None => id,
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(id: &str) -> Self {
        NodeId::new(id)
    }
}

impl From<String> for NodeId {
    fn from(id: String) -> Self {
        NodeId::new(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_an_id() {
        let id = NodeId::new("tests/test_x.py::TestC::test_y[a::b]");
        assert_eq!(id.file(), "tests/test_x.py");
        assert_eq!(id.name(), "TestC::test_y[a::b]");
        assert_eq!(id.without_params(), "tests/test_x.py::TestC::test_y");
        assert_eq!(NodeId::new("tests/test_x.py").file(), "tests/test_x.py");
    }

    #[test]
    fn windows_separators_become_slashes_in_the_file_part_only() {
        assert_eq!(
            NodeId::new(r"tests\sub\test_x.py::test[a\b]").as_str(),
            r"tests/sub/test_x.py::test[a\b]"
        );
        assert_eq!(NodeId::new(r"tests\test_x.py").as_str(), "tests/test_x.py");
    }

    #[test]
    fn within_a_collector() {
        let id = NodeId::new("t/test_a.py::test_f[1]");
        assert!(id.is_within("t/test_a.py"));
        assert!(id.is_within("t/test_a.py::test_f"));
        assert!(id.is_within("t/test_a.py::test_f[1]"));
        assert!(!id.is_within("t/test_a.py::test_"));
        assert!(!NodeId::new("t/test_ab.py::x").is_within("t/test_a"));
    }
}
