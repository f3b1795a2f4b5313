//! Comparison with the base run (`report --base`): which failures are new, which were failing
//! already, what was fixed, added, removed or got much slower, and whether `--fail-on new`
//! lets the job pass. Pure: two results files in, data out.

use serde::Serialize;

use super::Summary;
use super::model::{Notice, NoticeKind};
use super::results::{ResultsFile, RunInfo, TestResult};
use crate::junit::Outcome;
use crate::text::{count, truncate_bytes};

/// A test counts as slower when it took at least this many times its base seconds…
pub const SLOWER_RATIO: f64 = 2.0;
/// …and at least this many seconds more.
pub const SLOWER_MIN_SECONDS: f64 = 1.0;

/// `--fail-on`: which failing tests fail the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Every failure (the default).
    #[default]
    All,
    /// Only failures the base did not have; missing shards, lost tests etc. still fail.
    New,
}

impl FailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::All => "all",
            FailOn::New => "new",
        }
    }
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(FailOn::All),
            "new" => Ok(FailOn::New),
            other => Err(format!("`{other}` is not `new` or `all`")),
        }
    }
}

/// The base run as the outputs describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaseInfo {
    /// The file it was read from, as given.
    pub path: String,
    #[serde(flatten)]
    pub run: RunInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slower {
    pub id: String,
    pub base_seconds: f64,
    pub seconds: f64,
}

/// Base and current value of a total.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    pub base: f64,
    pub here: f64,
}

/// This run against the base. Lists are sorted by id (`slower`: most seconds added first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base: BaseInfo,
    /// Failed or errored here; passed, skipped or absent on the base.
    pub new_failures: Vec<String>,
    /// Failed or errored here and on the base.
    pub still_failing: Vec<String>,
    /// Failed or errored on the base; passed (or xfailed/xpassed) here.
    pub fixed: Vec<String>,
    pub new_tests: Vec<String>,
    pub removed_tests: Vec<String>,
    /// At least [`SLOWER_RATIO`]× and [`SLOWER_MIN_SECONDS`] slower than on the base.
    pub slower: Vec<Slower>,
    /// Sum of every test's seconds.
    pub test_seconds: Change,
    /// Wall time, when both runs know it.
    pub wall_seconds: Option<Change>,
    /// Combined line coverage in percent, when both runs measured it.
    pub coverage_percent: Option<Change>,
}

impl Comparison {
    pub fn base_incomplete(&self) -> bool {
        !self.base.run.complete
    }

    /// `base run incomplete: <first reason>` (untrusted text: the sink escapes it).
    pub fn base_incomplete_line(&self) -> Option<String> {
        if !self.base_incomplete() {
            return None;
        }
        let reasons = &self.base.run.incomplete_reasons;
        let why = match reasons.first() {
            Some(first) if reasons.len() > 1 => format!(
                "{} (and {} more)",
                truncate_bytes(first, 300),
                reasons.len() - 1
            ),
            Some(first) => truncate_bytes(first, 300),
            None => "its report had problems".to_owned(),
        };
        Some(format!(
            "base run incomplete: {why}; its missing tests read as new here and its failures may be missing"
        ))
    }
}

/// What was given as `--base`.
#[derive(Debug, Clone)]
pub enum Base {
    /// No base: nothing to compare.
    None,
    /// A base that could not be used; the message names the file and says why.
    Unusable(String),
    Loaded {
        path: String,
        file: Box<ResultsFile>,
    },
}

