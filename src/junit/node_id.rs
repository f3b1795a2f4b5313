//! JUnit `classname`/`name` ⇄ pytest node id.
//!
//! pytest builds both attributes from the node id with `mangle_test_address` (`_pytest/junitxml.py`):
//! `tests/sub/test_x.py::TestC::test_y[1]` → classname `tests.sub.test_x.TestC`, name `test_y[1]`.
//! The path's `/` become `.` and `.py` is dropped, so going back is ambiguous: which dots were
//! slashes? We resolve that, in order, with
//! 1. the xunit1 `file` attribute, when the classname starts with that file's dotted form;
//! 2. a set of known test files (from the plan, the manifests or test discovery): the longest
//!    classname prefix that is a known file;
//! 3. pytest's default class naming: trailing components that start with an uppercase letter are
//!    classes (`python_classes = Test*`), the rest is the module path.
//!
//! [`to_junit_names`] is the exact forward direction; use it to compare node ids with testcases
//! without guessing.

/// pytest's `mangle_test_address`: node id → (`classname`, `name`) as written to JUnit.
pub fn to_junit_names(node_id: &str) -> (String, String) {
    let (path, bracket_and_params) = match node_id.find('[') {
        Some(i) => node_id.split_at(i),
        None => (node_id, ""),
    };
    let mut names: Vec<String> = path.split("::").map(str::to_owned).collect();
    let first = names[0].replace('/', ".");
    names[0] = first
        .strip_suffix(".py")
        .map(str::to_owned)
        .unwrap_or(first);
    let last = names.len() - 1;
    names[last].push_str(bracket_and_params);
    if names.len() == 1 {
        // A module-level item with no `::` (rare: collection errors): pytest writes the whole
        // dotted path as the name and an empty classname.
        return (String::new(), names.pop().unwrap_or_default());
    }
    let name = names.pop().unwrap_or_default();
    (names.join("."), name)
}

/// Dotted form of a test file path as pytest writes it into `classname`.
pub fn dotted_module(file: &str) -> String {
    let file = file.replace('\\', "/");
    let file = file.strip_prefix("./").unwrap_or(&file);
    let dotted = file.replace('/', ".");
    dotted
        .strip_suffix(".py")
        .map(str::to_owned)
        .unwrap_or(dotted)
}

/// Maps testcases to node ids; knows the suite's test files when it can.
#[derive(Debug, Clone, Default)]
pub struct NodeIdMapper {
    /// dotted module → file path, for every known test file.
    modules: std::collections::HashMap<String, String>,
}

impl NodeIdMapper {
    /// A mapper that relies on the `file` attribute and pytest's class naming only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A mapper that also knows these test files (paths relative to pytest's rootdir).
    pub fn with_files<I, S>(files: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Every kind of test file: doctest text files (`tests/test_doc.txt`) keep their suffix
        // in the classname, which this map resolves as well.
        let modules = files
            .into_iter()
            .map(|f| (dotted_module(f.as_ref()), f.as_ref().replace('\\', "/")))
            .collect();
        NodeIdMapper { modules }
    }

    fn knows_files(&self) -> bool {
        !self.modules.is_empty()
    }

    /// The node id of a testcase (see the module docs for how the ambiguity is resolved).
    pub fn node_id(&self, classname: &str, name: &str, file: Option<&str>) -> String {
        let (path, classes) = self.split(classname, file);
        let mut id = path;
        for class in classes {
            id.push_str("::");
            id.push_str(class);
        }
        if !name.is_empty() {
            if !id.is_empty() {
                id.push_str("::");
            }
            id.push_str(name);
        }
        id
    }

    /// The test file of a testcase, relative to rootdir (`None` when classname is empty).
    pub fn file_of(&self, classname: &str, file: Option<&str>) -> Option<String> {
        if classname.is_empty() {
            return file.map(|f| f.replace('\\', "/"));
        }
        Some(self.split(classname, file).0)
    }

