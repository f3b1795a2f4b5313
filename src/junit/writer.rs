//! The merged JUnit file (for GitLab `artifacts:reports:junit` and any other consumer): one
//! `<testsuite>` per input file, one `<testcase>` per test with its final outcome; flaky tests are successes carrying `<flakyFailure>` for the attempts that failed.
//!
//! GitLab ignores JUnit files of 30 MB or more, so texts are cut (by lowering a per-text cap)
//! until the file fits; `Written::texts_cut_to` says how far.
//!
//! The layout, escaping and cleaning are quick-junit's (cargo-nextest's writer), byte for byte
//! (a test checks against it), but written straight from the merged tests: building a
//! quick-junit `TestCase` per test cost more than everything else the report does. Each input
//! file is serialised on its own (on all CPUs) and streamed out between the `<testsuites>`
//! tags: peak memory is one suite per CPU.

use super::merge::MergedTest;
use super::model::Outcome;
use super::reader::bounded;

/// GitLab's limit for one JUnit report file is "less than 30 MB".
pub const GITLAB_MAX_BYTES: u64 = 30 * 1000 * 1000 - 1;

/// One input file's tests.
pub struct SuiteInput<'a> {
    pub name: String,
    pub tests: &'a [MergedTest],
    pub seconds: Option<f64>,
}

pub struct Written {
    pub bytes: u64,
    /// `Some(cap)` when texts had to be cut to `cap` bytes each to fit `max_bytes`.
    pub texts_cut_to: Option<usize>,
    /// Over `max_bytes` even with no texts (too many testcases): written with full texts.
    pub over_limit: bool,
}

/// Why the merged file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("failed to write the merged JUnit file `{}`", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A thread serialising a suite failed.
    #[error("failed to serialise the merged JUnit: {0}")]
    Serialize(String),
}

/// Why one pass of [`write_to`] stopped.
#[derive(Debug)]
enum PassError {
    Io(std::io::Error),
    Serialize(String),
}

/// Per-text caps tried in turn until the file fits.
const CAPS: [usize; 6] = [64 * 1024, 8 * 1024, 2 * 1024, 512, 128, 0];

/// Writes the merged file at `path`, cutting texts until it is at most `max_bytes`.
pub fn write_path(
    path: &std::path::Path,
    suites: &[SuiteInput<'_>],
    max_bytes: u64,
) -> Result<Written, WriteError> {
    let attempt = |cap: usize| -> Result<u64, WriteError> {
        let io = |source| WriteError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let n = write_to(&mut out, suites, cap).map_err(|e| match e {
            PassError::Io(source) => io(source),
            PassError::Serialize(message) => WriteError::Serialize(message),
        })?;
        std::io::Write::flush(&mut out).map_err(io)?;
        Ok(n)
    };
    let bytes = attempt(CAPS[0])?;
    if bytes <= max_bytes {
        return Ok(Written {
            bytes,
            texts_cut_to: None,
            over_limit: false,
        });
    }
    // Cutting texts can save at most the bytes of texts and of messages beyond the 256 bytes
    // always kept. If the file stays too big even then, GitLab will ignore it either way: keep
    // the texts for every other reader and do not rewrite it again and again.
    let cap0 = CAPS[0] as u64;
    let len = |s: &Option<String>| s.as_ref().map_or(0, |s| (s.len() as u64).min(cap0));
    let cuttable: u64 = suites
        .iter()
        .flat_map(|s| s.tests.iter())
        .map(|t| {
            let flaky_runs = if t.is_flaky() {
                u64::from(t.attempts - 1)
            } else {
                0
            };
            len(&t.last.text)
                + len(&t.last.message).saturating_sub(256)
                + flaky_runs * len(&t.first_failure).saturating_sub(256)
        })
        .sum();
    if bytes.saturating_sub(cuttable) > max_bytes {
        return Ok(Written {
            bytes,
            texts_cut_to: None,
            over_limit: true,
        });
    }
    for &cap in &CAPS[1..] {
        let bytes = attempt(cap)?;
        if bytes <= max_bytes {
            return Ok(Written {
                bytes,
                texts_cut_to: Some(cap),
                over_limit: false,
            });
        }
    }
    let bytes = attempt(CAPS[0])?;
    Ok(Written {
        bytes,
        texts_cut_to: None,
        over_limit: true,
    })
}

/// Streams the merged document with texts cut to `cap` bytes; returns the bytes written.
fn write_to<W: std::io::Write>(
    out: &mut W,
    suites: &[SuiteInput<'_>],
    cap: usize,
) -> Result<u64, PassError> {
    let io = PassError::Io;
    let (mut tests, mut failures, mut errors, mut skipped) = (0usize, 0usize, 0usize, 0usize);
    for t in suites.iter().flat_map(|s| s.tests.iter()) {
        tests += 1;
        match t.last.outcome {
            Outcome::Failed => failures += 1,
            Outcome::Error => errors += 1,
            Outcome::Skipped | Outcome::Xfailed | Outcome::Xpassed => skipped += 1,
            Outcome::Passed => {}
        }
    }
    let time = suites
        .iter()
        .filter_map(|s| s.seconds)
        .fold(0.0_f64, f64::max);
    let head = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"parallel-pytest\" tests=\"{tests}\" skipped=\"{skipped}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n"
    );
    out.write_all(head.as_bytes()).map_err(io)?;
    let mut written = head.len() as u64;
    // Suites are independent: serialise a batch of them on all CPUs, write them in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for batch in suites.chunks(threads) {
        let bodies: Vec<Result<Vec<u8>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|input| scope.spawn(move || Ok(serialize_suite(input, cap))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("the JUnit writer panicked".to_owned()))
                })
                .collect()
        });
        for body in bodies {
            let body = body.map_err(PassError::Serialize)?;
            out.write_all(&body).map_err(io)?;
            written += body.len() as u64;
        }
    }
    let tail = b"</testsuites>\n";
    out.write_all(tail).map_err(io)?;
    Ok(written + tail.len() as u64)
}

