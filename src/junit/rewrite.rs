//! JUnit work `run` does on the raw XML of pytest's files, where the streaming [`reader`]
//! (which keeps only what `report` needs) would lose content: appending the suites of one file
//! to another byte for byte, and listing the failure messages of a file.
//!
//! [`reader`]: super::reader

use std::path::{Path, PathBuf};

use quick_xml::events::{BytesEnd, BytesStart, Event};

/// A valid report with no tests: what a shard the plan gave nothing writes, so artifact globs
/// and `report` find its file.
pub const EMPTY_REPORT: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites name=\"pytest tests\"><testsuite name=\"pytest\" errors=\"0\" failures=\"0\" skipped=\"0\" tests=\"0\" time=\"0\"/></testsuites>\n";

/// Why two JUnit files could not be merged; the files stay as they were.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("failed to merge `{extra}` into `{main}`")]
    Merge {
        main: PathBuf,
        extra: PathBuf,
        #[source]
        source: Box<RewriteError>,
    },
    #[error("the {which} JUnit is not well-formed XML")]
    Xml {
        which: &'static str,
        #[source]
        source: quick_xml::Error,
    },
    #[error("the {which} JUnit ends before its root element closes")]
    Truncated { which: &'static str },
    #[error("JUnit is not UTF-8")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Appends the `<testsuite>` elements of `extra` to the JUnit file `main`, in place (through a
/// temporary file and a rename). pytest writes `<testsuites><testsuite .../></testsuites>`; a
/// lone `<testsuite>` root is wrapped. Totals on the `<testsuites>` root (which pytest does not
/// write, but other tools do) are dropped rather than left wrong: readers sum the suites.
/// When `main` does not exist, `extra` is moved into its place.
pub fn append_suites_file(main: &Path, extra: &Path) -> Result<(), RewriteError> {
    if !main.exists() {
        fs_err::rename(extra, main)?;
        return Ok(());
    }
    let main_text = fs_err::read_to_string(main)?;
    let extra_text = fs_err::read_to_string(extra)?;
    let merged = append_suites(&main_text, &extra_text).map_err(|source| RewriteError::Merge {
        main: main.to_path_buf(),
        extra: extra.to_path_buf(),
        source: Box::new(source),
    })?;
    let tmp = main.with_extension("xml.tmp");
    fs_err::write(&tmp, merged)?;
    fs_err::rename(&tmp, main)?;
    fs_err::remove_file(extra)?;
    Ok(())
}

const TOTALS: &[&[u8]] = &[
    b"tests",
    b"failures",
    b"errors",
    b"skipped",
    b"time",
    b"disabled",
];

/// Pure core of [`append_suites_file`].
fn append_suites(main: &str, extra: &str) -> Result<String, RewriteError> {
    let extra_suites = suite_events(extra, "appended")?;
    let mut reader = quick_xml::Reader::from_str(main);
    let mut writer = quick_xml::Writer::new(Vec::new());
    let mut depth = 0usize;
    let mut wrapped_root: Option<bool> = None;
    loop {
        let event = reader.read_event().map_err(|source| RewriteError::Xml {
            which: "first",
            source,
        })?;
        match event {
            Event::Eof => break,
            Event::Start(start) if depth == 0 => {
                depth += 1;
                if start.name().as_ref() == b"testsuites" {
                    wrapped_root = Some(true);
                    writer.write_event(Event::Start(without_totals(&start)))?;
                } else {
                    wrapped_root = Some(false);
                    writer.write_event(Event::Start(BytesStart::new("testsuites")))?;
                    writer.write_event(Event::Start(start))?;
                }
            }
            Event::Empty(start) if depth == 0 => {
                // `<testsuites/>` or `<testsuite/>` with nothing inside.
                if start.name().as_ref() == b"testsuites" {
                    writer.write_event(Event::Start(without_totals(&start)))?;
                } else {
                    writer.write_event(Event::Start(BytesStart::new("testsuites")))?;
                    writer.write_event(Event::Empty(start))?;
                }
                write_all(&mut writer, &extra_suites)?;
                writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
                wrapped_root = None;
            }
            Event::Start(start) => {
                depth += 1;
                writer.write_event(Event::Start(start))?;
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if wrapped_root == Some(false) {
                        writer.write_event(Event::End(end))?;
                    }
                    write_all(&mut writer, &extra_suites)?;
                    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
                    wrapped_root = None;
                } else {
                    writer.write_event(Event::End(end))?;
                }
            }
            other => writer.write_event(other)?,
        }
    }
    if wrapped_root.is_some() {
        return Err(RewriteError::Truncated { which: "first" });
    }
    Ok(String::from_utf8(writer.into_inner())?)
}

fn without_totals(start: &BytesStart<'_>) -> BytesStart<'static> {
    let mut out = BytesStart::new(String::from_utf8_lossy(start.name().as_ref()).into_owned());
    for attr in start.attributes().flatten() {
        if !TOTALS.contains(&attr.key.as_ref()) {
            out.push_attribute(attr);
        }
    }
    out.into_owned()
}

/// Every event inside `<testsuites>` (or the lone `<testsuite>` root itself) of `text`.
fn suite_events(text: &str, which: &'static str) -> Result<Vec<Event<'static>>, RewriteError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut wrapped = false;
    let mut closed = false;
    let mut out = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|source| RewriteError::Xml { which, source })?;
        match event {
            Event::Eof => break,
            Event::Decl(_) | Event::DocType(_) | Event::PI(_) if depth == 0 => {}
            Event::Start(start) if depth == 0 => {
                depth += 1;
                wrapped = start.name().as_ref() == b"testsuites";
                if !wrapped {
                    out.push(Event::Start(start.into_owned()));
                }
            }
            Event::Empty(start) if depth == 0 => {
                closed = true;
                if start.name().as_ref() != b"testsuites" {
                    out.push(Event::Empty(start.into_owned()));
                }
            }
            Event::Start(start) => {
                depth += 1;
                out.push(Event::Start(start.into_owned()));
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    closed = true;
                    if !wrapped {
                        out.push(Event::End(end.into_owned()));
                    }
                } else {
                    out.push(Event::End(end.into_owned()));
                }
            }
            other if depth > 0 => out.push(other.into_owned()),
            _ => {}
        }
    }
    if !closed {
        return Err(RewriteError::Truncated { which });
    }
    Ok(out)
}

