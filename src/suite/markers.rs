//! What marks the tests carry, as far as planning cares: the serial marker and `xdist_group`.
//!
//! The planner needs no Python, so markers are found by reading the test files: decorators
//! (`@pytest.mark.serial`, `@pytest.mark.xdist_group("db")` / `(name="db")`) on functions and
//! classes, and `pytestmark = …` in a module or class body. Markers added dynamically (a
//! `conftest.py` hook) are invisible here; `run` still finds every serial test exactly (its
//! plugin asks pytest), only the prediction is off. A group name that is not a string literal
//! keeps its file whole but cannot bundle it with others.
//!
//! With `--collect`, the isolation plugin reports every test's markers exactly instead
//! ([`marks_from_collected`]).

use std::collections::{BTreeMap, BTreeSet};

use super::texts::Texts;
use crate::node_id::file_part;

/// Markers found in one test file's source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// `pytestmark = …serial…` at module level: every test is serial.
    pub module_serial: bool,
    /// Functions, methods and classes carrying the serial marker.
    pub serial_names: BTreeSet<String>,
    /// Exact serial node ids (from `--collect`).
    pub serial_ids: BTreeSet<String>,
    /// Literal `xdist_group` names used in the file.
    pub groups: BTreeSet<String>,
    /// `xdist_group` with a name we cannot read.
    pub opaque_group: bool,
}

impl Marks {
    pub fn has_group(&self) -> bool {
        self.opaque_group || !self.groups.is_empty()
    }

