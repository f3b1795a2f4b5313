//! Merging attempts: one result per test per file.
//!
//! pytest-rerunfailures makes pytest write one `<testcase>` per attempt, and the attempts that
//! were rerun are written as *empty* testcases (they look like passes); the last attempt in
//! document order is the real result. So within one file, repeated (`classname`, `name`) pairs
//! are attempts of one test: the last one decides the outcome, and a test that needed more than
//! one attempt and then passed is flaky. Surefire/quick-junit record earlier attempts inside one
//! testcase (`flakyFailure`, `rerunFailure`), counted in `TestCase::inner_reruns`.
//!
//! The same test in two *different* files is not an attempt: across shards that is a
//! duplicate, which the report flags.

use std::collections::HashMap;

use super::model::{Outcome, TestCase};

/// One test's result in one file, attempts folded.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedTest {
    /// The last attempt: its outcome, message and text are the test's.
    pub last: TestCase,
    /// How many attempts the file recorded (testcases plus inner reruns of the last one).
    pub attempts: u32,
    /// Seconds over every attempt.
    pub total_seconds: f64,
    /// The first failure text among the attempts, kept for flaky tests (why it was flaky).
    pub first_failure: Option<String>,
}

impl MergedTest {
    /// Failed or errored at least once, then passed.
    pub fn is_flaky(&self) -> bool {
        self.last.outcome == Outcome::Passed && self.attempts > 1
    }
}

/// Folds one file's testcases into tests, in first-seen order.
pub fn merge_attempts(cases: Vec<TestCase>) -> Vec<MergedTest> {
    merge_attempts_with(cases, &|_, _| 1)
}

/// [`merge_attempts`], where `twins(classname, name)` says how many distinct tests share that
/// pair (pytest runs every item of a node id that several items share): the first that many
/// testcases are separate tests, any later one an attempt of the last of them.
pub fn merge_attempts_with(
    cases: Vec<TestCase>,
    twins: &dyn Fn(&str, &str) -> usize,
) -> Vec<MergedTest> {
    // First pass borrows the names to group attempts (no key clones: a shard file has tens of
    // thousands of testcases); the second moves the testcases into their group.
    let group_of: Vec<usize> = {
        let mut index: HashMap<(&str, &str), (usize, usize)> = HashMap::with_capacity(cases.len());
        let mut next = 0;
        cases
            .iter()
            .map(|case| {
                let key = (case.classname.as_str(), case.name.as_str());
                match index.get_mut(&key) {
                    Some((group, seen)) if *seen < twins(key.0, key.1) => {
                        *seen += 1;
                        *group = next;
                        next += 1;
                        *group
                    }
                    Some((group, _)) => *group,
                    None => {
                        index.insert(key, (next, 1));
                        next += 1;
                        next - 1
                    }
                }
            })
            .collect()
    };
    let mut merged: Vec<MergedTest> = Vec::with_capacity(cases.len());
    for (case, group) in cases.into_iter().zip(group_of) {
        if group < merged.len() {
            let test = &mut merged[group];
            test.attempts += 1 + case.inner_reruns;
            test.total_seconds += case.time_seconds;
            if test.first_failure.is_none() && test.last.outcome.is_bad() {
                test.first_failure = test.last.message.clone().or_else(|| test.last.text.clone());
            }
            test.last = case;
        } else {
            merged.push(MergedTest {
                attempts: 1 + case.inner_reruns,
                total_seconds: case.time_seconds,
                first_failure: None,
                last: case,
            });
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, outcome: Outcome) -> TestCase {
        TestCase {
            classname: "t".into(),
            name: name.into(),
            file: None,
            line: None,
            time_seconds: 1.0,
            outcome,
            message: (outcome != Outcome::Passed).then(|| format!("{name} bad")),
            text: None,
            inner_reruns: 0,
        }
    }

    #[test]
    fn last_attempt_wins_and_flaky_is_detected() {
        let merged = merge_attempts(vec![
            case("a", Outcome::Failed),
            case("b", Outcome::Passed),
            case("a", Outcome::Passed),
            case("c", Outcome::Passed),
            case("c", Outcome::Failed),
        ]);
        assert_eq!(merged.len(), 3);
        assert!(merged[0].is_flaky());
        assert_eq!(merged[0].attempts, 2);
        assert_eq!(merged[0].total_seconds, 2.0);
        assert_eq!(merged[0].first_failure.as_deref(), Some("a bad"));
        assert!(!merged[1].is_flaky());
        assert_eq!(merged[2].last.outcome, Outcome::Failed);
        assert!(!merged[2].is_flaky());
    }

    #[test]
    fn twins_are_separate_tests_and_a_failing_twin_stays_failed() {
        let twins = |_: &str, name: &str| if name == "a" { 2 } else { 1 };
        let merged = merge_attempts_with(
            vec![
                case("a", Outcome::Failed),
                case("b", Outcome::Passed),
                case("a", Outcome::Passed),
                case("b", Outcome::Passed),
            ],
            &twins,
        );
        let outcomes: Vec<_> = merged
            .iter()
            .map(|m| (m.last.name.as_str(), m.last.outcome, m.attempts))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("a", Outcome::Failed, 1),
                ("b", Outcome::Passed, 2),
                ("a", Outcome::Passed, 1)
            ]
        );
    }
}
