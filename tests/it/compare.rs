//! Comparison with the base run, end to end on real pytest: the `compare-suite` fixture (see its
//! expected.toml) runs on "main" (1 known failure) and `report --results-out` writes main's
//! results file; then two "branches" (the fixture with `branches/<name>/` copied over) run and
//! report with `--base` that file. Each suite runs once for the whole module.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde_json::Value;

use crate::harness::{Cmd, copy_tree, fixture_copy, fixtures, python};
use crate::report::normalise;

const SUB: &str = "tests/test_calc.py::test_sub";
const MUL: &str = "tests/test_calc.py::test_mul";
const DIV: &str = "tests/test_calc.py::test_div";
const FORGIVEN: &str =
    "1 test still failing, also failing on the base: not failing this job because `--fail-on new`";

/// The suite as `branch` has it (main without one), run as one shard with 2 workers.
fn run_suite(branch: Option<&str>) -> tempfile::TempDir {
    let dir = fixture_copy("compare-suite");
    if let Some(name) = branch {
        let overlay = fixtures().join("compare-suite/branches").join(name);
        copy_tree(&overlay, dir.path());
        let deleted = std::fs::read_to_string(dir.path().join("DELETE")).unwrap_or_default();
        for file in deleted.lines().filter(|l| !l.is_empty()) {
            std::fs::remove_file(dir.path().join(file)).unwrap();
        }
    }
    Cmd::new()
        .current_dir(dir.path())
        .args(["run", "--shard", "1/1", "--workers", "2", "--python"])
        .arg(python())
        .expect_code(1);
    dir
}

/// Main's run and its results file, written with a GitLab pipeline's variables.
struct Main {
    dir: tempfile::TempDir,
}

impl Main {
    fn results(&self) -> PathBuf {
        self.dir.path().join("main-results.json")
    }
}

static MAIN: LazyLock<Main> = LazyLock::new(|| {
    let dir = run_suite(None);
    Cmd::new()
        .current_dir(dir.path())
        .args(["report", "--results-out", "main-results.json"])
        .env("CI_COMMIT_SHA", "c0ffee0123456789")
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_PIPELINE_ID", "101")
        .expect_code(1);
    Main { dir }
});
static BREAKS_TWO: LazyLock<tempfile::TempDir> = LazyLock::new(|| run_suite(Some("breaks-two")));
static OLD_ONLY: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| run_suite(Some("old-failure-only")));

/// What one `report` printed and wrote.
struct Report {
    code: Option<i32>,
    /// The terminal output.
    text: String,
    stderr: String,
    json: Value,
    summary: String,
    /// The results file it wrote.
    results: Value,
}

impl Report {
    /// Asserts that every output carries `needle` (JSON: in a notice's message).
    fn says_everywhere(&self, needle: &str) {
        assert!(
            self.text.contains(needle),
            "terminal lacks {needle:?}\n{}",
            self.text
        );
        // The summary escapes the message for Markdown, as it does every notice.
        let escaped = parallel_pytest::report::escape::md_code_spans(needle);
        assert!(
            self.summary.contains(&escaped),
            "summary lacks {escaped:?}\n{}",
            self.summary
        );
        let notices = self.json["notices"].as_array().unwrap();
        assert!(
            notices
                .iter()
                .any(|n| n["message"].as_str().unwrap().contains(needle)),
            "JSON notices lack {needle:?}: {notices:?}"
        );
    }

    fn comparison_list(&self, key: &str) -> Vec<String> {
        self.json["comparison"][key]
            .as_array()
            .unwrap_or_else(|| panic!("no comparison.{key}: {}", self.json))
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other["id"].as_str().unwrap().to_owned(),
            })
            .collect()
    }
}