    /// Whether the test `id` (`file::Class::test[param]`) is serial.
    pub fn is_serial(&self, id: &str) -> bool {
        if self.module_serial || self.serial_ids.contains(id) {
            return true;
        }
        if self.serial_names.is_empty() {
            return false;
        }
        id.split("::")
            .skip(1)
            .map(|part| part.split('[').next().unwrap_or(part))
            .any(|name| self.serial_names.contains(name))
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `text` applies marker `name` (`mark.name` not followed by an identifier character).
fn applies_marker(text: &str, name: &str) -> bool {
    let needle = format!("mark.{name}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..].starts_with(is_ident)
            && (at == 0 || !text[..at].ends_with(is_ident) || text[..at].ends_with("pytest"))
    })
}

/// Every `xdist_group(` in `text`: literal names, and whether one was not a literal.
fn group_names(text: &str, names: &mut BTreeSet<String>) -> bool {
    let mut opaque = false;
    for (at, m) in text.match_indices("xdist_group") {
        let rest = text[at + m.len()..].trim_start();
        let Some(args) = rest.strip_prefix('(') else {
            // `xdist_group` mentioned without a call (`mark.xdist_group` stored in a variable).
            opaque |= !rest.starts_with(is_ident);
            continue;
        };
        let mut args = args.trim_start();
        if let Some(after) = args.strip_prefix("name") {
            let after = after.trim_start();
            if let Some(value) = after.strip_prefix('=') {
                args = value.trim_start();
            }
        }
        let quote = args.chars().next();
        match quote {
            Some(q @ ('"' | '\'')) => match args[1..].find(q) {
                Some(end) => {
                    names.insert(args[1..1 + end].to_string());
                }
                None => opaque = true,
            },
            _ => opaque = true,
        }
    }
    opaque
}

/// Markers of every file, in `paths` order; each thread reads the files' texts through its own
/// `new_texts()`. Reading 100,000 small files is mostly system-call time, so big suites read on
/// a few threads; the result does not depend on the thread count.
pub fn scan_all<T: Texts>(
    paths: &[&str],
    new_texts: &(dyn Fn() -> T + Sync),
    serial_marker: &str,
) -> Vec<Option<Marks>> {
    let scan_part = |part: &[&str]| {
        let mut texts = new_texts();
        part.iter()
            .map(|path| texts.text(path).map(|text| scan(text, serial_marker)))
            .collect::<Vec<_>>()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || paths.len() < 512 {
        return scan_part(paths);
    }
    let chunk = paths.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| scope.spawn(move || scan_part(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Reads the markers of one test file (see the module docs for what is and is not seen).
fn scan(source: &str, serial_marker: &str) -> Marks {
    // Fast path (most files): neither marker is mentioned, so there is nothing to find.
    if !source.contains("xdist_group") && !source.contains(serial_marker) {
        return Marks::default();
    }
    let mut marks = Marks::default();
    marks.opaque_group = group_names(source, &mut marks.groups);
    let mut pending = String::new();
    let mut depth: i32 = 0;
    // The class whose body we are in: (indent, name).
    let mut class: Option<(usize, String)> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if depth > 0 || trimmed.starts_with('@') {
            pending.push_str(trimmed);
            pending.push('\n');
            depth += paren_balance(trimmed);
            depth = depth.max(0);
            continue;
        }
        if class.as_ref().is_some_and(|(i, _)| indent <= *i) {
            class = None;
        }
        let def = trimmed
            .strip_prefix("async ")
            .map_or(trimmed, str::trim_start);
        let named = def
            .strip_prefix("def ")
            .map(|r| (r, false))
            .or_else(|| def.strip_prefix("class ").map(|r| (r, true)));
        if let Some((rest, is_class)) = named {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| is_ident(*c))
                .collect();
            if !name.is_empty() && applies_marker(&pending, serial_marker) {
                marks.serial_names.insert(name.clone());
            }
            if is_class {
                class = Some((indent, name));
            }
        } else if let Some(value) = trimmed.strip_prefix("pytestmark") {
            if value.trim_start().starts_with('=') && applies_marker(value, serial_marker) {
                match &class {
                    Some((_, name)) => {
                        marks.serial_names.insert(name.clone());
                    }
                    None if indent == 0 => marks.module_serial = true,
                    None => {}
                }
            }
        }
        pending.clear();
    }
    marks
}

fn paren_balance(line: &str) -> i32 {
    line.chars()
        .map(|c| match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        })
        .sum()
}

/// Marks per file from the isolation plugin's `--parallel-pytest-collect-out` JSON:
/// `{"tests": [{"nodeid", "markers": [...], "xdist_group": name|null}]}`. `None` when the
/// JSON is not that (then the files are read instead).
pub fn marks_from_collected(
    collection: &crate::python::Collection,
    serial_marker: &str,
) -> BTreeMap<String, Marks> {
    let mut out: BTreeMap<String, Marks> = BTreeMap::new();
    for t in &collection.items {
        let serial = t.markers.iter().any(|m| m == serial_marker);
        if !serial && t.xdist_group.is_none() {
            continue;
        }
        let marks = out.entry(file_part(&t.nodeid).to_owned()).or_default();
        if serial {
            marks.serial_ids.insert(t.nodeid.clone());
        }
        if let Some(g) = &t.xdist_group {
            marks.groups.insert(g.clone());
        }
    }
    out
}

/// Whether `source` defines `class NAME` at top level (a class the planner may move by name).
pub fn defines_class(source: &str, name: &str) -> bool {
    source.lines().any(|l| {
        l.strip_prefix("class ")
            .and_then(|r| r.strip_prefix(name))
            .is_some_and(|r| r.starts_with(['(', ':', ' ']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
import pytest

pytestmark = [pytest.mark.slow]


@pytest.mark.serial
def test_alone():
    pass


@pytest.mark.parametrize(
    "x",
    [1, 2],
)
@pytest.mark.serial
async def test_alone_param(x):
    pass


@pytest.mark.serialize
def test_not_serial():
    pass


@pytest.mark.xdist_group(name="db")
class TestDb:
    pytestmark = pytest.mark.serial

    def test_q(self):
        pass


@pytest.mark.xdist_group('cache')
def test_cache():
    pass
"#;

    #[test]
    fn scan_finds_decorated_and_pytestmark_serial_tests_and_literal_groups() {
        let marks = scan(SOURCE, "serial");
        assert!(!marks.module_serial);
        assert_eq!(
            marks.serial_names,
            ["TestDb", "test_alone", "test_alone_param"]
                .into_iter()
                .map(String::from)
                .collect()
        );
        assert_eq!(
            marks.groups,
            ["cache", "db"].into_iter().map(String::from).collect()
        );
        assert!(!marks.opaque_group);
        assert!(marks.is_serial("t.py::test_alone_param[1]"));
        assert!(marks.is_serial("t.py::TestDb::test_q"));
        assert!(!marks.is_serial("t.py::test_not_serial"));
        assert!(!marks.is_serial("t.py::test_cache"));
    }

    #[test]
    fn module_pytestmark_makes_every_test_serial_and_opaque_groups_are_noticed() {
        let marks = scan(
            "import pytest\npytestmark = pytest.mark.serial\nG = 'x'\n\
             @pytest.mark.xdist_group(G)\ndef test_a(): pass\n",
            "serial",
        );
        assert!(marks.module_serial);
        assert!(marks.is_serial("t.py::anything"));
        assert!(marks.opaque_group);
        assert!(marks.has_group());
        // Another marker name.
        let marks = scan("@pytest.mark.db_only\ndef test_a(): pass\n", "db_only");
        assert!(marks.is_serial("t.py::test_a"));
        assert_eq!(scan("def test_a(): pass\n", "serial"), Marks::default());
    }

    #[test]
    fn collected_markers_are_exact() {
        let json = r#"{"items": [
            {"nodeid": "a.py::test_s", "file": "a.py", "markers": ["serial"], "xdist_group": null},
            {"nodeid": "a.py::test_p", "file": "a.py", "markers": ["parametrize"]},
            {"nodeid": "b.py::T::test_g", "file": "b.py", "markers": [], "xdist_group": "db"}
        ]}"#;
        let collection = crate::python::Collection::parse(json).unwrap();
        let marks = marks_from_collected(&collection, "serial");
        assert_eq!(marks.len(), 2);
        assert!(marks["a.py"].is_serial("a.py::test_s"));
        assert!(!marks["a.py"].is_serial("a.py::test_p"));
        assert!(marks["b.py"].has_group());
    }
}
