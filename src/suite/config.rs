//! pytest's config-file precedence and rootdir rules, ported from
//! `_pytest/config/findpaths.py` (pytest 9): `pytest.toml`, `.pytest.toml`, `pytest.ini`,
//! `.pytest.ini`, `pyproject.toml` (`[tool.pytest]` native TOML or `[tool.pytest.ini_options]`),
//! `tox.ini` `[pytest]`, `setup.cfg` `[tool:pytest]`; then `setup.py`; then the common ancestor
//! of the arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::SuiteError;
use super::ini;
use super::paths::{absolute, common_ancestor};

/// One config value: INI files and `ini_options` give strings (or lists of strings in TOML);
/// pytest 9's `[tool.pytest]` keeps native TOML types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    List(Vec<String>),
    Other(String),
}

/// The config file pytest would use and its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PytestConfig {
    pub rootdir: PathBuf,
    pub file: Option<PathBuf>,
    pub values: BTreeMap<String, Value>,
}

impl PytestConfig {
    /// An `args`-typed ini value (`testpaths`, `python_files`, `norecursedirs`, `addopts`):
    /// strings are shell-split as pytest does with `shlex.split`.
    pub fn args(&self, key: &str) -> Result<Option<Vec<String>>, SuiteError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::List(items)) => Ok(Some(items.clone())),
            Some(Value::Str(s)) => shlex::split(s).map(Some).ok_or_else(|| SuiteError::Config {
                path: self.file_display(),
                message: format!("`{key}` is not valid shell syntax (unbalanced quotes)"),
            }),
            Some(Value::Other(raw)) => Err(SuiteError::Config {
                path: self.file_display(),
                message: format!("`{key}` must be a string or a list of strings, got `{raw}`"),
            }),
        }
    }

    fn file_display(&self) -> String {
        self.file
            .as_ref()
            .map_or_else(|| "<no config file>".into(), |p| p.display().to_string())
    }
}

type Loaded = Option<BTreeMap<String, Value>>;
/// (rootdir, config file, values).
type Located = (PathBuf, PathBuf, BTreeMap<String, Value>);

/// Names pytest looks for, in precedence order within one folder.
const CONFIG_NAMES: &[&str] = &[
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

fn read(path: &Path) -> Result<String, SuiteError> {
    std::fs::read_to_string(path).map_err(|source| SuiteError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })
}

fn ini_section(path: &Path, section: &str) -> Result<Loaded, SuiteError> {
    let text = read(path)?;
    let parsed = ini::parse(&text).map_err(|source| SuiteError::Ini {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parsed.section(section).map(|s| {
        s.iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect()
    }))
}

fn toml_doc(path: &Path) -> Result<toml::Table, SuiteError> {
    let text = read(path)?;
    text.parse::<toml::Table>()
        .map_err(|source| SuiteError::Toml {
            path: path.to_path_buf(),
            source,
        })
}

fn toml_value(v: &toml::Value, native: bool) -> Value {
    match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Array(items) if items.iter().all(|i| i.is_str()) => Value::List(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
        ),
        // `ini_options` stringifies scalars (pytest's `make_scalar`); native mode keeps them.
        other if !native => Value::Str(match other {
            toml::Value::Boolean(b) => if *b { "True" } else { "False" }.to_owned(),
            _ => other.to_string(),
        }),
        other => Value::Other(other.to_string()),
    }
}

fn table_values(t: &toml::Table, native: bool, skip: Option<&str>) -> BTreeMap<String, Value> {
    t.iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| (k.clone(), toml_value(v, native)))
        .collect()
}

fn load_pyproject(path: &Path) -> Result<Loaded, SuiteError> {
    let doc = toml_doc(path)?;
    let Some(tool_pytest) = doc
        .get("tool")
        .and_then(|t| t.get("pytest"))
        .and_then(|p| p.as_table())
    else {
        return Ok(None);
    };
    let native = table_values(tool_pytest, true, Some("ini_options"));
    let ini_options = tool_pytest.get("ini_options").and_then(|v| v.as_table());
    match (native.is_empty(), ini_options) {
        (false, Some(_)) => Err(SuiteError::Config {
            path: path.display().to_string(),
            message: "cannot use both `[tool.pytest]` and `[tool.pytest.ini_options]`".into(),
        }),
        (false, None) => Ok(Some(native)),
        (true, Some(t)) => Ok(Some(table_values(t, false, None))),
        (true, None) => Ok(None),
    }
}

