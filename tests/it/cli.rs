use crate::harness::Cmd;

#[test]
fn version_and_help() {
    let (out, _) = Cmd::new().arg("--version").expect_code(0);
    assert!(out.starts_with("parallel-pytest "), "{out}");
    let (out, _) = Cmd::new().arg("--help").expect_code(0);
    for sub in ["env", "plan", "run", "report"] {
        assert!(out.contains(sub), "--help lists `{sub}`:\n{out}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let (_, err) = Cmd::new().args(["plan", "--no-such-flag"]).expect_code(2);
    assert!(err.contains("--no-such-flag"), "{err}");
}
