//! `report` end to end on real pytest output: the `report-suite` fixture (see its expected.toml)
//! is run through `run` as 3 shards with 2 xdist workers each (one shard has a worker crash,
//! one a flaky test rerun by pytest-rerunfailures), once for the whole module; every test
//! below reads that run's artifacts or a copy of them.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde_json::Value;

use crate::harness::{Cmd, fixture_copy, python};

struct ThreeShards {
    dir: tempfile::TempDir,
}

impl ThreeShards {
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn out(&self) -> PathBuf {
        self.root().join(".parallel-pytest")
    }
}

/// The plan `run` executes: shard 2 mixes a whole file with a single node id.
const PLAN: &str = r#"{
  "version": "test",
  "fingerprint": "fp-report-suite",
  "shards_total": 3,
  "lower_bound_seconds": 0.5,
  "predicted_makespan_seconds": 0.5,
  "unknown_tests": 0,
  "shards": [
    {"index": 1, "predicted_seconds": 0.5, "workers": 2, "files": ["tests/test_basic.py"], "node_ids": [], "deselect": []},
    {"index": 2, "predicted_seconds": 0.2, "workers": 2, "files": ["tests/sub/test_classes.py"], "node_ids": ["tests/test_flaky.py::test_flaky"], "deselect": []},
    {"index": 3, "predicted_seconds": 0.1, "workers": 2, "files": ["tests/test_crash.py"], "node_ids": [], "deselect": []}
  ]
}"#;