fn load_pytest_toml(path: &Path) -> Result<Loaded, SuiteError> {
    let doc = toml_doc(path)?;
    Ok(Some(
        doc.get("pytest")
            .and_then(|p| p.as_table())
            .map(|t| table_values(t, true, None))
            .unwrap_or_default(),
    ))
}

/// Loads one candidate file; `None` when it holds no pytest configuration.
pub fn load(path: &Path) -> Result<Loaded, SuiteError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name {
        "pytest.toml" | ".pytest.toml" => load_pytest_toml(path),
        "pytest.ini" | ".pytest.ini" => Ok(Some(ini_section(path, "pytest")?.unwrap_or_default())),
        "pyproject.toml" => load_pyproject(path),
        "tox.ini" => ini_section(path, "pytest"),
        "setup.cfg" => {
            let found = ini_section(path, "tool:pytest")?;
            if found.is_none() && ini_section(path, "pytest")?.is_some() {
                return Err(SuiteError::Config {
                    path: path.display().to_string(),
                    message: "`[pytest]` sections in setup.cfg are no longer supported by pytest; use `[tool:pytest]`".into(),
                });
            }
            Ok(found)
        }
        _ => match path.extension().and_then(|e| e.to_str()) {
            Some("ini") => ini_section(path, "pytest"),
            Some("cfg") => ini_section(path, "tool:pytest"),
            Some("toml") => {
                let doc = toml_doc(path)?;
                if doc.contains_key("pytest") {
                    load_pytest_toml(path)
                } else {
                    load_pyproject(path)
                }
            }
            _ => Err(SuiteError::Config {
                path: path.display().to_string(),
                message: "unsupported config file format (expected .ini, .cfg or .toml)".into(),
            }),
        },
    }
}

/// `locate_config`: the first folder from each arg upwards holding a config file.
fn locate(args: &[PathBuf]) -> Result<Option<Located>, SuiteError> {
    let mut first_pyproject: Option<PathBuf> = None;
    for arg in args {
        for base in arg.ancestors() {
            for name in CONFIG_NAMES {
                let p = base.join(name);
                if p.is_file() {
                    if *name == "pyproject.toml" && first_pyproject.is_none() {
                        first_pyproject = Some(p.clone());
                    }
                    if let Some(values) = load(&p)? {
                        return Ok(Some((base.to_path_buf(), p, values)));
                    }
                }
            }
        }
    }
    // pytest ≥ 8.1: a pyproject.toml without pytest tables still anchors the rootdir.
    Ok(first_pyproject.map(|p| {
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        (dir, p, BTreeMap::new())
    }))
}

