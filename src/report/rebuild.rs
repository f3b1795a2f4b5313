//! A shard whose pytest died before writing its JUnit file, rebuilt from the results log our
//! plugin writes as tests run (`pytest::results_log`): the tests that finished keep their
//! outcomes, and the test that was running becomes an error named with the signal.

use std::path::Path;

use crate::ci::Shard;
use crate::junit::node_id::to_junit_names;
use crate::junit::reader::FileReport;
use crate::junit::{Outcome, TestCase};
use crate::pytest::manifest::Manifest;
use crate::pytest::results_log::{self, Logged, ResultsLog};

use super::model::LoadedFile;

/// What the log told about a shard's death, for its one problem line.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// The test that was running when pytest died.
    pub running: Option<String>,
    /// Tests that finished before it.
    pub finished: usize,
    /// Rebuilt from the serial phase's log (the parallel phase's JUnit file is there).
    pub serial: bool,
}

/// The shard's results from the log beside `manifest_path`, when pytest ran but left no JUnit
/// (`serial`: the serial phase's log, when that phase left none).
pub fn from_log(
    manifest_path: &Path,
    manifest: &Manifest,
    serial: bool,
) -> Option<(LoadedFile, Rebuilt)> {
    let shard = Shard::new(manifest.shard_index.into(), manifest.shard_total.into()).ok()?;
    let path = manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(results_log::file_name(&shard.file_stem(), serial));
    let log = results_log::read(&path)?;
    let signal = if serial {
        manifest.serial.as_ref().and_then(|s| s.signal.as_ref())
    } else {
        manifest.signal.as_ref()
    };
    let how = match signal {
        Some(sig) => format!("pytest was killed by {sig} while running this test"),
        None => "pytest stopped while running this test".to_owned(),
    };
    let report = FileReport {
        cases: cases(&log, &how),
        truncated: None,
        declared_seconds: None,
        suites: 1,
        nameless_cases: 0,
        oversized_ids: Default::default(),
    };
    let rebuilt = Rebuilt {
        running: log.running().map(|t| t.id.clone()),
        finished: log.finished(),
        serial,
    };
    Some((
        LoadedFile::new(path.display().to_string(), Some(shard), Ok(report)),
        rebuilt,
    ))
}

/// One testcase per logged test; one that never finished is an error saying `how`.
fn cases(log: &ResultsLog, how: &str) -> Vec<TestCase> {
    log.tests
        .iter()
        .map(|t: &Logged| {
            let (classname, name) = to_junit_names(&t.id);
            TestCase {
                classname,
                name,
                file: t.file.clone(),
                line: t.line,
                time_seconds: t.seconds,
                outcome: t.outcome.unwrap_or(Outcome::Error),
                message: match t.outcome {
                    None => Some(how.to_owned()),
                    Some(_) => t.message.clone(),
                },
                text: None,
                inner_reruns: 0,
            }
        })
        .collect()
}
