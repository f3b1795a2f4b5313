//! Resolving `--timings` specs to files and reading each file by what its content is.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::{DEFAULT_STORE, IdSeconds, TEST_DURATIONS, Timings, TimingsError, store};
use crate::junit::reader;
use crate::node_id::NodeId;

/// Files of a folder that look like timings: `*.xml`, `*.json`, `.test_durations`.
fn is_timings_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name == TEST_DURATIONS || name.ends_with(".xml") || name.ends_with(".json")
}

/// Turns `--timings` specs (relative to `base`) into files, sorted within each spec so the
/// result does not depend on directory order. No specs → the defaults under `root`.
pub fn resolve(specs: &[String], base: &Path, root: &Path) -> Result<Vec<PathBuf>, TimingsError> {
    if specs.is_empty() {
        return Ok([DEFAULT_STORE, TEST_DURATIONS]
            .iter()
            .map(|p| root.join(p))
            .find(|p| p.is_file())
            .into_iter()
            .collect());
    }
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| !s.trim().is_empty()) {
        let path = base.join(spec);
        if spec.contains(['*', '?', '[']) {
            out.extend(expand_glob(base, spec)?);
        } else if path.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(&path)
                .follow_links(true)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file() && is_timings_name(e.path()))
                .map(|e| e.into_path())
                .collect();
            found.sort();
            out.extend(found);
        } else if path.is_file() {
            out.push(path);
        } else {
            return Err(TimingsError::NotFound(spec.clone()));
        }
    }
    Ok(out)
}

fn expand_glob(base: &Path, spec: &str) -> Result<Vec<PathBuf>, TimingsError> {
    let absolute = if Path::new(spec).is_absolute() {
        spec.to_owned()
    } else {
        format!("{}/{spec}", base.display())
    };
    let literal: Vec<&str> = absolute
        .split('/')
        .take_while(|c| !c.contains(['*', '?', '[']))
        .collect();
    let start = PathBuf::from(if literal.join("/").is_empty() {
        "/".to_owned()
    } else {
        literal.join("/")
    });
    let glob = globset::GlobBuilder::new(&absolute)
        .literal_separator(true)
        .build()
        .map_err(|source| TimingsError::BadGlob {
            pattern: spec.to_owned(),
            source,
        })?
        .compile_matcher();
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(&start)
        .follow_links(true)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && glob.is_match(e.path()))
        .map(|e| e.into_path())
        .collect();
    found.sort();
    Ok(found)
}

/// Reads one file into `timings`, detecting its format from the first non-blank byte.
pub fn read_into(
    path: &Path,
    mapper: &super::LazyMapper<'_>,
    timings: &mut Timings,
) -> Result<(), TimingsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TimingsError::Read {
        path: shown.clone(),
        source,
    })?;
    match bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF)
    {
        Some(b'{') => read_json(path, &bytes, timings),
        Some(b'<') => read_junit(path, &bytes, mapper, timings),
        Some(_) => Err(TimingsError::Unrecognised {
            path: shown,
            reason: "it starts with neither `{` nor `<`",
        }),
        None => Err(TimingsError::Unrecognised {
            path: shown,
            reason: "it is empty",
        }),
    }
}