pub fn compare(here: &ResultsFile, base_path: &str, base: &ResultsFile) -> Comparison {
    let bad = |r: &TestResult| r.outcome().is_bad();
    let mut c = Comparison {
        base: BaseInfo {
            path: base_path.to_owned(),
            run: base.run.clone(),
        },
        new_failures: Vec::new(),
        still_failing: Vec::new(),
        fixed: Vec::new(),
        new_tests: Vec::new(),
        removed_tests: Vec::new(),
        slower: Vec::new(),
        test_seconds: Change {
            base: base.run.test_seconds,
            here: here.run.test_seconds,
        },
        wall_seconds: base
            .run
            .wall_seconds
            .zip(here.run.wall_seconds)
            .map(|(base, here)| Change { base, here }),
        coverage_percent: base
            .run
            .coverage_percent
            .zip(here.run.coverage_percent)
            .map(|(base, here)| Change { base, here }),
    };
    for (id, now) in &here.tests {
        let before = base.tests.get(id);
        match (bad(now), before) {
            (true, Some(b)) if bad(b) => c.still_failing.push(id.clone()),
            (true, _) => c.new_failures.push(id.clone()),
            (false, Some(b)) if bad(b) && now.outcome() != Outcome::Skipped => {
                c.fixed.push(id.clone());
            }
            _ => {}
        }
        match before {
            None => c.new_tests.push(id.clone()),
            Some(b)
                if now.seconds() >= SLOWER_RATIO * b.seconds()
                    && now.seconds() - b.seconds() >= SLOWER_MIN_SECONDS =>
            {
                c.slower.push(Slower {
                    id: id.clone(),
                    base_seconds: b.seconds(),
                    seconds: now.seconds(),
                });
            }
            Some(_) => {}
        }
    }
    c.removed_tests = base
        .tests
        .keys()
        .filter(|id| !here.tests.contains_key(*id))
        .cloned()
        .collect();
    c.slower.sort_by(|a, b| {
        (b.seconds - b.base_seconds)
            .total_cmp(&(a.seconds - a.base_seconds))
            .then_with(|| a.id.cmp(&b.id))
    });
    c
}

/// Compares this run with `base`, records the `--fail-on` mode and adds the notices every
/// output must carry: a base that could not be read, a base that was incomplete, `--fail-on
/// new` without a base, and failures that `--fail-on new` does not let fail the job.
pub fn attach(summary: &mut Summary, here: &ResultsFile, base: Base, fail_on: FailOn) {
    summary.fail_on = fail_on;
    let notice = |kind, message: String, n: usize| Notice {
        kind,
        message,
        count: n as u64,
    };
    match base {
        Base::None => {}
        Base::Unusable(message) => summary.notices.push(notice(
            NoticeKind::BaseUnusable,
            format!("{message}; this report has no comparison with the base"),
            1,
        )),
        Base::Loaded { path, file } => {
            let c = compare(here, &path, &file);
            if let Some(line) = c.base_incomplete_line() {
                summary
                    .notices
                    .push(notice(NoticeKind::BaseIncomplete, line, 1));
            }
            summary.comparison = Some(c);
        }
    }
    if fail_on == FailOn::New {
        match &summary.comparison {
            None => summary.notices.push(notice(
                NoticeKind::NoBase,
                "`--fail-on new` has no base to compare with, so every failure fails this job (as `--fail-on all`)".to_owned(),
                1,
            )),
            Some(c) if !c.still_failing.is_empty() => {
                let n = c.still_failing.len();
                let verdict = if summary.passes_job() {
                    "not failing this job because `--fail-on new`".to_owned()
                } else if !c.new_failures.is_empty() {
                    format!(
                        "`--fail-on new` forgives {}, but {} {} this job",
                        if n == 1 { "it" } else { "them" },
                        count(c.new_failures.len() as u64, "new failure", "new failures"),
                        if c.new_failures.len() == 1 {
                            "fails"
                        } else {
                            "fail"
                        }
                    )
                } else {
                    "`--fail-on new` forgives them, but the report is incomplete, which fails this job".to_owned()
                };
                summary.notices.push(notice(
                    NoticeKind::StillFailing,
                    format!(
                        "{} still failing, also failing on the base: {verdict}",
                        count(n as u64, "test", "tests")
                    ),
                    n,
                ));
            }
            Some(_) => {}
        }
    }
}

/// The first `k` of `items` and how many more there are.
pub fn first<T>(items: &[T], k: usize) -> (&[T], usize) {
    let shown = &items[..items.len().min(k)];
    (shown, items.len() - shown.len())
}

