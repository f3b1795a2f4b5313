//! Crashed xdist workers, found in the shard's JUnit file.
//!
//! When a worker dies (`os._exit`, a segfault, the OOM killer taking one worker), the xdist
//! controller reports the test it was running as failed with the message
//! `worker 'gw0' crashed while running 'tests/test_x.py::test_y'` and, within
//! `--max-worker-restart`, starts a replacement. The controller writes that failure into the
//! JUnit file, which is the one place that survives the run, so we read it from there.

use std::path::Path;

use super::manifest::CrashedWorker;
use crate::junit::rewrite::failure_messages;

/// Parse one xdist crash message; `None` when it is not one.
fn parse_crash_message(message: &str) -> Option<CrashedWorker> {
    let rest = message.split("worker ").nth(1)?;
    let (worker, rest) = unquote(rest)?;
    let rest = rest.strip_prefix(" crashed while running ")?;
    let test = unquote(rest).map(|(t, _)| t);
    Some(CrashedWorker { worker, test })
}

/// Python `repr` of a str: `'x'`, or `"x"` when it holds a single quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    Some((body[..end].to_string(), &body[end + 1..]))
}

/// Every crash recorded in a JUnit document, in file order, without duplicates.
pub(crate) fn crashes_in_junit(xml: &str) -> Vec<CrashedWorker> {
    let mut out: Vec<CrashedWorker> = Vec::new();
    for crash in failure_messages(xml)
        .iter()
        .filter_map(|m| parse_crash_message(m))
    {
        if !out.contains(&crash) {
            out.push(crash);
        }
    }
    out
}

/// Crashes recorded in the JUnit file at `path`; a missing or unreadable file has none.
pub fn crashes_in_file(path: &Path) -> Vec<CrashedWorker> {
    match fs_err::read_to_string(path) {
        Ok(text) => crashes_in_junit(&text),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_xdist_messages() {
        assert_eq!(
            parse_crash_message("worker 'gw1' crashed while running 'tests/t.py::test_x[a-1]'"),
            Some(CrashedWorker {
                worker: "gw1".into(),
                test: Some("tests/t.py::test_x[a-1]".into())
            })
        );
        assert_eq!(
            parse_crash_message("worker 'gw0' crashed while running \"t.py::test['q']\""),
            Some(CrashedWorker {
                worker: "gw0".into(),
                test: Some("t.py::test['q']".into())
            })
        );
        assert_eq!(parse_crash_message("assert 1 == 2"), None);
    }

    #[test]
    fn reads_junit_failures() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite>
<testcase classname="t" name="test_ok" file="t.py" line="1"/>
<testcase classname="t" name="test_crash" file="t.py" line="3"><failure message="worker 'gw0' crashed while running 't.py::test_crash'">worker 'gw0' crashed while running 't.py::test_crash'</failure></testcase>
<testcase classname="t" name="test_bad"><failure message="assert 1 == 2">x</failure></testcase>
</testsuite></testsuites>"#;
        assert_eq!(
            crashes_in_junit(xml),
            vec![CrashedWorker {
                worker: "gw0".into(),
                test: Some("t.py::test_crash".into())
            }]
        );
        // Truncated: no panic, what was read is kept.
        assert_eq!(crashes_in_junit(&xml[..xml.len() / 2]).len(), 0);
    }
}
