//! Where a failure is: the test's file and a 1-based line.
//!
//! Sources, best first:
//! 1. the traceback: pytest prints `path:N: Error` lines (1-based, relative to its invocation
//!    directory, sometimes absolute). We take the *last* such line in the test's own file: the
//!    deepest frame there, i.e. the failing assertion or the call that raised;
//! 2. xunit1's `line` attribute, which pytest writes 0-based (so +1): the test's `def` line;
//! 3. otherwise the file alone, without a line.

use crate::junit::{NodeIdMapper, TestCase};

/// (file relative to rootdir, 1-based line) of a testcase.
pub fn locate(case: &TestCase, mapper: &NodeIdMapper) -> (Option<String>, Option<u64>) {
    // A JUnit file written on Windows says `tests\test_a.py`; annotations and links use `/`.
    let file = case
        .file
        .as_deref()
        .filter(|f| f.ends_with(".py"))
        .map(|f| f.replace('\\', "/"))
        .or_else(|| mapper.file_of(&case.classname, case.file.as_deref()))
        .filter(|f| !f.is_empty());
    let Some(file) = file else {
        return (None, None);
    };
    let from_traceback = case
        .text
        .as_deref()
        .and_then(|text| last_frame_in(text, &file));
    let line = from_traceback.or_else(|| case.line.map(|l| l + 1));
    (Some(file), line)
}

/// The line number of the last `path:N:` line whose path is `file` (or ends with `/file`).
fn last_frame_in(text: &str, file: &str) -> Option<u64> {
    text.lines()
        .filter_map(parse_frame)
        .filter(|(path, _)| same_file(path, file))
        .map(|(_, n)| n)
        .next_back()
}

/// `tests/test_a.py:15: AssertionError` → (`tests/test_a.py`, 15).
fn parse_frame(line: &str) -> Option<(&str, u64)> {
    let line = line.trim_start();
    let idx = line.find(".py:")?;
    let path = &line[..idx + 3];
    let rest = &line[idx + 4..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 || !rest[digits..].starts_with(':') || path.contains(' ') {
        return None;
    }
    let n: u64 = rest[..digits].parse().ok()?;
    (n > 0).then_some((path, n))
}

fn same_file(path: &str, file: &str) -> bool {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    path == file || path.ends_with(&format!("/{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::Outcome;

    fn case(file: Option<&str>, line: Option<u64>, text: &str) -> TestCase {
        TestCase {
            classname: "tests.test_basic".into(),
            name: "test_x".into(),
            file: file.map(Into::into),
            line,
            time_seconds: 0.0,
            outcome: Outcome::Failed,
            message: None,
            text: Some(text.into()),
            inner_reruns: 0,
        }
    }

    // The text below is verbatim from pytest 9.2 (tests/fixtures/report-suite).
    const HELPER: &str = "def test_fails_in_helper():\n>       helper()\n\ntests/test_basic.py:23: \n_ _ _ _\n\n    def helper():\n>       raise ValueError(\"bad value from helper\")\nE       ValueError: bad value from helper\n\ntests/test_basic.py:19: ValueError";

    #[test]
    fn deepest_frame_in_the_test_file() {
        let m = NodeIdMapper::new();
        assert_eq!(
            locate(&case(None, None, HELPER), &m),
            (Some("tests/test_basic.py".into()), Some(19))
        );
    }

    #[test]
    fn xunit1_line_is_zero_based() {
        let m = NodeIdMapper::new();
        assert_eq!(
            locate(
                &case(Some("tests/test_basic.py"), Some(13), "no frames"),
                &m
            ),
            (Some("tests/test_basic.py".into()), Some(14))
        );
    }

    /// Written on Windows: `\` in the file and the traceback, an absolute `C:\work\repo`
    /// path, CRLF line ends; the location is the same as on Linux, with `/`.
    #[test]
    fn windows_paths_and_crlf() {
        let m = NodeIdMapper::new();
        let text = "def test_x():\r\n>       assert 0\r\nE       assert 0\r\n\r\nC:\\work\\repo\\tests\\test_basic.py:15: AssertionError\r\n";
        assert_eq!(
            locate(&case(Some("tests\\test_basic.py"), Some(13), text), &m),
            (Some("tests/test_basic.py".into()), Some(15))
        );
        assert_eq!(
            locate(
                &case(Some("tests\\test_basic.py"), Some(13), "no frames"),
                &m
            ),
            (Some("tests/test_basic.py".into()), Some(14))
        );
    }

    #[test]
    fn absolute_and_other_files() {
        let text = "/home/ci/src/tests/test_basic.py:36: skipped\nlib/other.py:5: in f\n";
        assert_eq!(last_frame_in(text, "tests/test_basic.py"), Some(36));
        assert_eq!(
            last_frame_in("tests/test_basic.py:x: y", "tests/test_basic.py"),
            None
        );
    }
}