/// Python's `json.dump` writes `NaN`/`Infinity` for non-finite floats, which is not JSON;
/// turn those bare tokens into strings so the bad values can be reported per test.
fn python_json_to_json(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            // A string, so the warning can show the bad value.
            out.push('"');
            out.push_str(t);
            out.push('"');
            rest = &rest[t.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.into()
}

fn read_json(path: &Path, bytes: &[u8], timings: &mut Timings) -> Result<(), TimingsError> {
    let shown = path.display().to_string();
    let text = std::str::from_utf8(bytes).map_err(|source| TimingsError::NotUtf8 {
        path: shown.clone(),
        source,
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let text = python_json_to_json(text);
    if store::looks_like_store(&text) {
        let store = store::Store::from_json(&text).map_err(|e| e.with_path(&shown))?;
        timings.fixed.extend(store.fixed_costs());
        for (id, entry) in store.tests {
            if let Some(sel) = entry.selectable() {
                let key = crate::node_id::NodeId::new(id.clone()).into_string();
                timings.selectable.insert(key, sel);
            }
            timings.insert_checked(id, entry.seconds, path);
        }
        return Ok(());
    }
    // Streamed into a list, not a map (see `IdSeconds`); one pass over the text. Reading a
    // big file as two halves on two threads was tried and measured: no faster on 2 CPUs,
    // where the marker scan keeps the other CPU busy (BENCHMARKS.md).
    let collected = collect(&text).map_err(|source| TimingsError::BadJson {
        path: shown.clone(),
        source,
    })?;
    let Collector {
        tests,
        mut bad,
        numbers,
    } = collected;
    timings.tests.append(tests);
    if numbers == 0 && !bad.is_empty() && bad.iter().all(|(_, v)| v != "null") {
        return Err(TimingsError::Unrecognised {
            path: shown,
            reason: "it is a JSON object, but its values are not durations in seconds",
        });
    }
    // Sorted so warnings come out in the same order on every machine.
    bad.sort();
    for (id, shown_value) in bad {
        timings.bad_value(&id, &shown_value, path);
    }
    Ok(())
}

/// `.test_durations` reader: good values in the order of the file, others kept for warnings.
#[derive(Default)]
struct Collector {
    tests: IdSeconds,
    bad: Vec<(String, String)>,
    numbers: usize,
}

/// Reads one `.test_durations` object.
fn collect(text: &str) -> Result<Collector, serde_json::Error> {
    let mut collector = Collector::default();
    // About one entry per comma: the list is allocated once.
    collector
        .tests
        .reserve(text.bytes().filter(|&b| b == b',').count() + 1);
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(&mut collector, &mut de).and_then(|()| de.end())?;
    Ok(collector)
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut Collector {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Collector {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object mapping node ids to seconds")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(id) = map.next_key::<String>()? {
            // Written on Windows, ids may say `tests\test_a.py::…`; pytest says `/`.
            let id = NodeId::new(id).into_string();
            let value: serde_json::Value = map.next_value()?;
            match value.as_f64() {
                Some(s) if s.is_finite() && s >= 0.0 => {
                    self.numbers += 1;
                    self.tests.insert(id, s);
                }
                _ => {
                    // A later duplicate key wins, as with any JSON object.
                    self.tests.remove(id.clone());
                    self.bad.push((id, value.to_string()));
                }
            }
        }
        Ok(())
    }
}

fn read_junit(
    path: &Path,
    bytes: &[u8],
    mapper: &super::LazyMapper<'_>,
    timings: &mut Timings,
) -> Result<(), TimingsError> {
    let shown = path.display().to_string();
    // Only names and times matter here: keep failure texts tiny.
    let limits = reader::Limits {
        max_text_bytes: 0,
        max_message_bytes: 0,
        ..reader::Limits::default()
    };
    let mut seen: HashMap<String, f64> = HashMap::new();
    let summary = reader::read(BufReader::new(bytes), &shown, &limits, |case| {
        let id = mapper.node_id(&case.classname, &case.name, case.file.as_deref());
        *seen.entry(id).or_insert(0.0) += case.time_seconds;
    })
    .map_err(|source| match source {
        reader::ReadError::NotJunit { .. } | reader::ReadError::NotXml { .. } => {
            TimingsError::BadJunit {
                path: shown.clone(),
                source,
            }
        }
        source => TimingsError::ReadJunit {
            path: shown.clone(),
            source,
        },
    })?;
    if let Some(reason) = summary.truncated {
        timings.warnings.push(format!(
            "`{shown}` is truncated ({reason}); its complete testcases are used"
        ));
    }
    let mut entries: Vec<(String, f64)> = seen.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, s) in entries {
        timings.insert_checked(id, s, path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Timings, TimingsError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, text).unwrap();
        let mut t = Timings::default();
        read_into(
            &p,
            &crate::timings::mapper_now(crate::junit::node_id::NodeIdMapper::with_files([
                "tests/test_a.py",
            ])),
            &mut t,
        )
        .map(|_| t)
    }

    #[test]
    fn test_durations_with_python_nan() {
        let t = read(
            r#"{"a.py::t1": 1.5, "a.py::t2": NaN, "a.py::t3": -1, "a.py::NaN": 2,
                "a.py::t4": 1, "a.py::t4": null, "a.py::t5": "x", "a.py::t5": 3}"#,
        )
        .unwrap();
        assert_eq!(t.warnings.len(), 4, "{:?}", t.warnings);
        let tests = t.tests.into_map();
        assert_eq!(tests.get("a.py::t1"), Some(&1.5));
        assert_eq!(tests.get("a.py::NaN"), Some(&2.0));
        assert!(!tests.contains_key("a.py::t2"));
        assert!(!tests.contains_key("a.py::t3"));
        // A later duplicate key wins, whether it is good or bad.
        assert!(!tests.contains_key("a.py::t4"));
        assert_eq!(tests.get("a.py::t5"), Some(&3.0));
    }

    #[test]
    fn junit_xunit2_sums_reruns() {
        let t = read(
            r#"<?xml version="1.0"?><testsuites><testsuite name="pytest">
            <testcase classname="tests.test_a.TestC" name="test_x[1]" time="0.5"/>
            <testcase classname="tests.test_a.TestC" name="test_x[1]" time="0.25"><failure message="m">t</failure></testcase>
            <testcase classname="tests.test_a" name="test_y" time="2"/>
            </testsuite></testsuites>"#,
        )
        .unwrap();
        let tests = t.tests.into_map();
        assert_eq!(tests.get("tests/test_a.py::TestC::test_x[1]"), Some(&0.75));
        assert_eq!(tests.get("tests/test_a.py::test_y"), Some(&2.0));
    }

    /// Files written on Windows: CRLF line ends and `\` in paths read like their Unix twins.
    #[test]
    fn windows_written_files_read_like_unix_ones() {
        let unix = read(
            "{\n  \"tests/test_a.py::test_x\": 1.5,\n  \"tests/test_a.py::T::test_y[1]\": 2\n}\n",
        )
        .unwrap();
        let windows = read(
            "{\r\n  \"tests\\\\test_a.py::test_x\": 1.5,\r\n  \"tests\\\\test_a.py::T::test_y[1]\": 2\r\n}\r\n",
        )
        .unwrap();
        assert_eq!(
            windows.tests.clone().into_map(),
            unix.tests.clone().into_map()
        );
        assert_eq!(
            windows
                .tests
                .into_map()
                .get("tests/test_a.py::T::test_y[1]"),
            Some(&2.0)
        );
        let junit = read(
            "<?xml version=\"1.0\"?>\r\n<testsuites>\r\n<testsuite name=\"pytest\">\r\n\
             <testcase classname=\"tests.test_a\" file=\"tests\\test_a.py\" name=\"test_x\" time=\"1.5\"/>\r\n\
             <testcase classname=\"tests.test_a.T\" name=\"test_y[1]\" time=\"2\"/>\r\n\
             </testsuite>\r\n</testsuites>\r\n",
        )
        .unwrap();
        assert_eq!(junit.tests.into_map(), unix.tests.into_map());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = read("hello").unwrap_err().to_string();
        assert!(e.contains("is not JUnit XML"), "{e}");
        let e = read("{\"a\": ").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = read("<html><body/></html>").unwrap_err().to_string();
        assert!(e.contains("not valid JUnit"), "{e}");
        let e = read(r#"{"a": "x", "b": [1]}"#).unwrap_err().to_string();
        assert!(e.contains("not durations"), "{e}");
    }
}
