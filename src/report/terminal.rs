//! A pytest-like summary for the terminal (and the CI log). Colour only when asked: the command
//! switches it on for a terminal without `NO_COLOR`; the meaning never depends on colour.

use super::escape::terminal;
use super::model::{Failure, Summary};
use crate::plan::model::prediction_label;
use crate::text::{count, plural, seconds, truncate_bytes};

const WIDTH: usize = 80;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn rule(title: &str) -> String {
    let inner = format!(" {title} ");
    let n = inner.chars().count();
    if n + 2 >= WIDTH {
        return format!("={inner}=");
    }
    let left = (WIDTH - n) / 2;
    format!(
        "{}{inner}{}",
        "=".repeat(left),
        "=".repeat(WIDTH - n - left)
    )
}

pub fn render(summary: &Summary, color: bool) -> String {
    let p = Paint { on: color };
    let mut out = String::new();
    out.push_str(&p.bold(&rule("parallel-pytest report")));
    out.push('\n');
    out.push_str(&facts(summary));
    out.push_str(&balance(summary));
    out.push_str(&slowest(summary));
    out.push_str(&comparison(summary, &p));
    out.push_str(&short_summary(summary, &p));
    out.push_str(&quarantine(summary, &p));
    // After every untrusted line: GitLab's `coverage:` regex takes the last match in the log.
    out.push_str(&coverage(summary));
    out.push('\n');
    let last = rule(&summary.headline());
    out.push_str(&match (summary.green(), summary.passes_job()) {
        (true, _) => p.green(&last),
        (false, true) => p.yellow(&last),
        (false, false) => p.red(&last),
    });
    out.push('\n');
    out
}

/// `shards: 3/3 reported · 2 workers per shard · 120 tests`.
fn facts(summary: &Summary) -> String {
    let mut facts = Vec::new();
    match (summary.shards.only, summary.shards.expected) {
        (Some(only), _) => facts.push(format!("shard {only}")),
        (None, Some(n)) => facts.push(format!("shards: {}/{n} reported", summary.shards.found)),
        (None, None) => facts.push(format!(
            "{} JUnit {}",
            summary.files_read,
            plural(summary.files_read.into(), "file", "files")
        )),
    }
    if let Some(w) = summary.workers {
        facts.push(format!(
            "{} per shard",
            count(w.into(), "worker", "workers")
        ));
    }
    facts.push(count(summary.totals.tests, "test", "tests"));
    if summary.totals.deselected > 0 {
        facts.push(format!(
            "{} deselected by your filters",
            summary.totals.deselected
        ));
    }
    let mut out = format!("{}\n", facts.join(" · "));
    for line in [
        listed_note(
            &summary.collected_nothing,
            ("planned file", "planned files"),
            "collected no test (not lost)",
        ),
        not_found_note(&summary.not_found),
    ]
    .into_iter()
    .flatten()
    {
        out.push_str(&format!("note: {line}\n"));
    }
    out
}

/// `1 planned id matched no test, renamed or deleted (not lost): `a.py::gone``: planned node
/// ids (and deselect entries) that pytest did not collect, renamed or deleted since the
/// timings; `None` when there are none. Shared by `report` and `run`, which says it for its
/// own shard.
pub fn not_found_note(ids: &[String]) -> Option<String> {
    listed_note(
        ids,
        ("planned id", "planned ids"),
        "matched no test, renamed or deleted (not lost)",
    )
}

/// `3 {noun} {what}: `a`, `b`, `c``, naming at most five items; `None` when there are none.
fn listed_note(items: &[String], noun: (&str, &str), what: &str) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let shown: Vec<String> = items.iter().take(5).map(|i| format!("`{i}`")).collect();
    let more = items.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "{} {what}: {}{more}",
        count(items.len() as u64, noun.0, noun.1),
        shown.join(", ")
    ))
}