static RUN: LazyLock<ThreeShards> = LazyLock::new(|| {
    let dir = fixture_copy("report-suite");
    std::fs::write(dir.path().join("plan.json"), PLAN).unwrap();
    for i in 1..=3 {
        let out = Cmd::new()
            .current_dir(dir.path())
            .args(["run", "--plan", "plan.json", "--shard", &format!("{i}/3")])
            .args(["--workers", "2", "--python"])
            .arg(python())
            .output();
        // Every shard has a failing or crashing test: pytest exits 1.
        assert_eq!(
            out.status.code(),
            Some(1),
            "shard {i}/3\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ThreeShards { dir }
});

/// Copies the run's artifacts into a fresh folder for a test that alters them.
fn artifacts_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::copy_tree(&RUN.out(), &dir.path().join(".parallel-pytest"));
    dir
}

fn report_json(cwd: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    // Tests share the 3-shard run: unless a test is about the store, each report writes its
    // timings store to a private file instead of the run's default one.
    let private = tempfile::tempdir().unwrap();
    let mut cmd = Cmd::new()
        .current_dir(cwd)
        .args(["report", "--format", "json"])
        .args(extra);
    if !extra.contains(&"--timings-out") {
        cmd = cmd
            .arg("--timings-out")
            .arg(private.path().join("timings.json"));
    }
    let out = cmd.output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{stdout}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// Replaces what changes between runs: times, addresses, worker ids, temp paths, tokens, bars.
pub fn normalise(text: &str, root: &Path) -> String {
    let text = text.replace(&root.display().to_string(), "[ROOT]");
    let text = match std::fs::canonicalize(root) {
        Ok(c) => text.replace(&c.display().to_string(), "[ROOT]"),
        Err(_) => text,
    };
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_alnum = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        // `0x7f...` addresses.
        if c == '0' && chars.get(i + 1) == Some(&'x') && !prev_alnum {
            let mut j = i + 2;
            while j < chars.len() && chars[j].is_ascii_hexdigit() {
                j += 1;
            }
            if j > i + 2 {
                out.push_str("0x[ADDR]");
                i = j;
                continue;
            }
        }
        // `gw0`, `gw1`: which worker crashed is up to the scheduler.
        if c == 'g' && chars.get(i + 1) == Some(&'w') && !prev_alnum {
            let mut j = i + 2;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 2 {
                out.push_str("gwN");
                i = j;
                continue;
            }
        }
        // Decimal numbers followed by `s` (durations) or inside `time="..."`.
        if c.is_ascii_digit() && !prev_alnum {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
                let mut k = j + 1;
                while k < chars.len() && chars[k].is_ascii_digit() {
                    k += 1;
                }
                let next = chars.get(k).copied();
                let quoted_time = out.ends_with("time=\"");
                if next == Some('s') && !chars.get(k + 1).is_some_and(|c| c.is_alphanumeric()) {
                    out.push_str("[T]");
                    i = k + 1;
                    continue;
                }
                if quoted_time {
                    out.push_str("[T]");
                    i = k;
                    continue;
                }
            }
        }
        if c == '█' || c == '░' {
            while i < chars.len() && (chars[i] == '█' || chars[i] == '░') {
                i += 1;
            }
            out.push_str("[BAR]");
            continue;
        }
        out.push(c);
        i += 1;
    }
    // The stop-commands token is random.
    without_resources(&out)
        .lines()
        .map(|l| {
            if let Some(tok) = l.strip_prefix("::stop-commands::") {
                format!("::stop-commands::[TOKEN] ({} hex chars)", tok.len())
            } else if l.starts_with("::") && l.ends_with("::") && l.len() == 36 {
                "::[TOKEN]::".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Drops what `run` measured (CPU and memory columns, advice lines), which depends on
/// the machine and is absent where there is no `/proc`; `tests/it/isolation.rs` checks it.
fn without_resources(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut skipped_block = false;
    for line in text.lines() {
        if line == "**Resource advice**"
            || line.starts_with("  advice: ")
            || (skipped_block && line.starts_with("- shard "))
        {
            skipped_block = true;
            continue;
        }
        if skipped_block && line.is_empty() && out.last().is_some_and(|l| l.is_empty()) {
            continue;
        }
        skipped_block = false;
        let mut line = line.to_owned();
        if let Some(head) = line.strip_suffix(" CPU used | Peak memory |") {
            line = head.to_owned();
        } else if let Some(head) = line.strip_suffix("---:|---:|") {
            line = head.to_owned();
        } else if line.starts_with("| ") && line.contains("<code>") && line.ends_with(" |") {
            // A shard row with two more cells than before.
            let cells = line.matches(" |").count();
            if cells == 9 {
                let mut cut = line.len();
                for _ in 0..2 {
                    cut = line[..cut - 2].rfind(" |").map_or(cut, |i| i + 2);
                }
                line.truncate(cut);
            }
        } else if line.starts_with("shard ") {
            if let Some(at) = line.find("; CPU ").or_else(|| line.find("; peak memory ")) {
                line.truncate(at);
            }
        }
        out.push(line);
    }
    out.join("\n")
}

/// Drops a Markdown section (from its `### title` to the next heading) whose order depends on
/// timings; the tests check it separately.
fn without_section(md: &str, title: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in md.lines() {
        if line.starts_with("### ") {
            skipping = line.starts_with(&format!("### {title}"));
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n")
}

struct GithubReport {
    code: Option<i32>,
    stdout: String,
    summary: String,
    junit: String,
    codequality: String,
}

static GITHUB_REPORT: LazyLock<GithubReport> = LazyLock::new(|| {
    let root = RUN.root();
    let summary = root.join("summary.md");
    let _ = std::fs::remove_file(&summary);
    let out = Cmd::new()
        .current_dir(root)
        .args([
            "report",
            "--junit-out",
            "merged.xml",
            "--codequality-out",
            "cq.json",
        ])
        .arg("--summary")
        .arg(&summary)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "acme/widgets")
        .env("GITHUB_SHA", "0123abcd")
        .output();
    GithubReport {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        summary: std::fs::read_to_string(&summary).unwrap(),
        junit: std::fs::read_to_string(root.join("merged.xml")).unwrap(),
        codequality: std::fs::read_to_string(root.join("cq.json")).unwrap(),
    }
});

#[test]
fn json_contract_on_three_real_shards() {
    let (code, json) = report_json(RUN.root(), &[]);
    assert_eq!(code, Some(1), "failures make the report red");
    let t = &json["totals"];
    let get = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("totals.{k} in {t}"));
    // expected.toml of the fixture suite.
    assert_eq!(get("tests"), 15);
    // pytest's own summary: the non-strict XPASS is `xpassed`, not `passed` (the plugin
    // records what JUnit writes as a plain pass).
    assert_eq!(get("passed"), 6);
    assert_eq!(get("failed"), 4);
    assert_eq!(get("errors"), 2);
    assert_eq!(get("skipped"), 1);
    assert_eq!(get("xfailed"), 1);
    assert_eq!(get("xpassed"), 1);
    assert_eq!(get("flaky"), 1);
    assert!(
        t["seconds"].as_f64().unwrap() >= 0.3,
        "test_slow sleeps 0.3 s"
    );
    assert_eq!(json["shards"]["expected"], 3);
    assert_eq!(json["shards"]["found"], 3);
    assert_eq!(json["shards"]["missing"], serde_json::json!([]));
    assert_eq!(json["complete"], false, "a crashed worker is a problem");
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "crashed_worker");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("while running `tests/test_crash.py::test_crash`")
    );

    let failures = json["failures"].as_array().unwrap();
    let by_id = |id: &str| {
        failures
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in failures: {failures:#?}"))
    };
    // (id, outcome, shard, file, 1-based line, what that line of the fixture says)
    let expected = [
        (
            "tests/test_crash.py::test_crash",
            "error",
            3,
            "tests/test_crash.py",
            None,
            "",
        ),
        (
            "tests/test_basic.py::test_assert_fails",
            "failed",
            1,
            "tests/test_basic.py",
            Some(15),
            "assert 1 + 1 == 3",
        ),
        (
            "tests/test_basic.py::test_fails_in_helper",
            "failed",
            1,
            "tests/test_basic.py",
            Some(19),
            "raise ValueError",
        ),
        (
            "tests/test_basic.py::test_setup_error",
            "error",
            1,
            "tests/test_basic.py",
            Some(28),
            "raise RuntimeError",
        ),
        // No traceback: xunit1's 0-based `line` plus one, which pytest points at the first
        // line of the function's source: its decorator.
        (
            "tests/test_basic.py::test_xpass_strict",
            "failed",
            1,
            "tests/test_basic.py",
            Some(44),
            "strict=True",
        ),
        (
            "tests/sub/test_classes.py::TestGroup::test_param[2]",
            "failed",
            2,
            "tests/sub/test_classes.py",
            Some(7),
            "assert n == 1",
        ),
    ];
    assert_eq!(failures.len(), expected.len(), "{failures:#?}");
    for (id, outcome, shard, file, line, source) in expected {
        let f = by_id(id);
        assert_eq!(f["outcome"], outcome, "{id}");
        assert_eq!(f["shard"], shard, "{id}");
        assert_eq!(f["file"], file, "{id}");
        assert_eq!(f["line"].as_u64(), line, "{id}");
        if let Some(line) = line {
            // The line really is that line of the file, counted from 1.
            let text = std::fs::read_to_string(RUN.root().join(file)).unwrap();
            let at = text.lines().nth(line as usize - 1).unwrap();
            assert!(
                at.contains(source),
                "{file}:{line} is `{at}`, expected `{source}`"
            );
        }
    }
    assert!(
        by_id("tests/test_crash.py::test_crash")["message"]
            .as_str()
            .unwrap()
            .contains("crashed while running")
    );
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "collected_nothing",
            "comparison",
            "complete",
            "fail_on",
            "failures",
            "not_found",
            "notices",
            "passes",
            "problems",
            "shard_rows",
            "shards",
            "totals"
        ]
    );
    // The plan was saved by a version without fixed costs: its shards have no predicted wall,
    // so the rows show no error rather than one against the tests' seconds alone
    // (`fixed_costs.rs` checks the rows of a plan that has them).
    let rows = json["shard_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in rows {
        assert!(row["predicted_seconds"].is_number(), "{row}");
        assert!(row.get("predicted_wall_seconds").is_none(), "{row}");
        assert!(row.get("error_percent").is_none(), "{row}");
    }
}

#[test]
fn github_summary_golden() {
    let r = &*GITHUB_REPORT;
    assert_eq!(r.code, Some(1));
    assert!(r.summary.len() <= 1024 * 1024);
    // Slowest tests: order among the near-zero ones depends on timing; the slow one leads.
    let slowest = r.summary.split("### Slowest tests").nth(1).unwrap();
    let first_row = slowest.lines().find(|l| l.starts_with("| <code>")).unwrap();
    assert!(first_row.contains("test&#95;slow"), "{first_row}");
    assert!(
        r.summary.contains(
            "[tests/test&#95;basic.py&#58;15](https://github.example/acme/widgets/blob/0123abcd/tests/test_basic.py#L15)"
        ),
        "linked file:line"
    );
    insta::assert_snapshot!(
        "report_summary",
        normalise(&without_section(&r.summary, "Slowest tests"), RUN.root())
    );
}

#[test]
fn annotations_and_log_golden() {
    let r = &*GITHUB_REPORT;
    let (commands, log) = r.stdout.split_once("::stop-commands::").unwrap();
    // Annotations come before the guarded log, one workflow command per line.
    for line in commands.lines() {
        assert!(
            line.starts_with("::error ")
                || line.starts_with("::warning ")
                || line.starts_with("::notice "),
            "{line}"
        );
    }
    let token = log.lines().next().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        r.stdout.trim_end().ends_with(&format!("::{token}::")),
        "the guard is closed at the end"
    );
    insta::assert_snapshot!("report_annotations", normalise(commands, RUN.root()));
    let log_without_slowest: String = {
        let mut skip = false;
        log.lines()
            .skip(1) // the token
            .filter(|l| {
                if l.contains(" slowest durations ") {
                    skip = true;
                } else if l.starts_with('=') || l.is_empty() {
                    skip = false;
                }
                !skip
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    insta::assert_snapshot!(
        "report_terminal",
        normalise(&log_without_slowest, RUN.root())
    );
}

#[test]
fn code_quality_golden() {
    let r = &*GITHUB_REPORT;
    let issues: Value = serde_json::from_str(&r.codequality).unwrap();
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 6);
    for issue in issues {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(issue[key].is_string(), "{key} in {issue}");
        }
        assert!(issue["location"]["path"].is_string());
        assert!(issue["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
    }
    insta::assert_snapshot!("report_codequality", normalise(&r.codequality, RUN.root()));
}

#[test]
fn merged_junit_golden_and_readable() {
    let r = &*GITHUB_REPORT;
    insta::assert_snapshot!("report_merged_junit", normalise(&r.junit, RUN.root()));
    // Reading our own merged file back gives the same totals.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("merged.xml"), &r.junit).unwrap();
    let (code, json) = report_json(dir.path(), &["merged.xml"]);
    assert_eq!(code, Some(1));
    for (k, v) in [
        ("tests", 15),
        ("passed", 7),
        ("failed", 4),
        ("errors", 2),
        ("flaky", 1),
        ("xfailed", 1),
    ] {
        assert_eq!(json["totals"][k], v, "{k}");
    }
}

#[test]
fn missing_shard_is_red_and_named() {
    let (code, json) = report_json(RUN.root(), &["--expect-shards", "4"]);
    assert_eq!(code, Some(1));
    assert_eq!(json["shards"]["missing"], serde_json::json!([4]));
    assert_eq!(json["complete"], false);
    let messages: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains("4/4")), "{messages:?}");
}

#[test]
fn deleted_shard_truncated_file_lost_and_duplicated_tests_fingerprints() {
    let dir = artifacts_copy();
    let out = dir.path().join(".parallel-pytest");
    // Shard 3 vanished (artifact upload failed).
    std::fs::remove_file(out.join("junit-3-of-3.xml")).unwrap();
    std::fs::remove_file(out.join("shard-3-of-3.json")).unwrap();
    // Shard 1's JUnit was cut in the middle.
    let j1 = std::fs::read(out.join("junit-1-of-3.xml")).unwrap();
    std::fs::write(out.join("junit-1-of-3.xml"), &j1[..j1.len() / 2]).unwrap();
    // Shard 2 was planned with a test that never ran, under another plan.
    let m2_path = out.join("shard-2-of-3.json");
    let mut m2: Value = serde_json::from_str(&std::fs::read_to_string(&m2_path).unwrap()).unwrap();
    m2["selection"]["node_ids"]
        .as_array_mut()
        .unwrap()
        .push("tests/test_gone.py::test_lost".into());
    m2["fingerprint"] = "another-plan".into();
    std::fs::write(&m2_path, m2.to_string()).unwrap();
    // A stray copy of shard 2's results: the same tests twice.
    std::fs::copy(out.join("junit-2-of-3.xml"), out.join("extra-copy.xml")).unwrap();

    let (code, json) = report_json(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(json["shards"]["missing"], serde_json::json!([3]));
    let kinds: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "truncated",
        "missing_shard",
        "lost_tests",
        "duplicated_tests",
        "fingerprint_mismatch",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let text = json["problems"].to_string();
    assert!(text.contains("tests/test_gone.py::test_lost"), "{text}");
    assert!(text.contains("junit-1-of-3.xml"), "{text}");
}

#[test]
fn green_run_exits_zero_and_bad_usage_two() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("junit.xml"),
        r#"<testsuite><testcase classname="t.test_a" name="test_b" time="0.1"/></testsuite>"#,
    )
    .unwrap();
    let (code, json) = report_json(dir.path(), &["junit.xml"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["complete"], true);
    assert_eq!(json["totals"]["passed"], 1);

    let (_, err) = Cmd::new()
        .current_dir(dir.path())
        .args(["report", "--expect-shards", "0"])
        .expect_code(2);
    assert!(err.contains("--expect-shards"), "{err}");
}

#[test]
fn unreadable_files_are_reported_per_file_and_others_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("good.xml"),
        r#"<testsuite><testcase classname="t" name="ok"/></testsuite>"#,
    )
    .unwrap();
    std::fs::write(p.join("empty.xml"), "").unwrap();
    std::fs::write(p.join("nunit.xml"), "<test-run/>").unwrap();
    std::fs::write(p.join("text.xml"), "hello").unwrap();
    let (code, json) = report_json(
        p,
        &[
            "good.xml",
            "empty.xml",
            "nunit.xml",
            "text.xml",
            "missing.xml",
        ],
    );
    assert_eq!(code, Some(1));
    assert_eq!(json["totals"]["passed"], 1);
    let problems = json["problems"].as_array().unwrap();
    let text = serde_json::to_string(problems).unwrap();
    assert_eq!(problems.len(), 4, "{text}");
    for needle in [
        "empty.xml` is empty",
        "is not a JUnit report",
        "`<test-run>`",
        "text.xml` is not XML",
        "`missing.xml` does not exist",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
}

