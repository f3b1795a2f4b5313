//! Quarantine: tests that may fail for now, each entry with a reason, an expiry date and an
//! optional owner (`[[tool.parallel-pytest.quarantine]]`, or the file `quarantine-file` names).
//!
//! A quarantined test still runs. Its failure is moved out of the failures into its own list:
//! shown in every output, counted apart, never making the run red. An entry past its date makes
//! the report red whether or not its tests failed, so the list cannot rot silently; a
//! quarantined test that passed is named too, so the list can shrink. Pure: the date of today is
//! an input ([`Date::today`] reads the clock at the edge).

use serde::Serialize;

use super::model::{Failure, Summary};

/// A calendar date, `YYYY-MM-DD` (UTC: CI runners disagree on local time zones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u32,
    pub month: u32,
    pub day: u32,
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for Date {
    type Err = String;

    /// Exactly `YYYY-MM-DD`, a day that exists (no 2026-02-30).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a date: expected YYYY-MM-DD, e.g. 2026-12-31");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(format!("`{s}` is not a day of the calendar"));
        }
        Ok(Date { year, month, day })
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// Today in UTC, from the system clock.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Date::from_unix_days(i64::try_from(secs / 86_400).unwrap_or(0))
    }

    /// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: u32::try_from(year).unwrap_or(0),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }
}

/// One quarantine entry, as configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// A node id or a prefix of node ids (a file, a folder, a class, a parametrized function).
    pub id: String,
    pub reason: String,
    /// The last day the entry holds.
    pub expires: Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `pyproject.toml:12`: where the entry is written, for messages.
    #[serde(skip)]
    pub origin: String,
}

impl Entry {
    /// Whether `node_id` is this entry's test or below it: the id itself, or the entry followed
    /// by `::`, `[` or `/` (so `tests/test_a.py::test_p` does not cover `test_pq`).
    pub fn covers(&self, node_id: &str) -> bool {
        let p = self.id.as_str();
        if p.is_empty() {
            return false;
        }
        if node_id == p {
            return true;
        }
        match node_id.strip_prefix(p) {
            Some(rest) => {
                p.ends_with('/')
                    || p.ends_with("::")
                    || rest.starts_with("::")
                    || rest.starts_with('[')
                    || rest.starts_with('/')
            }
            None => false,
        }
    }

    pub fn expired(&self, today: Date) -> bool {
        self.expires < today
    }

    /// `` `tests/test_net.py` (owner @alice, expired 2026-01-31, pyproject.toml:12) ``.
    pub fn describe(&self) -> String {
        let owner = self
            .owner
            .as_deref()
            .map(|o| format!("owner {o}, "))
            .unwrap_or_default();
        format!(
            "`{}` ({owner}expires {}, {})",
            self.id, self.expires, self.origin
        )
    }
}

/// A quarantined test that failed or errored in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedFailure {
    pub failure: Failure,
    /// Index into [`QuarantineReport::entries`].
    pub entry: usize,
}

/// What the quarantine did to this run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuarantineReport {
    /// Every configured entry (empty: no quarantine, nothing is said).
    pub entries: Vec<Entry>,
    /// Failures a valid entry covers: moved out of `Summary::failures`.
    pub failed: Vec<QuarantinedFailure>,
    /// Tests a valid entry covers that passed in this run (the entry may go).
    pub passed: Vec<(String, usize)>,
    /// Entries past their date: they quarantine nothing and make the report red.
    pub expired: Vec<usize>,
    /// The date the entries were checked against.
    pub today: Option<Date>,
}

impl QuarantineReport {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One line per expired entry, naming it, its owner and its date.
    pub fn expired_lines(&self) -> Vec<String> {
        self.expired
            .iter()
            .map(|&i| {
                let e = &self.entries[i];
                format!(
                    "quarantine entry `{}` expired on {}{} ({}): fix the test or renew the entry",
                    e.id,
                    e.expires,
                    e.owner
                        .as_deref()
                        .map(|o| format!(", owner {o}"))
                        .unwrap_or_default(),
                    e.origin
                )
            })
            .collect()
    }
}