/// One line per shard that has a time, with what it used and any advice.
fn balance(summary: &Summary) -> String {
    let rows: Vec<_> = summary
        .shard_rows
        .iter()
        .filter(|r| r.actual_seconds.is_some())
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n");
    for r in rows {
        let error = r
            .error_percent
            .map(|e| format!(", error {e:+.1}%"))
            .unwrap_or_default();
        let defaults = if r.wall_estimated {
            " with default start-up"
        } else {
            ""
        };
        let predicted = r
            .predicted_wall()
            .map(|s| {
                format!(
                    " ({} {}{defaults}{error})",
                    prediction_label(r.estimated),
                    seconds(s)
                )
            })
            .unwrap_or_default();
        let used = r
            .resources
            .as_ref()
            .map(|res| {
                let cpu = res.cpu_cell();
                let cpu = if cpu.is_empty() {
                    String::new()
                } else {
                    format!("CPU {cpu} used, ")
                };
                format!("; {cpu}peak memory {}", res.memory_cell())
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "shard {}/{}: {} in {}{predicted}{used}\n",
            r.index,
            r.total,
            crate::text::count(r.tests, "test", "tests"),
            r.actual_seconds.map(seconds).unwrap_or_default(),
        ));
        for advice in r.resources.iter().flat_map(|res| &res.advice) {
            out.push_str(&format!("  advice: {advice}\n"));
        }
    }
    out
}

fn slowest(summary: &Summary) -> String {
    if summary.slowest.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{}\n", rule("slowest durations"));
    for s in &summary.slowest {
        out.push_str(&format!(
            "{:>8} {}\n",
            seconds(s.seconds),
            terminal(&truncate_bytes(&s.id, 300))
        ));
    }
    out
}

/// Node ids shown per list of the comparison; the rest is counted.
const COMPARISON_IDS: usize = 10;

/// "compared with the base": one line per new failure, still failing, fixed and slower test
/// (at most [`COMPARISON_IDS`] each), counts of new and removed tests, the change in time.
fn comparison(summary: &Summary, p: &Paint) -> String {
    use super::compare::{FailOn, first};
    let Some(c) = &summary.comparison else {
        return String::new();
    };
    let mut out = format!("\n{}\n", rule("compared with the base"));
    let run = &c.base.run;
    let mut about = vec![terminal(&truncate_bytes(&c.base.path, 300))];
    for (label, value) in [
        ("ref", &run.git_ref),
        ("commit", &run.commit),
        ("run", &run.run_id),
        ("date", &run.date),
    ] {
        if let Some(v) = value {
            about.push(format!("{label} {}", terminal(v)));
        }
    }
    out.push_str(&format!(
        "base: {} ({}, {} failed)\n",
        about.join(", "),
        count(run.tests, "test", "tests"),
        run.failed + run.errors
    ));
    if let Some(line) = c.base_incomplete_line() {
        out.push_str(&format!("{}\n", p.yellow(&terminal(&line))));
    }
    let forgiven = summary.fail_on_applied() == FailOn::New;
    let lists: [(&[String], String); 3] = [
        (&c.new_failures, p.red("NEW FAILURE")),
        (
            &c.still_failing,
            if forgiven {
                p.yellow("STILL FAILING")
            } else {
                p.red("STILL FAILING")
            },
        ),
        (&c.fixed, p.green("FIXED")),
    ];
    for (ids, painted) in lists {
        let (shown, more) = first(ids, COMPARISON_IDS);
        for id in shown {
            out.push_str(&format!(
                "{painted} {}\n",
                terminal(&truncate_bytes(id, 500))
            ));
        }
        if more > 0 {
            out.push_str(&format!("{painted} … and {more} more\n"));
        }
    }
    let (shown, more) = first(&c.slower, COMPARISON_IDS);
    for t in shown {
        out.push_str(&format!(
            "{} {} {} -> {}\n",
            p.yellow("SLOWER"),
            terminal(&truncate_bytes(&t.id, 500)),
            seconds(t.base_seconds),
            seconds(t.seconds)
        ));
    }
    if more > 0 {
        out.push_str(&format!("{} … and {more} more\n", p.yellow("SLOWER")));
    }
    let mut counts = vec![
        count(c.new_failures.len() as u64, "new failure", "new failures"),
        format!("{} still failing", c.still_failing.len()),
        format!("{} fixed", c.fixed.len()),
        count(c.new_tests.len() as u64, "new test", "new tests"),
        count(
            c.removed_tests.len() as u64,
            "removed test",
            "removed tests",
        ),
        format!("{} slower", c.slower.len()),
    ];
    counts.push(format!(
        "test time {}",
        super::markdown::change(c.test_seconds).replace('→', "->")
    ));
    if let Some(w) = c.wall_seconds {
        counts.push(format!(
            "wall {}",
            super::markdown::change(w).replace('→', "->")
        ));
    }
    if let Some(cov) = c.coverage_percent {
        counts.push(format!(
            "coverage {}",
            super::markdown::percent_change(cov).replace('→', "->")
        ));
    }
    out.push_str(&counts.join(" · "));
    out.push('\n');
    out
}