#[test]
fn timings_store_is_written_for_the_next_plan_and_smoothed() {
    let dir = artifacts_copy();
    // The shared run's folder may hold a store another test's report left there; this test
    // starts without one.
    let default_store = dir.path().join(".parallel-pytest/timings.json");
    if default_store.exists() {
        std::fs::remove_file(&default_store).unwrap();
    }
    // Not `report_json`, which sends the store to a private file: this is about the default.
    let out = Cmd::new()
        .current_dir(dir.path())
        .args(["report", "--format", "json"])
        .output();
    assert_eq!(out.status.code(), Some(1));
    let read =
        |p: &Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let first = read(&dir.path().join(".parallel-pytest/timings.json"));
    assert_eq!(first["format"], "parallel-pytest-timings");
    let tests = first["tests"].as_object().unwrap();
    assert_eq!(tests.len(), 15, "{tests:?}");
    let slow = &tests["tests/test_basic.py::test_slow"];
    assert!(slow["seconds"].as_f64().unwrap() >= 0.3, "{slow}");
    assert_eq!(slow["runs"], 1);
    assert!(tests.contains_key("tests/sub/test_classes.py::TestGroup::test_param[2]"));

    // The next report reads the default store as the previous one and smooths into it.
    let (_, _) = report_json(dir.path(), &["--timings-out", "next.json"]);
    let second = read(&dir.path().join("next.json"));
    assert_eq!(second["tests"]["tests/test_basic.py::test_slow"]["runs"], 2);
}