/// Applies the entries to a built summary: moves covered failures out of `failures` and the
/// failed/error counts, lists covered passes and expired entries. `passed_ids` are the node ids
/// that passed in this run (from the same inputs).
pub fn apply(summary: &mut Summary, entries: Vec<Entry>, passed_ids: &[String], today: Date) {
    if entries.is_empty() {
        return;
    }
    let expired: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].expired(today))
        .collect();
    let valid = |id: &str| {
        entries
            .iter()
            .enumerate()
            .find(|(i, e)| !expired.contains(i) && e.covers(id))
            .map(|(i, _)| i)
    };
    let mut kept = Vec::new();
    let mut failed = Vec::new();
    for f in std::mem::take(&mut summary.failures) {
        // A crashed xdist worker is not the test's flakiness: it stays a failure.
        match valid(&f.id).filter(|_| f.crashed_worker.is_none()) {
            Some(entry) => {
                match f.outcome {
                    crate::junit::Outcome::Error => {
                        summary.totals.errors = summary.totals.errors.saturating_sub(1);
                    }
                    _ => summary.totals.failed = summary.totals.failed.saturating_sub(1),
                }
                failed.push(QuarantinedFailure { failure: f, entry });
            }
            None => kept.push(f),
        }
    }
    summary.failures = kept;
    let mut passed: Vec<(String, usize)> = passed_ids
        .iter()
        .filter_map(|id| valid(id).map(|e| (id.clone(), e)))
        .collect();
    passed.sort();
    passed.dedup();
    summary.quarantine = QuarantineReport {
        entries,
        failed,
        passed,
        expired,
        today: Some(today),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::Outcome;

    fn entry(id: &str, expires: &str) -> Entry {
        Entry {
            id: id.into(),
            reason: "flaky".into(),
            expires: expires.parse().unwrap(),
            owner: Some("@alice".into()),
            origin: "pyproject.toml:3".into(),
        }
    }

    fn failure(id: &str, outcome: Outcome) -> Failure {
        Failure {
            id: id.into(),
            file: None,
            line: None,
            outcome,
            message: "boom".into(),
            shard: Some(1),
            shard_total: Some(2),
            text: None,
            attempts: 1,
            crashed_worker: None,
        }
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(
            "2024-02-29".parse::<Date>().unwrap(),
            Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "tomorrow",
            "2026-01-00",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_days_become_civil_dates() {
        assert_eq!(Date::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_days(19_782).to_string(), "2024-02-29");
        assert_eq!(Date::from_unix_days(20_454).to_string(), "2026-01-01");
    }

    #[test]
    fn entries_cover_ids_and_prefixes_at_boundaries() {
        let e = entry("tests/test_a.py::test_p", "2099-01-01");
        assert!(e.covers("tests/test_a.py::test_p"));
        assert!(e.covers("tests/test_a.py::test_p[1-2]"));
        assert!(!e.covers("tests/test_a.py::test_pq"));
        assert!(entry("tests", "2099-01-01").covers("tests/test_a.py::x"));
        assert!(!entry("tests", "2099-01-01").covers("tests2/test_a.py::x"));
        assert!(entry("tests/test_a.py", "2099-01-01").covers("tests/test_a.py::C::x"));
    }

    #[test]
    fn covered_failures_move_out_and_expired_entries_quarantine_nothing() {
        let mut s = Summary::default();
        s.totals.failed = 2;
        s.totals.errors = 1;
        s.failures = vec![
            failure("tests/test_a.py::test_q", Outcome::Failed),
            failure("tests/test_b.py::test_e", Outcome::Error),
            failure("tests/test_c.py::test_old", Outcome::Failed),
        ];
        let today: Date = "2026-06-01".parse().unwrap();
        apply(
            &mut s,
            vec![
                entry("tests/test_a.py::test_q", "2026-06-01"),
                entry("tests/test_b.py", "2026-12-31"),
                entry("tests/test_c.py::test_old", "2026-05-31"),
            ],
            &["tests/test_b.py::test_ok".to_owned()],
            today,
        );
        assert_eq!(s.totals.failed, 1);
        assert_eq!(s.totals.errors, 0);
        assert_eq!(s.failures.len(), 1);
        assert_eq!(s.failures[0].id, "tests/test_c.py::test_old");
        assert_eq!(s.quarantine.failed.len(), 2);
        assert_eq!(s.quarantine.expired, vec![2]);
        assert_eq!(
            s.quarantine.passed,
            vec![("tests/test_b.py::test_ok".to_owned(), 1)]
        );
        assert!(!s.green());
        let line = &s.quarantine.expired_lines()[0];
        assert!(
            line.contains("test_old") && line.contains("2026-05-31") && line.contains("@alice"),
            "{line}"
        );
    }

    #[test]
    fn only_quarantined_failures_leave_the_run_green() {
        let mut s = Summary::default();
        s.totals.failed = 1;
        s.totals.tests = 1;
        s.failures = vec![failure("t.py::x", Outcome::Failed)];
        apply(
            &mut s,
            vec![entry("t.py::x", "2099-01-01")],
            &[],
            "2026-01-01".parse().unwrap(),
        );
        assert!(s.green());
        assert_eq!(s.quarantine.failed.len(), 1);
    }
}