/// Serialises into memory.
#[cfg(test)]
fn write_vec(suites: &[SuiteInput<'_>], cap: usize) -> Result<Vec<u8>, PassError> {
    let mut out = Vec::new();
    write_to(&mut out, suites, cap)?;
    Ok(out)
}

/// One input file as its `<testsuite>` element, laid out as quick-junit's indenting writer lays
/// out a one-suite report (four spaces a level; no line break after text): the element starts
/// at its indent and ends with a line break.
fn serialize_suite(input: &SuiteInput<'_>, cap: usize) -> Vec<u8> {
    let (mut failures, mut errors, mut skipped) = (0usize, 0usize, 0usize);
    for test in input.tests {
        match test.last.outcome {
            Outcome::Failed => failures += 1,
            Outcome::Error => errors += 1,
            Outcome::Skipped | Outcome::Xfailed | Outcome::Xpassed => skipped += 1,
            Outcome::Passed => {}
        }
    }
    // About 200 bytes a test without texts: one allocation for most suites.
    let mut out = Vec::with_capacity(256 + input.tests.len() * 200);
    out.extend_from_slice(b"    <testsuite");
    attr(&mut out, "name", &input.name);
    number(&mut out, "tests", input.tests.len());
    number(&mut out, "skipped", skipped);
    number(&mut out, "errors", errors);
    number(&mut out, "failures", failures);
    if let Some(s) = input.seconds {
        seconds(&mut out, s);
    }
    if input.tests.is_empty() {
        out.extend_from_slice(b"/>\n");
        return out;
    }
    out.push(b'>');
    for test in input.tests {
        testcase(&mut out, test, cap);
    }
    out.extend_from_slice(b"\n    </testsuite>\n");
    out
}

/// One `<testcase>` element, indented at level 2, children at level 3.
fn testcase(out: &mut Vec<u8>, test: &MergedTest, cap: usize) {
    let last = &test.last;
    out.extend_from_slice(b"\n        <testcase");
    attr(out, "name", &last.name);
    if !last.classname.is_empty() {
        attr(out, "classname", &last.classname);
    }
    seconds(out, last.time_seconds.max(0.0));
    if let Some(file) = &last.file {
        attr(out, "file", file);
    }
    if let Some(line) = last.line {
        out.extend_from_slice(b" line=\"");
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'"');
    }
    let message = |cap| text(&last.message, cap);
    match last.outcome {
        Outcome::Passed if !test.is_flaky() => {
            out.extend_from_slice(b"/>");
            return;
        }
        Outcome::Passed => {
            out.push(b'>');
            let first = text(&test.first_failure, cap.max(256));
            for _ in 1..test.attempts {
                out.extend_from_slice(b"\n            <flakyFailure");
                if let Some(m) = &first {
                    attr(out, "message", m);
                }
                out.extend_from_slice(b">\n            </flakyFailure>");
            }
        }
        Outcome::Failed | Outcome::Error => {
            let tag = if last.outcome == Outcome::Error {
                "error"
            } else {
                "failure"
            };
            out.push(b'>');
            status(out, tag, message(cap.max(256)), None, text(&last.text, cap));
        }
        Outcome::Skipped | Outcome::Xfailed => {
            out.push(b'>');
            let ty = (last.outcome == Outcome::Xfailed).then_some("pytest.xfail");
            status(
                out,
                "skipped",
                message(cap.max(256)),
                ty,
                text(&last.text, cap),
            );
        }
        Outcome::Xpassed => {
            out.push(b'>');
            let m = Some("xfail-marked test passes unexpectedly".to_owned());
            status(out, "skipped", m, None, text(&last.text, cap));
        }
    }
    out.extend_from_slice(b"\n        </testcase>");
}