/// `report` in `dir` with `extra` flags; every output goes to a private folder so tests that
/// share a run do not share files.
fn report(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Report {
    let private = tempfile::tempdir().unwrap();
    let p = |name: &str| private.path().join(name);
    let mut cmd = Cmd::new()
        .current_dir(dir)
        .arg("report")
        .arg("--timings-out")
        .arg(p("timings.json"))
        .arg("--json-out")
        .arg(p("report.json"))
        .arg("--summary")
        .arg(p("summary.md"))
        .arg("--results-out")
        .arg(p("results.json"))
        .args(extra);
    for (k, v) in envs {
        cmd = cmd.env(k, v);
    }
    let out = cmd.output();
    let read = |name: &str| std::fs::read_to_string(p(name)).unwrap_or_default();
    Report {
        code: out.status.code(),
        text: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: serde_json::from_str(&read("report.json")).unwrap(),
        summary: read("summary.md"),
        results: serde_json::from_str(&read("results.json")).unwrap(),
    }
}

fn with_base(dir: &Path, extra: &[&str]) -> Report {
    let base = MAIN.results();
    let mut args = vec!["--base", base.to_str().unwrap()];
    args.extend_from_slice(extra);
    report(dir, &args, &[])
}

/// The summary's comparison section, with the clock's date and the temp dir made stable.
fn comparison_section(r: &Report, root: &Path) -> String {
    let date = MAIN_RESULTS["run"]["date"].as_str().unwrap();
    let start = r
        .summary
        .find("### Compared with the base")
        .expect("the summary has a comparison section");
    let rest = &r.summary[start..];
    let end = rest[4..].find("\n### ").map_or(rest.len(), |i| i + 5);
    let escaped = parallel_pytest::report::escape::md_inline(date);
    // Times vary, and so does whether a run of fast tests took more or less time than main.
    normalise(&rest[..end].replace(&escaped, "[DATE]"), root).replace(['−', '+'], "±")
}

static MAIN_RESULTS: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(&std::fs::read_to_string(MAIN.results()).unwrap()).unwrap()
});

#[test]
fn main_writes_a_compact_results_file_with_its_run() {
    let r = &*MAIN_RESULTS;
    assert_eq!(r["format"], "parallel-pytest-results");
    assert_eq!(r["version"], 1);
    let run = &r["run"];
    assert_eq!(
        (&run["commit"], &run["ref"], &run["run_id"]),
        (&"c0ffee0123456789".into(), &"main".into(), &"101".into())
    );
    assert!(run["date"].as_str().unwrap().ends_with('Z'), "{run}");
    assert_eq!(
        (&run["complete"], &run["tests"], &run["failed"]),
        (&true.into(), &6.into(), &1.into())
    );
    let tests = r["tests"].as_object().unwrap();
    assert_eq!(tests.len(), 6);
    assert_eq!(tests[SUB][0], "failed");
    assert_eq!(tests[MUL][0], "passed");
    assert!(tests[MUL][1].as_f64().unwrap() >= 0.0);
}