/// `determine_setup`: rootdir, config file and values for an invocation.
///
/// `path_args` are the positional args (files, folders, node ids already cut at `::`), relative
/// to `invocation_dir`; `config_file` is `-c`, `rootdir_arg` is `--rootdir`.
pub fn determine(
    invocation_dir: &Path,
    path_args: &[PathBuf],
    config_file: Option<&Path>,
    rootdir_arg: Option<&Path>,
) -> Result<PytestConfig, SuiteError> {
    let dirs: Vec<PathBuf> = path_args
        .iter()
        .map(|a| absolute(invocation_dir, a))
        .filter(|p| p.exists())
        .map(|p| {
            if p.is_dir() {
                p
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            }
        })
        .collect();
    let ancestor = common_ancestor(invocation_dir, &dirs);
    let mut config = PytestConfig::default();
    let mut rootdir: Option<PathBuf> = None;
    if let Some(file) = config_file {
        let file = absolute(invocation_dir, file);
        if !file.exists() {
            return Err(SuiteError::Config {
                path: file.display().to_string(),
                message: "config file given with `-c`/`--config-file` does not exist".into(),
            });
        }
        if file.is_file() {
            config.values = load(&file)?.unwrap_or_default();
            rootdir = file.parent().map(Path::to_path_buf);
            config.file = Some(file);
        } else {
            rootdir = Some(ancestor.clone());
        }
    } else if let Some((dir, file, values)) = locate(std::slice::from_ref(&ancestor))? {
        rootdir = Some(dir);
        config.file = Some(file);
        config.values = values;
    } else if rootdir_arg.is_none() {
        rootdir = ancestor
            .ancestors()
            .find(|d| d.join("setup.py").is_file())
            .map(Path::to_path_buf);
        if rootdir.is_none() {
            if dirs != [ancestor.clone()] {
                if let Some((dir, file, values)) = locate(&dirs)? {
                    rootdir = Some(dir);
                    config.file = Some(file);
                    config.values = values;
                }
            }
            if rootdir.is_none() {
                let common = common_ancestor(
                    invocation_dir,
                    &[invocation_dir.to_path_buf(), ancestor.clone()],
                );
                rootdir = Some(if common.parent().is_none() {
                    ancestor.clone()
                } else {
                    common
                });
            }
        }
    }
    if let Some(r) = rootdir_arg {
        let r = absolute(invocation_dir, r);
        if !r.is_dir() {
            return Err(SuiteError::RootdirNotDir(r));
        }
        rootdir = Some(r);
    }
    config.rootdir = rootdir.unwrap_or(ancestor);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn precedence_within_a_folder_and_upwards() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "pyproject.toml",
            "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
        );
        write(root, "tox.ini", "[pytest]\ntestpaths = other\n");
        write(root, "sub/setup.cfg", "[metadata]\nname = x\n");
        let c = determine(&root.join("sub"), &[], None, None).unwrap();
        assert_eq!(c.rootdir, root);
        assert_eq!(
            c.file.as_deref(),
            Some(root.join("pyproject.toml").as_path())
        );
        assert_eq!(c.args("testpaths").unwrap(), Some(vec!["tests".to_owned()]));
    }

    #[test]
    fn native_toml_and_both_styles_error() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "pyproject.toml",
            "[tool.pytest]\npython_files = ['check_*.py']\nminversion = 9\n",
        );
        let c = determine(d.path(), &[], None, None).unwrap();
        assert_eq!(
            c.args("python_files").unwrap(),
            Some(vec!["check_*.py".to_owned()])
        );
        write(
            d.path(),
            "pyproject.toml",
            "[tool.pytest]\nx = ['a']\n[tool.pytest.ini_options]\ny = 'b'\n",
        );
        let err = determine(d.path(), &[], None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pyproject.toml") && err.contains("both"),
            "{err}"
        );
    }

    #[test]
    fn pyproject_without_table_anchors_rootdir_and_setup_cfg_pytest_is_error() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "pyproject.toml", "[project]\nname='x'\n");
        write(d.path(), "a/b/x.txt", "");
        let c = determine(&d.path().join("a/b"), &[], None, None).unwrap();
        assert_eq!(c.rootdir, d.path());
        assert!(c.values.is_empty());
        write(d.path(), "a/setup.cfg", "[pytest]\naddopts = -q\n");
        let err = determine(&d.path().join("a/b"), &[], None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("setup.cfg") && err.contains("tool:pytest"),
            "{err}"
        );
    }

    #[test]
    fn bad_config_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "pytest.ini", "[pytest]\nthis is wrong\n");
        let err = determine(d.path(), &[], None, None).unwrap_err();
        let cause = std::error::Error::source(&err).map(|c| c.to_string());
        assert!(err.to_string().contains("pytest.ini"), "{err}");
        assert!(cause.is_some_and(|c| c.contains("line 2")), "{err:?}");
    }

    #[test]
    fn no_config_uses_common_ancestor_of_args() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "x/tests/test_a.py", "");
        write(d.path(), "x/tests/sub/test_b.py", "");
        let inv = d.path().join("x");
        let c = determine(
            &inv,
            &[PathBuf::from("tests/test_a.py"), PathBuf::from("tests/sub")],
            None,
            None,
        )
        .unwrap();
        // The common ancestor `x/tests` is below the invocation dir, so rootdir is the
        // invocation dir (pytest's `get_common_ancestor(invocation_dir, [invocation_dir, ancestor])`).
        assert_eq!(c.rootdir, inv);
        assert!(c.file.is_none());
    }
}
