//! Test-file discovery without Python, following pytest's collection rules
//! (`_pytest/main.py: pytest_ignore_collect`, `_pytest/python.py: pytest_collect_file`,
//! `Config._decide_args`).
//!
//! pytest's built-in doctest collector (`_pytest/doctest.py: pytest_collect_file`) is modelled
//! too: text files matching `--doctest-glob` (default `test*.txt`), explicit `.txt`/`.rst`
//! args, and with `--doctest-modules` every Python module except `__main__.py` and a setuptools
//! `setup.py` — unless `-p no:doctest`.
//!
//! Not modelled (pytest needs to import code to know them): `collect_ignore`/`collect_ignore_glob`
//! in `conftest.py`, collection hooks of plugins, non-Python test files of plugins (YAML),
//! `--pyargs`. The shard plugin's net runs such files anyway; `--collect` plans them exactly.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher};

use super::SuiteError;
use super::paths::{absolute, relative};

/// pytest's default `norecursedirs`.
pub const DEFAULT_NORECURSEDIRS: &[&str] = &[
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
];
/// pytest's default `python_files`.
pub const DEFAULT_PYTHON_FILES: &[&str] = &["test_*.py", "*_test.py"];

/// Python's `fnmatch` pattern as a globset matcher: `*` crosses `/`, braces are literal,
/// backslashes are literal.
fn fnmatch(pattern: &str) -> Option<GlobMatcher> {
    let mut escaped = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    for c in pattern.chars() {
        match c {
            '[' if !in_class => {
                in_class = true;
                escaped.push(c);
            }
            ']' if in_class => {
                in_class = false;
                escaped.push(c);
            }
            '{' | '}' | '\\' if !in_class => {
                escaped.push('[');
                escaped.push(c);
                escaped.push(']');
            }
            _ => escaped.push(c),
        }
    }
    let build = |p: &str| {
        GlobBuilder::new(p)
            .literal_separator(false)
            .backslash_escape(false)
            .build()
    };
    build(&escaped)
        .or_else(|_| Glob::new(&globset::escape(pattern)))
        .ok()
        .map(|g| g.compile_matcher())
}

/// `fnmatch_ex`: patterns without `/` match the file name, others the whole path (with `*/`
/// prepended to relative patterns so they match at any depth).
#[derive(Debug, Clone)]
pub struct PathPatterns {
    by_name: Vec<GlobMatcher>,
    by_path: Vec<GlobMatcher>,
}

impl PathPatterns {
    pub fn new(patterns: &[String]) -> Self {
        let mut by_name = Vec::new();
        let mut by_path = Vec::new();
        for p in patterns {
            if p.contains('/') {
                let p = if p.starts_with('/') {
                    p.clone()
                } else {
                    format!("*/{p}")
                };
                by_path.extend(fnmatch(&p));
            } else {
                by_name.extend(fnmatch(p));
            }
        }
        PathPatterns { by_name, by_path }
    }

    pub fn matches(&self, path: &Path) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        self.by_name.iter().any(|g| g.is_match(name.as_ref()))
            || self.by_path.iter().any(|g| g.is_match(path))
    }
}

/// Every input of discovery, resolved to absolute paths.
#[derive(Debug, Clone)]
pub struct DiscoverInput {
    pub rootdir: PathBuf,
    pub invocation_dir: PathBuf,
    /// Positional args; empty means `testpaths` (from the rootdir) or the invocation dir.
    pub args: Vec<String>,
    pub testpaths: Vec<String>,
    pub python_files: Vec<String>,
    pub norecursedirs: Vec<String>,
    pub ignore: Vec<String>,
    pub ignore_glob: Vec<String>,
    pub collect_in_virtualenv: bool,
    pub doctest: Doctest,
}