#[test]
fn a_branch_that_breaks_two_tests_shows_two_new_failures_and_one_still_failing() {
    let r = with_base(BREAKS_TWO.path(), &[]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.text, r.stderr);
    assert_eq!(r.comparison_list("new_failures"), [DIV, MUL]);
    assert_eq!(r.comparison_list("still_failing"), [SUB]);
    assert!(r.comparison_list("fixed").is_empty());
    assert_eq!(r.json["comparison"]["counts"]["new_failures"], 2);
    assert_eq!(r.json["comparison"]["base"]["ref"], "main");
    assert_eq!(r.json["comparison"]["base"]["complete"], true);
    assert_eq!(r.json["fail_on"], "all");
    assert_eq!(r.json["passes"], false);
    for id in [DIV, MUL] {
        assert!(
            r.text.contains(&format!("NEW FAILURE {id}\n")),
            "{}",
            r.text
        );
    }
    assert!(
        r.text.contains(&format!("STILL FAILING {SUB}\n")),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("2 new failures · 1 still failing · 0 fixed"),
        "{}",
        r.text
    );
    assert!(r.summary.contains("**2 new failures**"), "{}", r.summary);
    assert!(r.summary.contains("**1 still failing**"), "{}", r.summary);
    insta::assert_snapshot!(
        "compare_breaks_two_summary",
        comparison_section(&r, BREAKS_TWO.path())
    );

    // `--fail-on new`: the new failures fail the job, and the still failing one is named.
    let r = with_base(BREAKS_TWO.path(), &["--fail-on", "new"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.text, r.stderr);
    assert_eq!(r.json["fail_on"], "new");
    r.says_everywhere("1 test still failing, also failing on the base: `--fail-on new` forgives it, but 2 new failures fail this job");
}

#[test]
fn only_the_old_failure_passes_with_fail_on_new_and_says_so_everywhere() {
    let r = with_base(OLD_ONLY.path(), &["--fail-on", "new"]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.text, r.stderr);
    r.says_everywhere(FORGIVEN);
    assert_eq!(
        (&r.json["fail_on"], &r.json["passes"]),
        (&"new".into(), &true.into())
    );
    assert!(r.comparison_list("new_failures").is_empty());
    assert_eq!(r.comparison_list("still_failing"), [SUB]);
    assert_eq!(
        r.comparison_list("new_tests"),
        ["tests/test_new.py::test_added_on_the_branch"]
    );
    assert_eq!(
        r.comparison_list("removed_tests"),
        ["tests/test_gone.py::test_renamed_later"]
    );
    assert_eq!(
        r.comparison_list("slower"),
        ["tests/test_calc.py::test_timed"]
    );
    let slower = &r.json["comparison"]["slower"][0];
    assert!(slower["seconds"].as_f64().unwrap() >= 1.2, "{slower}");
    // The run's own failure is still listed as one, and the headline keeps it.
    assert_eq!(r.json["totals"]["failed"], 1);
    assert_eq!(r.json["failures"][0]["id"], SUB);
    assert!(
        r.summary.starts_with("## ⚠️ parallel-pytest: 1 failed"),
        "{}",
        r.summary
    );
    insta::assert_snapshot!(
        "compare_old_failure_only_summary",
        comparison_section(&r, OLD_ONLY.path())
    );
    // The branch's own results file is this run's, not the comparison.
    assert_eq!(r.results["run"]["tests"], 6);
    assert_eq!(r.results["tests"][SUB][0], "failed");

    // The same through the variables, and without `new` the old failure fails the job.
    let base = MAIN.results();
    let r = report(
        OLD_ONLY.path(),
        &[],
        &[
            ("PARALLEL_PYTEST_BASE", base.to_str().unwrap()),
            ("PARALLEL_PYTEST_FAIL_ON", "new"),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.text);
    let r = with_base(OLD_ONLY.path(), &[]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    assert!(!r.text.contains(FORGIVEN) && !r.summary.contains("`--fail-on new`"));
    assert!(
        r.text.contains(&format!("STILL FAILING {SUB}\n")),
        "{}",
        r.text
    );
}

#[test]
fn fail_on_new_in_pyproject_applies() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(OLD_ONLY.path(), dir.path());
    let pyproject = dir.path().join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    std::fs::write(
        &pyproject,
        format!("{text}\n[tool.parallel-pytest]\nfail-on = \"new\"\n"),
    )
    .unwrap();
    let r = with_base(dir.path(), &[]);
    assert_eq!(r.code, Some(0), "{}", r.text);
    r.says_everywhere(FORGIVEN);
}

#[test]
fn fail_on_new_without_a_base_is_all_and_says_so() {
    let r = report(OLD_ONLY.path(), &["--fail-on", "new"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.text);
    r.says_everywhere(
        "`--fail-on new` has no base to compare with, so every failure fails this job",
    );
    assert_eq!(r.json["comparison"], Value::Null);
    assert_eq!(r.json["fail_on"], "all");
}

#[test]
fn a_malformed_base_is_a_warning_naming_the_file_and_the_report_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "garbage.json",
            "{\"format\": \"parallel-pytest-results\", \"version\": 1, \"run\": 7}".to_owned(),
        ),
        (
            "future.json",
            "{\"format\": \"parallel-pytest-results\", \"version\": 99}".to_owned(),
        ),
        (
            "timings.json",
            std::fs::read_to_string(OLD_ONLY.path().join(".parallel-pytest/timings.json"))
                .unwrap_or_else(|_| "{\"format\": \"parallel-pytest-timings\"}".into()),
        ),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let r = report(
            OLD_ONLY.path(),
            &["--base", path.to_str().unwrap(), "--fail-on", "new"],
            &[],
        );
        assert_eq!(r.code, Some(1), "{name}: {}\n{}", r.text, r.stderr);
        r.says_everywhere("ignoring the base: ");
        r.says_everywhere(&format!("`{}`", path.display()));
        r.says_everywhere("`--fail-on new` has no base to compare with");
        assert_eq!(r.json["comparison"], Value::Null);
        assert_eq!(r.json["totals"]["tests"], 6, "the report itself is whole");
    }
    let missing = dir.path().join("absent.json");
    let r = report(OLD_ONLY.path(), &["--base", missing.to_str().unwrap()], &[]);
    assert_eq!(r.code, Some(1));
    r.says_everywhere(&format!(
        "failed to read the results file `{}`",
        missing.display()
    ));
}