fn write_all(writer: &mut quick_xml::Writer<Vec<u8>>, events: &[Event<'_>]) -> std::io::Result<()> {
    for event in events {
        writer.write_event(event.borrow())?;
    }
    Ok(())
}

/// The `message` of every `<failure>` and `<error>`, in file order. A truncated or broken file
/// (pytest killed mid-write) gives what precedes the break; `report` flags the file itself.
pub fn failure_messages(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if matches!(e.name().as_ref(), b"failure" | b"error") =>
            {
                let message = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"message")
                    .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                out.extend(message);
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARALLEL: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.0"><testcase classname="tests.test_a" name="test_x" time="0.1" /><testcase classname="tests.test_a" name="test_y" time="0.2"><failure message="assert 1 == 2 &amp; &lt;x&gt;">tb</failure></testcase></testsuite></testsuites>"#;
    const SERIAL: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1" time="0.5"><testcase classname="tests.test_s" name="test_serial" time="0.5"><system-out>&lt;hi&gt;</system-out></testcase></testsuite></testsuites>"#;

    #[test]
    fn serial_suite_is_appended_inside_the_same_root() {
        let merged = append_suites(PARALLEL, SERIAL).unwrap();
        assert_eq!(
            merged,
            r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.0"><testcase classname="tests.test_a" name="test_x" time="0.1" /><testcase classname="tests.test_a" name="test_y" time="0.2"><failure message="assert 1 == 2 &amp; &lt;x&gt;">tb</failure></testcase></testsuite><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1" time="0.5"><testcase classname="tests.test_s" name="test_serial" time="0.5"><system-out>&lt;hi&gt;</system-out></testcase></testsuite></testsuites>"#
        );
    }

    #[test]
    fn lone_testsuite_roots_are_wrapped_and_root_totals_dropped() {
        let main = r#"<testsuite name="a" tests="1"><testcase name="t1"/></testsuite>"#;
        let extra = r#"<testsuites tests="9"><testsuite name="b" tests="1"><testcase name="t2"/></testsuite></testsuites>"#;
        assert_eq!(
            append_suites(main, extra).unwrap(),
            r#"<testsuites><testsuite name="a" tests="1"><testcase name="t1"/></testsuite><testsuite name="b" tests="1"><testcase name="t2"/></testsuite></testsuites>"#
        );
        let main =
            r#"<testsuites name="x" tests="3" failures="1"><testsuite name="a"/></testsuites>"#;
        let extra = r#"<testsuite name="b"><testcase name="t2"/></testsuite>"#;
        assert_eq!(
            append_suites(main, extra).unwrap(),
            r#"<testsuites name="x"><testsuite name="a"/><testsuite name="b"><testcase name="t2"/></testsuite></testsuites>"#
        );
        // An empty parallel phase (every test of the shard was serial).
        let main = r#"<testsuites name="x"/>"#;
        assert_eq!(
            append_suites(main, extra).unwrap(),
            r#"<testsuites name="x"><testsuite name="b"><testcase name="t2"/></testsuite></testsuites>"#
        );
    }

    #[test]
    fn truncated_files_are_an_error_not_a_silent_loss() {
        let cut = &PARALLEL[..PARALLEL.len() - 30];
        assert!(append_suites(cut, SERIAL).is_err());
        let cut = &SERIAL[..SERIAL.len() - 30];
        assert!(append_suites(PARALLEL, cut).is_err());
    }

    #[test]
    fn appending_a_file_replaces_the_main_file_and_removes_the_extra() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("junit-1-of-2.xml");
        let extra = dir.path().join("junit-1-of-2.serial.xml");
        std::fs::write(&main, PARALLEL).unwrap();
        std::fs::write(&extra, SERIAL).unwrap();
        append_suites_file(&main, &extra).unwrap();
        assert!(!extra.exists());
        assert!(
            std::fs::read_to_string(&main)
                .unwrap()
                .contains("test_serial")
        );
        // No main file (the parallel phase died before writing it): the serial file takes its place.
        std::fs::remove_file(&main).unwrap();
        std::fs::write(&extra, SERIAL).unwrap();
        append_suites_file(&main, &extra).unwrap();
        assert_eq!(std::fs::read_to_string(&main).unwrap(), SERIAL);
    }

    #[test]
    fn failure_messages_are_listed_in_order_and_survive_truncation() {
        let xml = r#"<testsuites><testsuite><testcase name="a"><failure message="one &amp; two">x</failure></testcase><testcase name="b"><error message="boom"/></testcase></testsuite></testsuites>"#;
        assert_eq!(failure_messages(xml), ["one & two", "boom"]);
        assert_eq!(failure_messages(&xml[..xml.len() / 2]), ["one & two"]);
    }
}