/// What pytest's doctest plugin collects.
#[derive(Debug, Clone, PartialEq)]
pub struct Doctest {
    /// False with `-p no:doctest`.
    pub enabled: bool,
    /// `--doctest-glob` patterns; empty means pytest's default `test*.txt`.
    pub globs: Vec<String>,
    /// `--doctest-modules`.
    pub modules: bool,
}

impl Default for Doctest {
    fn default() -> Self {
        Doctest {
            enabled: true,
            globs: Vec::new(),
            modules: false,
        }
    }
}

/// The doctest collector's decisions, compiled once.
struct DoctestRules {
    enabled: bool,
    globs: PathPatterns,
    modules: bool,
}

impl DoctestRules {
    fn new(d: &Doctest) -> Self {
        let globs = if d.globs.is_empty() {
            vec!["test*.txt".to_owned()]
        } else {
            d.globs.clone()
        };
        DoctestRules {
            enabled: d.enabled,
            globs: PathPatterns::new(&globs),
            modules: d.modules,
        }
    }

    /// `_is_doctest`: a non-Python file is a doctest file when it matches a glob, or when it
    /// was named on the command line with a `.txt`/`.rst` suffix.
    fn text_file(&self, path: &Path, explicit: bool) -> bool {
        let suffix = path.extension().and_then(|e| e.to_str());
        self.enabled
            && suffix != Some("py")
            && ((explicit && matches!(suffix, Some("txt" | "rst"))) || self.globs.matches(path))
    }

    /// `--doctest-modules` collects every Python module but `__main__.py` and a setuptools
    /// `setup.py`. A module without `>>>` cannot hold a doctest and yields no item, so it is not
    /// planned (an empty planned file would read as lost).
    fn module(&self, path: &Path) -> bool {
        if !(self.enabled && self.modules) {
            return false;
        }
        let Ok(text) = std::fs::read(path) else {
            return false;
        };
        let name = path.file_name().and_then(|n| n.to_str());
        let contains = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
        let setup_py =
            name == Some("setup.py") && (contains(b"setuptools") || contains(b"distutils"));
        name != Some("__main__.py") && !setup_py && contains(b">>>")
    }
}

/// Files (rootdir-relative, `/`-separated, sorted, unique) and explicit node-id args.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovered {
    pub files: Vec<String>,
    /// Positional args that name a node inside a file (`path::Class::test`), rootdir-relative.
    pub node_ids: Vec<String>,
    pub warnings: Vec<String>,
    /// The paths pytest walks (explicit args, else `testpaths`, else the invocation dir),
    /// absolute: where the shard plugin's net looks for files discovery missed.
    pub roots: Vec<PathBuf>,
}

fn in_venv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file() || dir.join("conda-meta").join("history").is_file()
}

/// `Config._decide_args`: explicit args, else `testpaths` globbed from the rootdir when pytest
/// is started there, else the invocation dir.
fn decide_args(input: &DiscoverInput) -> Result<Vec<String>, SuiteError> {
    if !input.args.is_empty() {
        return Ok(input.args.clone());
    }
    if input.invocation_dir == input.rootdir && !input.testpaths.is_empty() {
        let mut out = Vec::new();
        for tp in &input.testpaths {
            out.extend(glob_relative(&input.rootdir, tp)?);
        }
        if !out.is_empty() {
            return Ok(out);
        }
    }
    Ok(vec![input.invocation_dir.display().to_string()])
}