/// A summary compared with a hostile, incomplete base, for the renderers' tests: 25 new
/// failures (more than any renderer lists), ids with Markdown, HTML, escape sequences and
/// workflow commands, a still failing, a fixed, a new, a removed and a slower test.
#[cfg(test)]
pub(crate) fn sample_summary(fail_on: FailOn) -> Summary {
    use super::results::{FORMAT, VERSION};
    let hostile = "t.py::test_a[<img src=x>|`code`|\u{1b}[31m|\n::error::pwned|@team #1]";
    let mut base_tests = vec![
        (
            "t.py::test_old".to_owned(),
            TestResult(Outcome::Failed, 1.0),
        ),
        (
            "t.py::test_fixed".to_owned(),
            TestResult(Outcome::Error, 1.0),
        ),
        (
            "t.py::test_gone".to_owned(),
            TestResult(Outcome::Passed, 1.0),
        ),
        (
            "t.py::test_slow".to_owned(),
            TestResult(Outcome::Passed, 0.5),
        ),
    ];
    let mut here_tests = vec![
        (
            "t.py::test_old".to_owned(),
            TestResult(Outcome::Failed, 1.0),
        ),
        (
            "t.py::test_fixed".to_owned(),
            TestResult(Outcome::Passed, 1.0),
        ),
        (
            "t.py::test_slow".to_owned(),
            TestResult(Outcome::Passed, 2.5),
        ),
        (hostile.to_owned(), TestResult(Outcome::Failed, 0.1)),
    ];
    for i in 0..24 {
        let id = format!("t.py::test_new_{i:02}");
        base_tests.push((id.clone(), TestResult(Outcome::Passed, 0.1)));
        here_tests.push((id, TestResult(Outcome::Failed, 0.1)));
    }
    let file = |tests: Vec<(String, TestResult)>, run: RunInfo| ResultsFile {
        format: FORMAT.into(),
        version: VERSION,
        run,
        tests: tests.into_iter().collect(),
    };
    let base = file(
        base_tests,
        RunInfo {
            commit: Some("0123456789abcdef0123".into()),
            git_ref: Some("refs/heads/<main>".into()),
            run_id: Some("42".into()),
            date: Some("2026-12-01T10:00:00Z".into()),
            complete: false,
            incomplete_reasons: vec!["shard 2/3 did not report <b>!</b>".into()],
            tests: 28,
            failed: 2,
            errors: 1,
            test_seconds: 30.0,
            wall_seconds: Some(12.0),
            coverage_percent: None,
        },
    );
    let here = file(
        here_tests,
        RunInfo {
            complete: true,
            test_seconds: 35.5,
            wall_seconds: Some(10.0),
            ..RunInfo::default()
        },
    );
    let mut summary = Summary::default();
    summary.totals.tests = here.tests.len() as u64;
    summary.totals.failed = 26;
    attach(
        &mut summary,
        &here,
        Base::Loaded {
            path: "base/results.json".into(),
            file: Box::new(base),
        },
        fail_on,
    );
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::{FORMAT, VERSION};
    use Outcome::{Error, Failed, Passed, Skipped};
    use std::collections::BTreeMap;

    fn results_of(tests: &[(&str, Outcome, f64)]) -> BTreeMap<String, TestResult> {
        tests
            .iter()
            .map(|(id, o, s)| ((*id).to_owned(), TestResult(*o, *s)))
            .collect()
    }

    fn file(tests: &[(&str, Outcome, f64)], complete: bool) -> ResultsFile {
        ResultsFile {
            format: FORMAT.into(),
            version: VERSION,
            run: RunInfo {
                complete,
                test_seconds: tests.iter().map(|t| t.2).sum(),
                wall_seconds: Some(1.0),
                incomplete_reasons: if complete {
                    vec![]
                } else {
                    vec!["shard 2/2 did not report".into()]
                },
                ..RunInfo::default()
            },
            tests: results_of(tests),
        }
    }

    #[test]
    fn sorts_every_test_into_its_list() {
        let base = file(
            &[
                ("a", Failed, 1.0),
                ("b", Passed, 1.0),
                ("c", Error, 1.0),
                ("d", Passed, 0.5),
                ("gone", Failed, 1.0),
                ("e", Failed, 1.0),
                ("s", Skipped, 0.0),
            ],
            true,
        );
        let here = file(
            &[
                ("a", Failed, 1.0),
                ("b", Failed, 1.0),
                ("c", Passed, 1.0),
                ("d", Passed, 1.6),
                ("e", Skipped, 0.0),
                ("s", Error, 0.0),
                ("new", Error, 3.0),
            ],
            true,
        );
        let c = compare(&here, "base.json", &base);
        assert_eq!(c.new_failures, ["b", "new", "s"]);
        assert_eq!(c.still_failing, ["a"]);
        assert_eq!(c.fixed, ["c"], "skipped is not fixed");
        assert_eq!(c.new_tests, ["new"]);
        assert_eq!(c.removed_tests, ["gone"]);
        assert_eq!(
            c.slower,
            [Slower {
                id: "d".into(),
                base_seconds: 0.5,
                seconds: 1.6
            }]
        );
    }

    #[test]
    fn coverage_change_only_when_both_runs_measured_it() {
        let mut base = file(&[("a", Passed, 1.0)], true);
        let mut here = file(&[("a", Passed, 1.0)], true);
        assert_eq!(compare(&here, "base.json", &base).coverage_percent, None);
        here.run.coverage_percent = Some(75.5);
        assert_eq!(compare(&here, "base.json", &base).coverage_percent, None);
        base.run.coverage_percent = Some(74.0);
        assert_eq!(
            compare(&here, "base.json", &base).coverage_percent,
            Some(Change {
                base: 74.0,
                here: 75.5
            })
        );
    }

    #[test]
    fn slower_needs_both_the_ratio_and_the_seconds() {
        let base = file(&[("x", Passed, 0.2), ("y", Passed, 5.0)], true);
        // x: 4× but only 0.6 s more; y: 1.5 s more but only 1.3×.
        let here = file(&[("x", Passed, 0.8), ("y", Passed, 6.5)], true);
        assert!(compare(&here, "b", &base).slower.is_empty());
    }

    fn summary_with(here: &ResultsFile) -> Summary {
        let mut s = Summary::default();
        for (id, r) in &here.tests {
            if r.outcome().is_bad() {
                s.totals.failed += 1;
                s.failures.push(crate::report::model::Failure {
                    id: id.clone(),
                    file: None,
                    line: None,
                    outcome: r.outcome(),
                    message: String::new(),
                    shard: None,
                    shard_total: None,
                    text: None,
                    attempts: 1,
                    crashed_worker: None,
                });
            }
        }
        s
    }

    #[test]
    fn fail_on_new_passes_only_old_failures_and_says_so() {
        let base = file(&[("a", Failed, 1.0), ("b", Passed, 1.0)], false);
        let here = file(&[("a", Failed, 1.0), ("b", Passed, 1.0)], true);
        let mut s = summary_with(&here);
        let loaded = Base::Loaded {
            path: "base.json".into(),
            file: Box::new(base.clone()),
        };
        attach(&mut s, &here, loaded.clone(), FailOn::New);
        assert!(!s.green() && s.passes_job());
        let kinds: Vec<_> = s.notices.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [NoticeKind::BaseIncomplete, NoticeKind::StillFailing]
        );
        assert!(
            s.notices[0]
                .message
                .starts_with("base run incomplete: shard 2/2")
        );
        assert_eq!(
            s.notices[1].message,
            "1 test still failing, also failing on the base: not failing this job because `--fail-on new`"
        );

        // The same with `all`: the job fails, and no forgiving notice.
        let mut s = summary_with(&here);
        attach(&mut s, &here, loaded, FailOn::All);
        assert!(!s.passes_job());
        assert_eq!(s.notices.len(), 1);

        // A new failure fails the job under `new`.
        let here = file(&[("a", Failed, 1.0), ("b", Failed, 1.0)], true);
        let mut s = summary_with(&here);
        let loaded = Base::Loaded {
            path: "base.json".into(),
            file: Box::new(base),
        };
        attach(&mut s, &here, loaded, FailOn::New);
        assert!(!s.passes_job());
        assert!(
            s.notices[1]
                .message
                .ends_with("but 1 new failure fails this job"),
            "{}",
            s.notices[1].message
        );
    }

    #[test]
    fn fail_on_new_never_passes_an_incomplete_report() {
        let base = file(&[("a", Failed, 1.0)], true);
        let here = file(&[("a", Failed, 1.0)], true);
        let mut s = summary_with(&here);
        s.problems.push(crate::report::model::Problem::new(
            crate::report::model::ProblemKind::LostTests,
            "1 planned test was lost",
        ));
        let loaded = Base::Loaded {
            path: "base.json".into(),
            file: Box::new(base),
        };
        attach(&mut s, &here, loaded, FailOn::New);
        assert!(!s.passes_job());
        assert!(
            s.notices[0]
                .message
                .ends_with("but the report is incomplete, which fails this job"),
            "{:?}",
            s.notices
        );
    }

    #[test]
    fn fail_on_new_without_a_base_is_all_and_says_so() {
        let here = file(&[("a", Failed, 1.0)], true);
        for base in [Base::None, Base::Unusable("`x.json` is broken".into())] {
            let mut s = summary_with(&here);
            attach(&mut s, &here, base, FailOn::New);
            assert!(!s.passes_job());
            assert!(
                s.notices
                    .iter()
                    .any(|n| n.kind == NoticeKind::NoBase && n.message.contains("every failure")),
                "{:?}",
                s.notices
            );
        }
    }
}