    fn split<'c>(&self, classname: &'c str, file: Option<&str>) -> (String, Vec<&'c str>) {
        if classname.is_empty() {
            return (file.unwrap_or("").replace('\\', "/"), Vec::new());
        }
        if let Some(file) = file.filter(|f| !f.is_empty()) {
            let module = dotted_module(file);
            if let Some(rest) = strip_module(classname, &module) {
                return (
                    file.replace('\\', "/").trim_start_matches("./").to_owned(),
                    rest,
                );
            }
        }
        if classname == "." {
            // An item of the rootdir itself (`.::project`, as pytest-checkdocs yields).
            return (".".to_owned(), Vec::new());
        }
        let parts: Vec<&str> = classname.split('.').collect();
        if self.knows_files() {
            for cut in (1..=parts.len()).rev() {
                let module = parts[..cut].join(".");
                if let Some(path) = self.modules.get(&module) {
                    return (path.clone(), parts[cut..].to_vec());
                }
            }
        }
        let mut cut = parts.len();
        while cut > 1 && parts[cut - 1].starts_with(|c: char| c.is_ascii_uppercase()) {
            cut -= 1;
        }
        (
            format!("{}.py", parts[..cut].join("/")),
            parts[cut..].to_vec(),
        )
    }
}

/// `Some(classes)` when `classname` is `module` or `module.Class...`.
fn strip_module<'c>(classname: &'c str, module: &str) -> Option<Vec<&'c str>> {
    let rest = classname.strip_prefix(module)?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_prefix('.')?;
    Some(rest.split('.').collect())
}

/// Convenience: the node id with no known files.
pub fn node_id(classname: &str, name: &str, file: Option<&str>) -> String {
    NodeIdMapper::new().node_id(classname, name, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_matches_pytest() {
        assert_eq!(
            to_junit_names("tests/sub/test_x.py::TestC::test_y[a.b/c::d]"),
            ("tests.sub.test_x.TestC".into(), "test_y[a.b/c::d]".into())
        );
        assert_eq!(
            to_junit_names("test_a.py::test_b"),
            ("test_a".into(), "test_b".into())
        );
    }

    #[test]
    fn back_with_file_attribute() {
        assert_eq!(
            node_id(
                "tests.sub.test_x.TestC",
                "test_y[1]",
                Some("tests/sub/test_x.py")
            ),
            "tests/sub/test_x.py::TestC::test_y[1]"
        );
        // A test inherited from a base class in another file: `file` points at the base
        // class's file, the classname at the collecting module. The classname wins.
        assert_eq!(
            node_id(
                "tests.test_impl.TestImpl",
                "test_shared",
                Some("tests/base.py")
            ),
            "tests/test_impl.py::TestImpl::test_shared"
        );
    }

    #[test]
    fn back_with_known_files() {
        let m = NodeIdMapper::with_files(["tests/Weird_Module.py", "tests/test_x.py"]);
        assert_eq!(
            m.node_id("tests.Weird_Module.TestA", "test_b", None),
            "tests/Weird_Module.py::TestA::test_b"
        );
        assert_eq!(
            m.node_id("tests.test_x", "test_b[x.y]", None),
            "tests/test_x.py::test_b[x.y]"
        );
    }

    #[test]
    fn back_for_doctest_files_and_the_rootdir() {
        let m = NodeIdMapper::with_files(["tests/test_doc.txt", "pkg/mod.py"]);
        assert_eq!(
            m.node_id("tests.test_doc.txt", "test_doc.txt", None),
            "tests/test_doc.txt::test_doc.txt"
        );
        assert_eq!(
            node_id(
                "tests.test_doc.txt",
                "test_doc.txt",
                Some("tests/test_doc.txt")
            ),
            "tests/test_doc.txt::test_doc.txt"
        );
        assert_eq!(
            m.node_id("pkg.mod", "pkg.mod.f", None),
            "pkg/mod.py::pkg.mod.f"
        );
        assert_eq!(node_id(".", "project", None), ".::project");
        assert_eq!(to_junit_names(".::project"), (".".into(), "project".into()));
    }

    #[test]
    fn back_by_class_naming() {
        assert_eq!(
            node_id("tests.sub.test_x.TestOuter.TestInner", "test_y", None),
            "tests/sub/test_x.py::TestOuter::TestInner::test_y"
        );
        assert_eq!(node_id("test_x", "test_y", None), "test_x.py::test_y");
    }

    #[test]
    fn round_trip() {
        for id in [
            "tests/test_a.py::test_b",
            "tests/sub/test_c.py::TestD::test_e[1-2]",
            "a/b/c/test_d.py::TestE::TestF::test_g[x.y/z]",
        ] {
            let (classname, name) = to_junit_names(id);
            assert_eq!(node_id(&classname, &name, None), id);
        }
    }
}