/// The outcome element at level 3: empty without a text, else the text right after the tag.
fn status(
    out: &mut Vec<u8>,
    tag: &str,
    message: Option<String>,
    ty: Option<&str>,
    text: Option<String>,
) {
    out.extend_from_slice(b"\n            <");
    out.extend_from_slice(tag.as_bytes());
    if let Some(m) = &message {
        attr(out, "message", m);
    }
    if let Some(t) = ty {
        attr(out, "type", t);
    }
    match text {
        None => out.extend_from_slice(b"/>"),
        Some(t) => {
            out.push(b'>');
            out.extend_from_slice(quick_xml::escape::escape(clean(&t)).as_bytes());
            out.extend_from_slice(b"</");
            out.extend_from_slice(tag.as_bytes());
            out.push(b'>');
        }
    }
}

/// ` key="value"`, the value cleaned and escaped.
fn attr(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"=\"");
    out.extend_from_slice(quick_xml::escape::escape(clean(value)).as_bytes());
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, key: &str, n: usize) {
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"=\"");
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'"');
}

/// ` time="S.SSS"`, through a `Duration` as quick-junit stores it (which rounds to whole
/// nanoseconds). A time no `Duration` holds (over 584 billion years, from a hostile file) is
/// written as it is instead of panicking as quick-junit did.
fn seconds(out: &mut Vec<u8>, s: f64) {
    use std::io::Write;
    let s = std::time::Duration::try_from_secs_f64(s).map_or(s, |d| d.as_secs_f64());
    // Writing to a Vec cannot fail.
    let _ = write!(out, " time=\"{s:.3}\"");
}

/// Untrusted text made fit for XML as quick-junit's `XmlString` makes it: ANSI escape
/// sequences and the control characters XML 1.0 forbids are removed (tabs and carriage returns
/// too, as there). Text of printable ASCII and line feeds, nearly every test name, is left as
/// it is without a copy.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let stripped = strip_ansi_escapes::strip_str(s);
    std::borrow::Cow::Owned(stripped.replace(
        |c| matches!(c, '\x00'..='\x08' | '\x0b' | '\x0c' | '\x0e'..='\x1f'),
        "",
    ))
}