/// Python's `sorted(glob.iglob(pattern, recursive=True))` relative to `base`.
fn glob_relative(base: &Path, pattern: &str) -> Result<Vec<String>, SuiteError> {
    if !pattern.contains(['*', '?', '[']) {
        return Ok(if absolute(base, Path::new(pattern)).exists() {
            vec![pattern.to_owned()]
        } else {
            vec![]
        });
    }
    // Walk from the literal prefix and match the whole relative path.
    let literal: Vec<&str> = pattern
        .split('/')
        .take_while(|c| !c.contains(['*', '?', '[']))
        .collect();
    let start = absolute(base, Path::new(&literal.join("/")));
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|source| SuiteError::TestpathsGlob {
            pattern: pattern.to_string(),
            source,
        })?
        .compile_matcher();
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&start)
        .follow_links(true)
        .into_iter()
        .flatten()
    {
        let rel = relative(base, entry.path());
        let hidden = entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && glob.is_match(&rel) {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}

/// Finds the test files pytest would collect.
pub fn discover(input: &DiscoverInput) -> Result<Discovered, SuiteError> {
    let python_files = PathPatterns::new(&input.python_files);
    let doctest = DoctestRules::new(&input.doctest);
    let norecurse = PathPatterns::new(&input.norecursedirs);
    let ignore: Vec<PathBuf> = input
        .ignore
        .iter()
        .map(|p| absolute(&input.invocation_dir, Path::new(p)))
        .collect();
    let ignore_glob: Vec<GlobMatcher> = input
        .ignore_glob
        .iter()
        .filter_map(|g| fnmatch(&absolute(&input.invocation_dir, Path::new(g)).to_string_lossy()))
        .collect();
    let ignored =
        |p: &Path| ignore.iter().any(|i| i == p) || ignore_glob.iter().any(|g| g.is_match(p));

    let mut out = Discovered::default();
    for arg in decide_args(input)? {
        let (path_part, rest) = match arg.split_once("::") {
            Some((p, r)) => (p, Some(r)),
            None => (arg.as_str(), None),
        };
        let path = absolute(&input.invocation_dir, Path::new(path_part));
        if !path.exists() {
            return Err(SuiteError::NotFound(arg.clone()));
        }
        let rel = relative(&input.rootdir, &path);
        if rest.is_none() {
            out.roots.push(path.clone());
        }
        if let Some(rest) = rest {
            out.node_ids.push(format!("{rel}::{rest}"));
            continue;
        }
        if path.is_file() {
            // An explicit file is collected whatever `python_files` says (pytest's "initpath").
            if path.extension().is_some_and(|e| e == "py") || doctest.text_file(&path, true) {
                out.files.push(rel);
            } else {
                out.warnings.push(format!(
                    "`{arg}` is neither a Python file nor a doctest file; it is not planned (use `--collect` for plugin test files)"
                ));
            }
            continue;
        }
        let walker = walkdir::WalkDir::new(&path)
            .follow_links(true)
            .into_iter()
            .filter_entry(|e| {
                if e.depth() == 0 || !e.file_type().is_dir() {
                    return true;
                }
                let p = e.path();
                !(e.file_name() == "__pycache__"
                    || ignored(p)
                    || (!input.collect_in_virtualenv && in_venv(p))
                    || norecurse.matches(p))
            });
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    out.warnings
                        .push(format!("skipped while walking `{arg}`: {err}"));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let p = entry.path();
            let is_py = p.extension().is_some_and(|e| e == "py");
            let test_file = if is_py {
                python_files.matches(p) || doctest.module(p)
            } else {
                doctest.text_file(p, false)
            };
            if test_file && !ignored(p) {
                out.files.push(relative(&input.rootdir, p));
            }
        }
    }
    out.files.sort();
    out.files.dedup();
    out.node_ids.sort();
    out.node_ids.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fnmatch_semantics() {
        let p = PathPatterns::new(&strings(DEFAULT_NORECURSEDIRS));
        assert!(p.matches(Path::new("/x/{arch}")));
        assert!(!p.matches(Path::new("/x/arch")));
        assert!(p.matches(Path::new("/x/.git")));
        assert!(p.matches(Path::new("/x/foo.egg")));
        let f = PathPatterns::new(&strings(&["tests/*/check_*.py"]));
        assert!(f.matches(Path::new("/r/tests/a/b/check_x.py")));
        assert!(!f.matches(Path::new("/r/other/check_x.py")));
    }

    #[test]
    fn walks_like_pytest() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "tests/test_a.py",
            "tests/sub/b_test.py",
            "tests/sub/helper.py",
            "tests/build/test_no.py",
            "tests/.hidden/test_no.py",
            "tests/venvlike/test_no.py",
            "tests/__pycache__/test_no.py",
            "tests/old/test_ignored.py",
            "tests/test_glob_old.py",
        ] {
            let p = r.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        std::fs::write(r.join("tests/venvlike/pyvenv.cfg"), "").unwrap();
        let input = DiscoverInput {
            rootdir: r.to_path_buf(),
            invocation_dir: r.to_path_buf(),
            args: vec![],
            testpaths: strings(&["tests"]),
            python_files: strings(DEFAULT_PYTHON_FILES),
            norecursedirs: strings(DEFAULT_NORECURSEDIRS),
            ignore: strings(&["tests/old"]),
            ignore_glob: strings(&["*_old.py"]),
            collect_in_virtualenv: false,
            doctest: Doctest::default(),
        };
        let found = discover(&input).unwrap();
        assert_eq!(
            found.files,
            strings(&["tests/sub/b_test.py", "tests/test_a.py"])
        );

        let mut explicit = input.clone();
        explicit.args = strings(&["tests/sub/helper.py", "tests/test_a.py::test_x"]);
        let found = discover(&explicit).unwrap();
        assert_eq!(found.files, strings(&["tests/sub/helper.py"]));
        assert_eq!(found.node_ids, strings(&["tests/test_a.py::test_x"]));

        explicit.args = strings(&["tests/nope.py"]);
        let err = discover(&explicit).unwrap_err().to_string();
        assert!(err.contains("tests/nope.py"), "{err}");
    }

    #[test]
    fn doctest_files_and_modules() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for (f, text) in [
            ("tests/test_a.py", ""),
            ("tests/test_doc.txt", ">>> 1\n1\n"),
            ("tests/other.txt", ">>> 1\n1\n"),
            ("tests/guide.rst", ">>> 1\n1\n"),
            ("pkg/__init__.py", "'''>>> 1\n1'''\n"),
            ("pkg/mod.py", "def f():\n    '''>>> f()'''\n"),
            ("pkg/plain.py", "x = 1\n"),
            ("pkg/__main__.py", "'''>>> 1'''\n"),
            ("setup.py", "import setuptools\n'''>>> 1'''\n"),
            ("conftest.py", "'''>>> 1\n1'''\n"),
        ] {
            let p = r.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let mut input = DiscoverInput {
            rootdir: r.to_path_buf(),
            invocation_dir: r.to_path_buf(),
            args: vec![],
            testpaths: vec![],
            python_files: strings(DEFAULT_PYTHON_FILES),
            norecursedirs: strings(DEFAULT_NORECURSEDIRS),
            ignore: vec![],
            ignore_glob: vec![],
            collect_in_virtualenv: false,
            doctest: Doctest::default(),
        };
        let files = |input: &DiscoverInput| discover(input).unwrap().files;
        assert_eq!(
            files(&input),
            strings(&["tests/test_a.py", "tests/test_doc.txt"])
        );
        input.doctest.globs = strings(&["*.rst", "other*"]);
        assert_eq!(
            files(&input),
            strings(&["tests/guide.rst", "tests/other.txt", "tests/test_a.py"])
        );
        input.doctest = Doctest {
            modules: true,
            ..Doctest::default()
        };
        assert_eq!(
            files(&input),
            strings(&[
                "conftest.py",
                "pkg/__init__.py",
                "pkg/mod.py",
                "tests/test_a.py",
                "tests/test_doc.txt"
            ])
        );
        input.doctest.enabled = false;
        assert_eq!(files(&input), strings(&["tests/test_a.py"]));
        input.doctest.enabled = true;
        input.args = strings(&["tests/guide.rst"]);
        assert_eq!(files(&input), strings(&["tests/guide.rst"]));
    }
}
