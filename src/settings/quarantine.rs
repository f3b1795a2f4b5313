//! The quarantine list: `[[tool.parallel-pytest.quarantine]]` tables in pyproject.toml, or the
//! `[[quarantine]]` tables of the file `quarantine-file` names (relative to the root). Each
//! entry needs `id`, `reason` and `expires` (`YYYY-MM-DD`), and may have `owner`; anything else,
//! or a date that is not one, is a usage error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{FileConfig, SettingsError};
use crate::report::quarantine::{Date, Entry};

type RawEntry = Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>;

/// The entries of the root's pyproject.toml and of the quarantine file, in file order.
pub fn load(root: &Path, file: &FileConfig) -> Result<Vec<Entry>, SettingsError> {
    let mut entries = Vec::new();
    if file.quarantine.is_some() {
        let path = root.join("pyproject.toml");
        let text = fs_err::read_to_string(&path).map_err(SettingsError::Read)?;
        entries.extend(from_pyproject(&text, "pyproject.toml").map_err(|message| {
            SettingsError::Pyproject {
                path: path.clone(),
                message,
            }
        })?);
    }
    if let Some(name) = &file.quarantine_file {
        let path: PathBuf = root.join(name);
        let text = fs_err::read_to_string(&path).map_err(SettingsError::Read)?;
        let shown = name.display().to_string();
        entries.extend(
            from_file(&text, &shown)
                .map_err(|message| SettingsError::Pyproject { path, message })?,
        );
    }
    Ok(entries)
}

/// `[[tool.parallel-pytest.quarantine]]` of a pyproject.toml.
pub fn from_pyproject(text: &str, shown: &str) -> Result<Vec<Entry>, String> {
    #[derive(Deserialize)]
    struct Doc {
        tool: Option<Tool>,
    }
    #[derive(Deserialize)]
    struct Tool {
        #[serde(rename = "parallel-pytest")]
        parallel_pytest: Option<Section>,
    }
    #[derive(Deserialize)]
    struct Section {
        #[serde(default)]
        quarantine: Vec<RawEntry>,
    }
    let doc: Doc = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let raw = doc
        .tool
        .and_then(|t| t.parallel_pytest)
        .map(|s| s.quarantine)
        .unwrap_or_default();
    entries(text, shown, raw)
}

/// The `[[quarantine]]` tables of a quarantine file (nothing else may be in it).
pub fn from_file(text: &str, shown: &str) -> Result<Vec<Entry>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        quarantine: Vec<RawEntry>,
    }
    let doc: Doc = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    entries(text, shown, doc.quarantine)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn entries(text: &str, shown: &str, raw: Vec<RawEntry>) -> Result<Vec<Entry>, String> {
    raw.into_iter()
        .map(|table| {
            let at = |offset: usize| format!("{shown}:{}", line_of(text, offset));
            let origin = at(table.span().start);
            let mut id = None;
            let mut reason = None;
            let mut expires = None;
            let mut owner = None;
            for (key, value) in table.into_inner() {
                let place = at(key.span().start);
                let string = |v: &toml::Value| match v {
                    toml::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    // `expires = 2026-12-31` without quotes is a TOML date: as good as a string.
                    toml::Value::Datetime(d) if key.get_ref() == "expires" => Ok(d.to_string()),
                    _ => Err(format!(
                        "{place}: quarantine `{}` must be a non-empty string",
                        key.get_ref()
                    )),
                };
                let v = string(value.get_ref())?;
                match key.get_ref().as_str() {
                    "id" => id = Some(v),
                    "reason" => reason = Some(v),
                    "owner" => owner = Some(v),
                    "expires" => {
                        expires = Some(
                            v.parse::<Date>()
                                .map_err(|e| format!("{place}: quarantine `expires`: {e}"))?,
                        )
                    }
                    other => {
                        return Err(format!(
                            "{place}: unknown quarantine key `{other}` (expected `id`, `reason`, \
                             `expires`, `owner`)"
                        ));
                    }
                }
            }
            let missing = |key: &str| {
                format!(
                    "{origin}: quarantine entry has no `{key}` (each entry needs `id`, `reason` and \
                     `expires = \"YYYY-MM-DD\"`)"
                )
            };
            Ok(Entry {
                id: id.ok_or_else(|| missing("id"))?,
                reason: reason.ok_or_else(|| missing("reason"))?,
                expires: expires.ok_or_else(|| missing("expires"))?,
                owner,
                origin,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"[project]
name = "x"

[[tool.parallel-pytest.quarantine]]
id = "tests/test_net.py::test_download"
reason = "mirror times out"
expires = "2026-12-31"
owner = "@alice"

[[tool.parallel-pytest.quarantine]]
id = "tests/flaky/"
reason = "ports"
expires = 2027-01-31
"#;

    #[test]
    fn entries_are_read_with_their_lines() {
        let e = from_pyproject(GOOD, "pyproject.toml").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].id, "tests/test_net.py::test_download");
        assert_eq!(e[0].owner.as_deref(), Some("@alice"));
        assert_eq!(e[0].expires.to_string(), "2026-12-31");
        assert_eq!(e[1].expires.to_string(), "2027-01-31");
        assert!(
            e[0].origin.starts_with("pyproject.toml:"),
            "{}",
            e[0].origin
        );
        assert!(
            from_pyproject("[tool.parallel-pytest]\nworkers = 2\n", "p")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_entries_name_the_line() {
        let bad_date = GOOD.replace("2026-12-31", "2026-02-30");
        let err = from_pyproject(&bad_date, "pyproject.toml").unwrap_err();
        assert!(err.starts_with("pyproject.toml:7:"), "{err}");
        assert!(err.contains("2026-02-30"), "{err}");

        let unknown = GOOD.replace("owner = ", "ownr = ");
        let err = from_pyproject(&unknown, "pyproject.toml").unwrap_err();
        assert!(
            err.starts_with("pyproject.toml:8:") && err.contains("`ownr`"),
            "{err}"
        );

        let no_date = GOOD.replace("expires = \"2026-12-31\"\n", "");
        let err = from_pyproject(&no_date, "pyproject.toml").unwrap_err();
        assert!(
            err.contains("has no `expires`") && err.contains("pyproject.toml:"),
            "{err}"
        );

        let err = from_file(
            "[[quarantine]]\nid = \"a\"\nreason = \"r\"\nexpires = \"soon\"\n",
            "q.toml",
        )
        .unwrap_err();
        assert!(err.starts_with("q.toml:4:"), "{err}");
        assert!(from_file("[other]\n", "q.toml").is_err());
    }
}
