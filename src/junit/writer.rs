//! The merged JUnit file (for GitLab `artifacts:reports:junit` and any other consumer), written
//! with `quick-junit`: one `<testsuite>` per input file, one `<testcase>` per test with its final
//! outcome; flaky tests are successes carrying `<flakyFailure>` for the attempts that failed.
//!
//! GitLab ignores JUnit files of 30 MB or more, so texts are cut (largest first, by lowering a
//! per-text cap) until the file fits; `Written::texts_cut_to` says how far.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::merge::MergedTest;
use super::model::Outcome;
use super::reader::bounded;

/// GitLab's limit for one JUnit report file is "less than 30 MB".
pub const GITLAB_MAX_BYTES: usize = 30 * 1000 * 1000 - 1;

/// One input file's tests.
pub struct SuiteInput<'a> {
    pub name: String,
    pub tests: &'a [MergedTest],
    pub seconds: Option<f64>,
}

pub struct Written {
    pub xml: Vec<u8>,
    /// `Some(cap)` when texts had to be cut to `cap` bytes each to fit `max_bytes`.
    pub texts_cut_to: Option<usize>,
    /// Over `max_bytes` even with no texts (too many testcases): written with full texts.
    pub over_limit: bool,
}

/// Per-text caps tried in turn until the file fits.
const CAPS: [usize; 6] = [64 * 1024, 8 * 1024, 2 * 1024, 512, 128, 0];

pub fn write(
    suites: &[SuiteInput<'_>],
    max_bytes: usize,
) -> Result<Written, quick_junit::SerializeError> {
    let full = serialize(suites, CAPS[0])?;
    if full.len() <= max_bytes {
        return Ok(Written {
            xml: full,
            texts_cut_to: None,
            over_limit: false,
        });
    }
    // Too big. If it stays too big without any text, cutting texts cannot help (GitLab will
    // ignore the file either way), so keep the texts for every other reader.
    let bare = serialize(suites, 0)?;
    if bare.len() > max_bytes {
        return Ok(Written {
            xml: full,
            texts_cut_to: None,
            over_limit: true,
        });
    }
    drop(full);
    for &cap in &CAPS[1..CAPS.len() - 1] {
        let xml = serialize(suites, cap)?;
        if xml.len() <= max_bytes {
            return Ok(Written {
                xml,
                texts_cut_to: Some(cap),
                over_limit: false,
            });
        }
    }
    Ok(Written {
        xml: bare,
        texts_cut_to: Some(0),
        over_limit: false,
    })
}

fn text(s: &Option<String>, cap: usize) -> Option<String> {
    match s {
        Some(s) if cap > 0 => Some(bounded(s, cap)),
        _ => None,
    }
}

fn serialize(
    suites: &[SuiteInput<'_>],
    cap: usize,
) -> Result<Vec<u8>, quick_junit::SerializeError> {
    let mut report = Report::new("parallel-pytest");
    let mut total_time = 0.0_f64;
    for input in suites {
        let mut suite = TestSuite::new(input.name.as_str());
        if let Some(s) = input.seconds {
            suite.set_time(std::time::Duration::from_secs_f64(s));
            total_time = total_time.max(s);
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
        report.add_test_suite(suite);
    }
    report.set_time(std::time::Duration::from_secs_f64(total_time));
    let mut out = Vec::new();
    report.serialize(&mut out)?;
    Ok(out)
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
        let written = write(
            &[SuiteInput {
                name: "shard 1/1".into(),
                tests: &merged,
                seconds: Some(1.0),
            }],
            GITLAB_MAX_BYTES,
        )
        .unwrap();
        assert!(!written.over_limit);
        let back = read_str(
            std::str::from_utf8(&written.xml).unwrap(),
            &Limits::default(),
        )
        .unwrap();
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
        let written = write(
            &[SuiteInput {
                name: "s".into(),
                tests: &merged,
                seconds: None,
            }],
            20_000,
        )
        .unwrap();
        assert!(written.xml.len() <= 20_000);
        assert_eq!(written.texts_cut_to, Some(8 * 1024));
    }
}