/// `report` honours the report keys of `[tool.parallel-pytest]`: `timings-out` is where the next
/// store goes and `out-dir` is where the shard artifacts are looked for; flags still win.
#[test]
fn pyproject_report_keys_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("pyproject.toml"),
        "[tool.parallel-pytest]\ntimings-out = \"x.json\"\nout-dir = \"results\"\n",
    )
    .unwrap();
    std::fs::create_dir(p.join("results")).unwrap();
    std::fs::write(
        p.join("results/junit.xml"),
        r#"<testsuite><testcase classname="t.test_a" name="test_b" time="0.1"/></testsuite>"#,
    )
    .unwrap();
    let (out, _) = Cmd::new()
        .current_dir(p)
        .args(["report", "--format", "json"])
        .expect_code(0);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["totals"]["passed"], 1, "{json}");
    let store: Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("x.json")).unwrap()).unwrap();
    assert!(store["tests"]["t/test_a.py::test_b"].is_object(), "{store}");
    assert!(!p.join(".parallel-pytest/timings.json").exists());

    Cmd::new()
        .current_dir(p)
        .args(["report", "--timings-out", "y.json", "results"])
        .expect_code(0);
    assert!(p.join("y.json").exists());
}

/// pytest's default `junit_family=xunit2` has no `file`/`line`: node ids come from
/// classname/name and lines from the traceback alone. Checked on the oldest supported stack
/// (pytest 7.4, xdist 3.5, rerunfailures 14) writing its JUnit directly, without `run`.
#[test]
fn pytest7_xunit2_without_manifests() {
    let dir = fixture_copy("report-suite");
    let out = std::process::Command::new(crate::harness::python7())
        .current_dir(dir.path())
        .args(["-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q"])
        .args(["-o", "junit_family=xunit2", "--junitxml=results/junit.xml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (code, json) = report_json(dir.path(), &["results"]);
    assert_eq!(code, Some(1));
    for (k, v) in [
        ("tests", 15),
        ("passed", 7),
        ("failed", 4),
        ("errors", 2),
        ("skipped", 1),
        ("xfailed", 1),
        // pytest 7.4 with pytest-rerunfailures 14 writes only the final attempt to JUnit, so a
        // flaky test is indistinguishable from a pass there (pytest 9 + rerunfailures 16 write
        // every attempt: see `json_contract_on_three_real_shards`).
        ("flaky", 0),
    ] {
        assert_eq!(json["totals"][k], v, "{k}: {}", json["totals"]);
    }
    assert_eq!(json["shards"]["expected"], Value::Null);
    let failures = json["failures"].as_array().unwrap();
    let line_of = |id: &str| {
        let f = failures
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("{id}"));
        (f["file"].as_str().map(str::to_owned), f["line"].as_u64())
    };
    assert_eq!(
        line_of("tests/test_basic.py::test_assert_fails"),
        (Some("tests/test_basic.py".into()), Some(15))
    );
    assert_eq!(
        line_of("tests/test_basic.py::test_fails_in_helper"),
        (Some("tests/test_basic.py".into()), Some(19))
    );
    assert_eq!(
        line_of("tests/test_basic.py::test_setup_error"),
        (Some("tests/test_basic.py".into()), Some(28))
    );
    assert_eq!(
        line_of("tests/sub/test_classes.py::TestGroup::test_param[2]"),
        (Some("tests/sub/test_classes.py".into()), Some(7))
    );
    // Nothing in xunit2 locates a strict XPASS beyond its file.
    assert_eq!(
        line_of("tests/test_basic.py::test_xpass_strict"),
        (Some("tests/test_basic.py".into()), None)
    );
    assert!(line_of("tests/test_crash.py::test_crash").0.is_some());
}
