//! `plan --collect` reads what pytest collected through our collection plugin, not pytest's
//! terminal output: any verbosity in `addopts` plans the same tests, collection errors name
//! the command that ran and quote pytest, and finding nothing in a suite with test files is an
//! error rather than a green run of nothing. Also runs the plugin package's own unit tests.

use std::path::Path;

use parallel_pytest::python::Collection;
use parallel_pytest::suite::{CollectRequest, collect};

use crate::harness::{Cmd, collected_ids, fixture_copy, python, python7, repo_root};

/// The fixture's `pytest.ini` with `addopts` replaced (`None`: no `addopts` at all).
fn set_addopts(dir: &Path, addopts: Option<&str>) {
    let mut ini = "[pytest]\ntestpaths = tests\nmarkers =\n    slow: a slow test\n".to_owned();
    if let Some(opts) = addopts {
        ini.push_str(&format!("addopts = {opts}\n"));
    }
    std::fs::write(dir.join("pytest.ini"), ini).unwrap();
}

fn collect_in(dir: &Path, py: &Path) -> Collection {
    collect(&CollectRequest {
        python: py,
        dir,
        args: &[],
        serial_marker: "serial",
        expect_tests: true,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn any_verbosity_collects_pytests_items_in_pytests_order() {
    for py in [python(), python7()] {
        let dir = fixture_copy("collect-verbose");
        set_addopts(dir.path(), None);
        let expected = collected_ids(dir.path(), &py);
        assert_eq!(expected.len(), 9, "fixture changed?");
        for addopts in [None, Some("-v"), Some("-vv"), Some("-q")] {
            set_addopts(dir.path(), addopts);
            let collection = collect_in(dir.path(), &py);
            assert_eq!(collection.node_ids(), expected, "addopts {addopts:?}");
        }
        let collection = collect_in(dir.path(), &py);
        let item = |id: &str| {
            collection
                .items
                .iter()
                .find(|i| i.nodeid == id)
                .unwrap_or_else(|| panic!("{id} not collected"))
        };
        assert!(
            item("tests/test_beta.py::test_alone")
                .markers
                .contains(&"serial".to_owned())
        );
        let grouped = item("tests/test_beta.py::test_grouped");
        assert_eq!(grouped.xdist_group.as_deref(), Some("db"));
        assert_eq!(grouped.file, "tests/test_beta.py");
        assert!(
            item("tests/test_alpha.py::TestGroup::test_two")
                .keywords
                .contains(&"TestGroup".to_owned())
        );
    }
}

#[test]
fn plan_collect_plans_the_same_tests_whatever_the_verbosity() {
    let dir = fixture_copy("collect-verbose");
    let py = python().display().to_string();
    let plan = |addopts: Option<&str>| -> serde_json::Value {
        set_addopts(dir.path(), addopts);
        let (stdout, _) = Cmd::new()
            .current_dir(dir.path())
            .args([
                "plan",
                "--format",
                "json",
                "--workers",
                "1",
                "--shards",
                "2",
            ])
            .args(["--collect", "--python", &py])
            .expect_code(0);
        let mut plan: serde_json::Value = serde_json::from_str(&stdout).expect("plan JSON");
        // The fingerprint covers the configuration, which differs on purpose here.
        plan["fingerprint"] = serde_json::Value::Null;
        plan
    };
    let quiet = plan(None);
    assert_eq!(quiet["unknown_tests"], 9, "{quiet:#}");
    assert_eq!(plan(Some("-v")), quiet);
    assert_eq!(plan(Some("-vv")), quiet);
}

/// `plan --collect` on a copy of `fixture`, which must fail; its stderr.
fn plan_collect_fails(fixture: &str) -> String {
    let dir = fixture_copy(fixture);
    let out = Cmd::new()
        .current_dir(dir.path())
        .args(["plan", "--shards", "2", "--collect", "--python"])
        .arg(python())
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn a_collection_error_names_the_command_and_quotes_pytest() {
    let stderr = plan_collect_fails("collect-syntax-error");
    assert!(
        stderr
            .contains("-m pytest --collect-only -p no:cacheprovider -p _parallel_pytest_isolation"),
        "{stderr}"
    );
    assert!(stderr.contains("-p _parallel_pytest_collect"), "{stderr}");
    assert!(stderr.contains("pytest exited with code 2"), "{stderr}");
    assert!(stderr.contains("SyntaxError"), "{stderr}");
    assert!(!stderr.contains("--verbosity=-1"), "{stderr}");
}

#[test]
fn collecting_nothing_from_test_files_is_an_error() {
    let stderr = plan_collect_fails("collect-nothing");
    assert!(
        stderr.contains("pytest collected no tests, but the suite has test files"),
        "{stderr}"
    );
    // pytest's own words are quoted.
    assert!(stderr.contains("collected 0 items"), "{stderr}");
}

#[test]
fn plugin_package_unit_tests_pass_on_both_pytest_versions() {
    let package = repo_root().join("python");
    for py in [python(), python7()] {
        let out = std::process::Command::new(&py)
            .args(["-m", "pytest", "-q"])
            .current_dir(&package)
            .output()
            .expect("spawn pytest");
        assert!(
            out.status.success(),
            "{}:\n{}\n{}",
            py.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