fn text(s: &Option<String>, cap: usize) -> Option<String> {
    match s {
        Some(s) if cap > 0 => Some(bounded(s, cap)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::merge::merge_attempts;
    use crate::junit::reader::{Limits, read_str};

    /// The merged file as quick-junit wrote it before this writer replaced it: the reference
    /// every suite is compared with, byte for byte.
    fn reference_body(input: &SuiteInput<'_>, cap: usize) -> Vec<u8> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
        let mut suite = TestSuite::new(input.name.as_str());
        if let Some(s) = input.seconds {
            suite.set_time(std::time::Duration::from_secs_f64(s));
        }
        for test in input.tests {
            let last = &test.last;
            let mut status = match last.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Outcome::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
                Outcome::Skipped | Outcome::Xfailed | Outcome::Xpassed => TestCaseStatus::skipped(),
            };
            match last.outcome {
                Outcome::Xfailed => {
                    status.set_type("pytest.xfail");
                }
                Outcome::Xpassed => {
                    status.set_message("xfail-marked test passes unexpectedly");
                }
                _ => {}
            }
            if last.outcome != Outcome::Xpassed {
                if let Some(m) = text(&last.message, cap.max(256)) {
                    status.set_message(m);
                }
            }
            if let Some(t) = text(&last.text, cap) {
                status.set_description(t);
            }
            if test.is_flaky() {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                if let Some(m) = text(&test.first_failure, cap.max(256)) {
                    rerun.set_message(m);
                }
                for _ in 1..test.attempts {
                    status.add_rerun(rerun.clone());
                }
            }
            let mut case = TestCase::new(last.name.as_str(), status);
            if !last.classname.is_empty() {
                case.set_classname(last.classname.as_str());
            }
            case.set_time(std::time::Duration::from_secs_f64(
                last.time_seconds.max(0.0),
            ));
            if let Some(file) = &last.file {
                case.extra.insert("file".into(), file.as_str().into());
            }
            if let Some(line) = last.line {
                case.extra.insert("line".into(), line.to_string().into());
            }
            suite.add_test_case(case);
        }
        let mut report = Report::new("parallel-pytest");
        report.add_test_suite(suite);
        let mut doc = Vec::new();
        report.serialize(&mut doc).unwrap();
        // Everything between the `<testsuites ...>` line and `</testsuites>`.
        let find = |needle: &[u8]| doc.windows(needle.len()).position(|w| w == needle);
        let open = find(b"<testsuites").unwrap();
        let start = open + doc[open..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let end = doc
            .windows(13)
            .rposition(|w| w == b"</testsuites>")
            .unwrap();
        doc[start..end].to_vec()
    }

    fn test_of(
        (classname, name, file, line): (String, String, Option<String>, Option<u64>),
        (outcome, message, text, time): (Outcome, Option<String>, Option<String>, f64),
        (attempts, first_failure): (u32, Option<String>),
    ) -> MergedTest {
        MergedTest {
            last: crate::junit::TestCase {
                classname,
                name,
                file,
                line,
                time_seconds: time,
                outcome,
                message,
                text,
                inner_reruns: 0,
            },
            attempts,
            total_seconds: time,
            first_failure,
        }
    }

    fn assert_same_as_quick_junit(name: &str, tests: &[MergedTest], seconds: Option<f64>) {
        let input = SuiteInput {
            name: name.to_owned(),
            tests,
            seconds,
        };
        for cap in CAPS {
            let ours = serialize_suite(&input, cap);
            let reference = reference_body(&input, cap);
            assert!(
                ours == reference,
                "cap {cap}:\n ours: {:?}\n quick-junit: {:?}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&reference)
            );
        }
    }

    /// Every hostile kind of text the cleaning and escaping handle: markup, quotes, ANSI
    /// sequences, every C0 control, DEL, C1 controls, non-characters, astral characters.
    const HOSTILE: &[&str] = &[
        "",
        "plain",
        "<script>alert('x')</script> & \"quoted\"",
        "]]><![CDATA[",
        "&amp; &lt; &#x0; &unknown;",
        "\u{1b}[31mred\u{1b}[0m and \u{1b}]0;title\u{7} and \u{1b}(B",
        "\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\t\n\u{b}\u{c}\r\u{e}\u{f}\u{10}\u{1f}",
        "tab\there\r\nwindows",
        "a tab\tonly",
        "a carriage return\ronly",
        "del\u{7f}c1\u{80}\u{85}\u{9b}31m\u{9f}nbsp\u{a0}",
        "non-characters \u{fffe}\u{ffff}\u{fffd} astral \u{1f600} ß€",
        "\u{1b}",
        "\u{1b}[",
        "trailing escape \u{1b}[1;2",
    ];

    #[test]
    fn hostile_text_is_written_exactly_as_quick_junit_wrote_it() {
        let long = format!("{}\u{1b}[0m<&>", "é".repeat(400));
        let mut texts: Vec<String> = HOSTILE.iter().map(|s| (*s).to_owned()).collect();
        texts.push(long);
        let outcomes = [
            Outcome::Passed,
            Outcome::Failed,
            Outcome::Error,
            Outcome::Skipped,
            Outcome::Xfailed,
            Outcome::Xpassed,
        ];
        let mut tests = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            for (j, outcome) in outcomes.into_iter().enumerate() {
                let some = |k: usize| (k % 3 != 0).then(|| t.clone());
                tests.push(test_of(
                    (
                        if j == 0 { String::new() } else { t.clone() },
                        format!("{t}[{i}-{j}]"),
                        some(i + j),
                        (j % 2 == 0).then_some(i as u64),
                    ),
                    (outcome, some(i + j + 1), some(i + j + 2), 0.1 * j as f64),
                    (1 + (i % 3) as u32, some(i)),
                ));
            }
        }
        for (i, t) in texts.iter().enumerate() {
            assert_same_as_quick_junit(t, &tests, (i % 2 == 0).then_some(1234.5678));
        }
        assert_same_as_quick_junit("empty suite <&>", &[], None);
        assert_same_as_quick_junit("empty suite", &[], Some(0.0));
    }

    proptest::proptest! {
        #[test]
        fn any_suite_is_written_exactly_as_quick_junit_wrote_it(
            suite_name in any_text(),
            seconds in proptest::option::of(0.0..1e6_f64),
            tests in proptest::collection::vec(
                (
                    (any_text(), any_text(), proptest::option::of(any_text()),
                        proptest::option::of(proptest::prelude::any::<u64>())),
                    (proptest::sample::select(vec![
                        Outcome::Passed, Outcome::Failed, Outcome::Error,
                        Outcome::Skipped, Outcome::Xfailed, Outcome::Xpassed,
                    ]),
                    proptest::option::of(any_text()), proptest::option::of(any_text()),
                    0.0..1e4_f64),
                    (1..4_u32, proptest::option::of(any_text())),
                ),
                0..6,
            ),
        ) {
            let tests: Vec<MergedTest> =
                tests.into_iter().map(|(a, b, c)| test_of(a, b, c)).collect();
            assert_same_as_quick_junit(&suite_name, &tests, seconds);
        }
    }

    /// Short strings dense in what the writer treats specially, and any Unicode at all.
    fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            "[\\x00-\\x20<>&'\"\\x1b\\[\\]0-9;mA-Za-z\\x7f-\\u{a0}\\u{fffe}\\u{ffff}]{0,24}",
            any::<String>(),
            Just(String::new()),
        ]
    }

    #[test]
    fn round_trips_through_our_reader() {
        let input = r#"<testsuites><testsuite>
<testcase classname="t.test_a" name="ok" time="0.5"/>
<testcase classname="t.test_a" name="flaky" time="0.1"/>
<testcase classname="t.test_a" name="flaky" time="0.1"/>
<testcase classname="t.test_a" name="bad" file="t/test_a.py" line="4"><failure message="boom &lt;x&gt;">trace</failure></testcase>
<testcase classname="t.test_a" name="xf"><skipped type="pytest.xfail" message="bug"/></testcase>
</testsuite></testsuites>"#;
        let report = read_str(input, &Limits::default()).unwrap();
        let merged = merge_attempts(report.cases);
        let xml = write_vec(
            &[SuiteInput {
                name: "shard 1/1".into(),
                tests: &merged,
                seconds: Some(1.0),
            }],
            64 * 1024,
        )
        .unwrap();
        let back = read_str(std::str::from_utf8(&xml).unwrap(), &Limits::default()).unwrap();
        assert!(back.truncated.is_none());
        assert!(xml.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"parallel-pytest\" tests=\"4\" skipped=\"1\" failures=\"1\" errors=\"0\""));
        let again = merge_attempts(back.cases);
        assert_eq!(again.len(), 4);
        assert!(again[1].is_flaky(), "flaky survives as flakyFailure");
        assert_eq!(again[2].last.outcome, Outcome::Failed);
        assert_eq!(again[2].last.message.as_deref(), Some("boom <x>"));
        assert_eq!(again[2].last.file.as_deref(), Some("t/test_a.py"));
        assert_eq!(again[2].last.line, Some(4));
        assert_eq!(again[3].last.outcome, Outcome::Xfailed);
    }

    #[test]
    fn texts_are_cut_to_fit() {
        let big = "x".repeat(100_000);
        let input = format!(
            r#"<testsuite><testcase classname="a" name="b"><failure message="m">{big}</failure></testcase></testsuite>"#
        );
        let limits = Limits {
            max_text_bytes: 200_000,
            ..Limits::default()
        };
        let merged = merge_attempts(read_str(&input, &limits).unwrap().cases);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("merged.xml");
        let suites = [SuiteInput {
            name: "s".into(),
            tests: &merged,
            seconds: None,
        }];
        let written = write_path(&path, &suites, 20_000).unwrap();
        assert!(written.bytes <= 20_000);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), written.bytes);
        assert_eq!(written.texts_cut_to, Some(8 * 1024));
        assert!(!written.over_limit);
        // Names alone over the limit: written once, with texts, and flagged.
        let written = write_path(&path, &suites, 10).unwrap();
        assert!(written.over_limit && written.texts_cut_to.is_none());
        assert!(written.bytes > 60_000, "texts kept at the first cap");
    }
}