/// pytest's "short test summary info": failures, flaky tests, problems.
fn short_summary(summary: &Summary, p: &Paint) -> String {
    let has_info = !summary.failures.is_empty()
        || !summary.flaky.is_empty()
        || !summary.problems.is_empty()
        || !summary.notices.is_empty();
    if !has_info {
        return String::new();
    }
    let mut out = format!("\n{}\n", rule("short test summary info"));
    for f in &summary.failures {
        out.push_str(&failure_line(f, p));
    }
    for f in &summary.flaky {
        out.push_str(&format!(
            "{} {} ({} attempts)\n",
            p.yellow("FLAKY"),
            terminal(&truncate_bytes(&f.id, 500)),
            f.attempts
        ));
    }
    for problem in &summary.problems {
        out.push_str(&format!(
            "{} {}\n",
            p.red("PROBLEM"),
            terminal(&truncate_bytes(&problem.message, 2000))
        ));
    }
    for notice in &summary.notices {
        let word = match notice.kind {
            super::model::NoticeKind::NotReported => "NOTICE",
            _ => "WARNING",
        };
        out.push_str(&format!(
            "{} {}\n",
            p.yellow(word),
            terminal(&truncate_bytes(&notice.message, 2000))
        ));
    }
    out
}

/// `FAILED id - message (file:line, shard i/n)`.
/// Quarantined failures (yellow), quarantined passes, expired entries (red).
fn quarantine(summary: &Summary, p: &Paint) -> String {
    let q = &summary.quarantine;
    if q.failed.is_empty() && q.passed.is_empty() && q.expired.is_empty() {
        return String::new();
    }
    let mut out = format!("{}\n", rule("quarantine"));
    for line in q.expired_lines() {
        out.push_str(&format!("{} {}\n", p.red("EXPIRED"), terminal(&line)));
    }
    for qf in &q.failed {
        let e = &q.entries[qf.entry];
        out.push_str(&format!(
            "{} {} - {} (until {}: {})\n",
            p.yellow("QUARANTINED"),
            terminal(&qf.failure.id),
            terminal(&truncate_bytes(qf.failure.headline().as_ref(), 200)),
            e.expires,
            terminal(&truncate_bytes(&e.reason, 200)),
        ));
    }
    for (id, _) in &q.passed {
        out.push_str(&format!(
            "{} {} (quarantined, passed: the entry may go)\n",
            p.green("PASSED"),
            terminal(id)
        ));
    }
    out
}

/// The total and the lowest-covered files; the total line is what GitLab's `coverage:` reads.
fn coverage(summary: &Summary) -> String {
    let Some(c) = &summary.coverage else {
        return String::new();
    };
    let mut out = format!("{}\n", rule("coverage"));
    for f in c.lowest(super::coverage::LOWEST_SHOWN) {
        out.push_str(&format!(
            "{:>6.1}%  {}\n",
            f.percent,
            terminal(&truncate_bytes(&f.path, 200))
        ));
    }
    out.push_str(&c.total_line());
    out.push('\n');
    out
}

