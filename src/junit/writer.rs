//! The merged JUnit file (for GitLab `artifacts:reports:junit` and any other consumer), written
//! with `quick-junit`: one `<testsuite>` per input file, one `<testcase>` per test with its final
//! outcome; flaky tests are successes carrying `<flakyFailure>` for the attempts that failed.
//!
//! GitLab ignores JUnit files of 30 MB or more, so texts are cut (by lowering a per-text cap)
//! until the file fits; `Written::texts_cut_to` says how far.
//!
//! Memory: quick-junit serialises a whole `Report` at once, and a `Report` of a million
//! testcases costs far more than the data it holds. So each input file becomes its own
//! one-suite `Report`, serialised and streamed out between our own `<testsuites>` tags (whose
//! totals we compute the same way quick-junit does): peak memory is one suite.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

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
    /// quick-junit could not serialise a suite.
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
                .map(|input| scope.spawn(move || serialize_suite(input, cap)))
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

/// One input file as its `<testsuite>` element, serialised by quick-junit.
fn serialize_suite(input: &SuiteInput<'_>, cap: usize) -> Result<Vec<u8>, String> {
    let mut report = Report::new("parallel-pytest");
    report.add_test_suite(suite(input, cap));
    let mut buf = Vec::new();
    report.serialize(&mut buf).map_err(|e| e.to_string())?;
    let body = suite_body(&buf).ok_or("quick-junit wrote an unexpected document")?;
    Ok(body.to_vec())
}

/// The `<testsuite>` element(s) of a serialised one-suite report: everything between the
/// `<testsuites ...>` line and `</testsuites>`.
fn suite_body(doc: &[u8]) -> Option<&[u8]> {
    let open = find(doc, b"<testsuites")?;
    let start = open + doc[open..].iter().position(|&b| b == b'\n')? + 1;
    let end = rfind(doc, b"</testsuites>")?;
    (start <= end).then(|| &doc[start..end])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Serialises into memory.
#[cfg(test)]
fn write_vec(suites: &[SuiteInput<'_>], cap: usize) -> Result<Vec<u8>, PassError> {
    let mut out = Vec::new();
    write_to(&mut out, suites, cap)?;
    Ok(out)
}

fn text(s: &Option<String>, cap: usize) -> Option<String> {
    match s {
        Some(s) if cap > 0 => Some(bounded(s, cap)),
        _ => None,
    }
}

fn suite(input: &SuiteInput<'_>, cap: usize) -> TestSuite {
    {
        let mut suite = TestSuite::new(input.name.as_str());
        if let Some(s) = input.seconds {
            suite.set_time(std::time::Duration::from_secs_f64(s));
        }
        for test in input.tests {
            let last = &test.last;
            let mut status = match last.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed | Outcome::Error => {
                    let kind = if last.outcome == Outcome::Error {
                        NonSuccessKind::Error
                    } else {
                        NonSuccessKind::Failure
                    };
                    TestCaseStatus::non_success(kind)
                }
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
        suite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::merge::merge_attempts;
    use crate::junit::reader::{Limits, read_str};

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
