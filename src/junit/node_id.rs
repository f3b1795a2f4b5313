//! JUnit `classname`/`name` (and xunit1 `file`) → pytest node id.
//!
//! pytest writes `classname` as the node id's path with `/` → `.` and `.py` dropped, followed by
//! the class chain, and `name` as the last node-id part including any `[params]`
//! (`_pytest/junitxml.py: mangle_test_address`). The dotted form loses where the module path
//! ends, so we recover it, in this order:
//!
//! 1. xunit1's `file` attribute, when its dotted form is a prefix of `classname`;
//! 2. the longest dotted prefix of `classname` that is a known test file (from discovery);
//! 3. otherwise a guess: trailing components that start with an upper-case letter are classes
//!    (pytest's default `python_classes = Test*`, unittest `TestCase` names), the rest is the
//!    module path.
//!
//! Pure and shared: the planner uses it to read JUnit timings, the report to name tests.

use std::collections::HashMap;

/// `tests/unit/test_x.py` → `tests.unit.test_x` (what pytest puts in `classname`).
pub fn dotted_module(path: &str) -> String {
    let path = path.strip_suffix(".py").unwrap_or(path);
    path.replace('/', ".")
}

/// Maps dotted module names back to rootdir-relative file paths.
#[derive(Debug, Default, Clone)]
pub struct NodeIdResolver {
    modules: HashMap<String, String>,
}

impl NodeIdResolver {
    /// `files`: rootdir-relative test file paths with `/` separators.
    pub fn new<I, S>(files: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let modules = files
            .into_iter()
            .map(|f| {
                let f = f.as_ref();
                (dotted_module(f), f.to_owned())
            })
            .collect();
        NodeIdResolver { modules }
    }

    /// The pytest node id of one `<testcase>`.
    pub fn resolve(&self, classname: &str, name: &str, file: Option<&str>) -> String {
        if classname.is_empty() {
            // pytest writes an empty classname only for ids without `::` (rare plugin items).
            return name.to_owned();
        }
        if let Some(file) = file.filter(|f| f.ends_with(".py")) {
            let file = file.replace('\\', "/");
            let dotted = dotted_module(&file);
            if classname == dotted {
                return join(&file, &[], name);
            }
            if let Some(rest) = classname
                .strip_prefix(dotted.as_str())
                .and_then(|r| r.strip_prefix('.'))
            {
                let classes: Vec<&str> = rest.split('.').collect();
                return join(&file, &classes, name);
            }
        }
        let parts: Vec<&str> = classname.split('.').collect();
        if !self.modules.is_empty() {
            // Longest prefix first: `tests.test_a` beats `tests` if both were files.
            for k in (1..=parts.len()).rev() {
                let prefix = parts[..k].join(".");
                if let Some(path) = self.modules.get(&prefix) {
                    return join(path, &parts[k..], name);
                }
            }
        }
        let mut k = parts.len();
        while k > 1 && parts[k - 1].starts_with(|c: char| c.is_ascii_uppercase()) {
            k -= 1;
        }
        let path = format!("{}.py", parts[..k].join("/"));
        join(&path, &parts[k..], name)
    }
}

fn join(path: &str, classes: &[&str], name: &str) -> String {
    let mut id = String::with_capacity(path.len() + name.len() + 16);
    id.push_str(path);
    for class in classes {
        id.push_str("::");
        id.push_str(class);
    }
    id.push_str("::");
    id.push_str(name);
    id
}

/// The file part of a node id (`tests/test_a.py::T::t[1]` → `tests/test_a.py`).
pub fn file_of(node_id: &str) -> &str {
    node_id.split_once("::").map_or(node_id, |(f, _)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xunit1_file_attribute_wins() {
        let r = NodeIdResolver::default();
        assert_eq!(
            r.resolve(
                "tests.unit.test_x.TestA.TestB",
                "test_y[1-a.b]",
                Some("tests/unit/test_x.py")
            ),
            "tests/unit/test_x.py::TestA::TestB::test_y[1-a.b]"
        );
        assert_eq!(
            r.resolve("test_top", "test_f", Some("test_top.py")),
            "test_top.py::test_f"
        );
    }

    #[test]
    fn known_files_resolve_dotted_dirs() {
        // A folder whose name looks like a class, and a module in a dotted-looking path.
        let r = NodeIdResolver::new(["Tests/test_a.py", "pkg/sub/test_b.py", "pkg/test_sub.py"]);
        assert_eq!(
            r.resolve("Tests.test_a", "test_x", None),
            "Tests/test_a.py::test_x"
        );
        assert_eq!(
            r.resolve("pkg.sub.test_b.TestC", "test_z[x]", None),
            "pkg/sub/test_b.py::TestC::test_z[x]"
        );
    }

    #[test]
    fn inherited_test_with_base_file_falls_back_to_classname() {
        let r = NodeIdResolver::new(["tests/test_impl.py"]);
        assert_eq!(
            r.resolve(
                "tests.test_impl.TestImpl",
                "test_base",
                Some("tests/base.py")
            ),
            "tests/test_impl.py::TestImpl::test_base"
        );
    }

    #[test]
    fn guess_without_known_files() {
        let r = NodeIdResolver::default();
        assert_eq!(
            r.resolve("tests.test_a.TestOuter.TestInner", "test_q", None),
            "tests/test_a.py::TestOuter::TestInner::test_q"
        );
        assert_eq!(r.resolve("test_a", "test_q", None), "test_a.py::test_q");
    }

    #[test]
    fn file_of_node_id() {
        assert_eq!(file_of("a/b.py::C::d[x::y]"), "a/b.py");
        assert_eq!(file_of("a/b.py"), "a/b.py");
    }
}