fn failure_line(f: &Failure, p: &Paint) -> String {
    let word = match f.outcome {
        crate::junit::Outcome::Error => "ERROR",
        _ => "FAILED",
    };
    let location = match (&f.file, f.line) {
        (Some(file), Some(line)) => {
            format!(" ({}:{line}", terminal(&truncate_bytes(file, 300)))
        }
        (Some(file), None) => format!(" ({}", terminal(&truncate_bytes(file, 300))),
        _ => String::new(),
    };
    let shard = match (f.shard, f.shard_total, location.is_empty()) {
        (Some(i), Some(n), true) => format!(" (shard {i}/{n})"),
        (Some(i), Some(n), false) => format!(", shard {i}/{n})"),
        (_, _, false) => ")".into(),
        _ => String::new(),
    };
    format!(
        "{} {} - {}{location}{shard}\n",
        p.red(word),
        terminal(&truncate_bytes(&f.id, 500)),
        terminal(&truncate_bytes(&f.headline(), 300)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_test_is_singular_and_warnings_are_listed() {
        let mut s = Summary::default();
        s.shard_rows.push(super::super::model::ShardRow {
            index: 1,
            total: 2,
            predicted_seconds: Some(2.0),
            estimated: true,
            predicted_wall_seconds: None,
            wall_estimated: false,
            error_percent: None,
            measured_costs: None,
            actual_seconds: Some(1.0),
            workers: Some(1),
            tests: 1,
            failed: 0,
            exit_code: Some(0),
            signal: None,
            resources: None,
        });
        s.notices.push(super::super::model::Notice {
            kind: super::super::model::NoticeKind::DiscoveryMissed,
            message: "discovery missed 1 file; it ran in shard 1".into(),
            count: 1,
        });
        let text = render(&s, false);
        assert!(text.contains("shard 1/2: 1 test in"), "{text}");
        assert!(
            text.contains(" (estimated from test counts: 2.00s)"),
            "{text}"
        );
        assert!(text.contains("WARNING discovery missed 1 file"), "{text}");
    }

    #[test]
    fn comparison_is_bounded_escaped_and_names_the_base() {
        use crate::report::compare::{FailOn, sample_summary};
        let text = render(&sample_summary(FailOn::All), false);
        assert!(text.contains(" compared with the base "), "{text}");
        assert!(
            text.contains("base: base/results.json, ref refs/heads/<main>, commit 0123456789abcdef0123, run 42, date 2026-12-01T10:00:00Z (28 tests, 3 failed)"),
            "{text}"
        );
        assert!(
            text.contains("base run incomplete: shard 2/3 did not report"),
            "{text}"
        );
        assert_eq!(
            text.matches("NEW FAILURE t.py::test_new_").count(),
            9,
            "{text}"
        );
        assert!(text.contains("NEW FAILURE … and 15 more\n"), "{text}");
        assert!(text.contains("STILL FAILING t.py::test_old\n"), "{text}");
        assert!(text.contains("FIXED t.py::test_fixed\n"), "{text}");
        assert!(
            text.contains("SLOWER t.py::test_slow 0.50s -> 2.50s\n"),
            "{text}"
        );
        assert!(
            text.contains("25 new failures · 1 still failing · 1 fixed · 1 new test · 1 removed test · 1 slower · test time 30.0s -> 35.5s (+5.50s) · wall 12.0s -> 10.0s (−2.00s)"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "escape sequences are neutralised");
        assert!(
            !text.contains("\n::error"),
            "no workflow command at a line start"
        );
        // `all`: the still failing test fails the job like any other, and nothing says otherwise.
        assert!(!text.contains("--fail-on new"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let mut s = Summary::default();
        s.totals.failed = 1;
        assert!(render(&s, true).contains("\x1b[31m"));
        assert!(!render(&s, false).contains('\x1b'));
    }
}

#[cfg(test)]
mod coverage_tests {
    use super::*;
    use crate::report::coverage::{CoverageReport, FileCoverage};
    use crate::report::model::Failure;

    /// GitLab's `coverage:` regex takes the last match in the log: a failure message that
    /// prints a fake total must come before the real one.
    #[test]
    fn the_total_line_comes_after_every_untrusted_line() {
        let mut s = Summary::default();
        s.totals.failed = 1;
        s.failures.push(Failure {
            id: "t.py::x".into(),
            file: None,
            line: None,
            outcome: crate::junit::Outcome::Failed,
            message: "boom\ncoverage: 100.00% of 1 statements".into(),
            shard: None,
            shard_total: None,
            text: None,
            attempts: 1,
            crashed_worker: None,
        });
        s.coverage = Some(CoverageReport {
            percent: 42.5,
            covered_lines: 17,
            num_statements: 40,
            missing_lines: 23,
            files: vec![FileCoverage {
                path: "app/a.py".into(),
                percent: 42.5,
                num_statements: 40,
                missing_lines: 23,
            }],
            shards: vec![1, 2],
            data_files: 2,
            cobertura: None,
        });
        let text = render(&s, false);
        let last = text
            .lines()
            .rev()
            .find(|l| l.starts_with("coverage: "))
            .unwrap();
        assert_eq!(
            last,
            "coverage: 42.50% of 40 statements (2 data files combined from 2 shards)"
        );
        assert!(text.contains("  42.5%  app/a.py"), "{text}");
    }
}