#[test]
fn an_incomplete_base_is_used_and_said_loudly() {
    let mut base = MAIN_RESULTS.clone();
    base["run"]["complete"] = false.into();
    base["run"]["incomplete_reasons"] = serde_json::json!(["shard 2/2 did not report <b>x</b>"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.json");
    std::fs::write(&path, base.to_string()).unwrap();
    let r = report(
        OLD_ONLY.path(),
        &["--base", path.to_str().unwrap(), "--fail-on", "new"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.text);
    r.says_everywhere("base run incomplete: shard 2/2 did not report");
    assert_eq!(r.json["comparison"]["base"]["complete"], false);
    assert!(
        r.summary.contains("&lt;b&gt;x&lt;/b&gt;") || r.summary.contains("\\<b\\>"),
        "the base's text is escaped for Markdown: {}",
        r.summary
    );
    assert!(!r.summary.contains("<b>x</b>"), "{}", r.summary);
}

/// The PR comment and the check run carry the comparison: the comment is the summary's
/// Markdown, and failures `--fail-on new` forgives make the check run `neutral`.
#[test]
fn the_pull_request_comment_and_check_run_carry_the_comparison() {
    use crate::github::{TOKEN, check_run_routes, comment_routes, validate};
    let mock = crate::mock_http::MockServer::start();
    check_run_routes(&mock, "");
    comment_routes(&mock);
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"pull_request": {"number": 17, "head": {"sha": "cafe"}}}).to_string(),
    )
    .unwrap();
    let base = MAIN.results();
    let r = report(
        OLD_ONLY.path(),
        &[
            "--base",
            base.to_str().unwrap(),
            "--fail-on",
            "new",
            "--check-run",
            "--comment",
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_API_URL", mock.url()),
            ("GITHUB_REPOSITORY", "octo/demo"),
            ("GITHUB_SHA", "mergesha"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_TOKEN", TOKEN),
        ],
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.text, r.stderr);
    assert!(mock.unmatched().is_empty(), "{:?}", mock.unmatched());
    let create = mock.requests_to("POST", "/repos/octo/demo/check-runs");
    let body = create[0].json();
    assert_eq!(body["conclusion"], "neutral");
    validate("checks/create", std::slice::from_ref(&body));
    let comment = mock.requests_to("POST", "/repos/octo/demo/issues/17/comments")[0].json();
    let comment = comment["body"].as_str().unwrap();
    assert!(comment.contains("### Compared with the base"), "{comment}");
    assert!(comment.contains(&parallel_pytest::report::escape::md_code_spans(FORGIVEN)));
    // On GitHub the terminal text is fenced by `::stop-commands::`, and still carries it.
    assert!(r.text.contains(FORGIVEN), "{}", r.text);
}

/// The GitLab MR note is the same Markdown, comparison included.
#[test]
fn the_merge_request_note_carries_the_comparison() {
    use crate::gitlab::{NOTES, stateful_gitlab};
    let mock = crate::mock_http::MockServer::start();
    stateful_gitlab(&mock);
    let base = MAIN.results();
    let url = format!("{}/api/v4", mock.url());
    let r = report(
        BREAKS_TWO.path(),
        &[
            "--base",
            base.to_str().unwrap(),
            "--mr-note",
            "--fail-on",
            "new",
        ],
        &[
            ("CI_API_V4_URL", &url),
            ("CI_PROJECT_ID", "42"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("PARALLEL_PYTEST_GITLAB_TOKEN", "glpat-compare"),
        ],
    );
    assert_eq!(r.code, Some(1), "{}\n{}", r.text, r.stderr);
    let posts = mock.requests_to("POST", NOTES);
    assert_eq!(posts.len(), 1, "{}", r.stderr);
    let note = posts[0].json()["body"].as_str().unwrap().to_owned();
    assert!(note.contains("**2 new failures**"), "{note}");
    assert!(note.contains("**1 still failing**"), "{note}");
    assert!(note.contains("but 2 new failures fail this job"), "{note}");
}
