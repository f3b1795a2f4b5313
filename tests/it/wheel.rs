//! The PyPI wheel (maturin, `bindings = "bin"`, config in `pypi/pyproject.toml`) installs a
//! working `parallel-pytest` into a fresh virtualenv.
//!
//! Cost: the wheel is built with `--profile dev` on top of what `cargo test` just compiled, so
//! every dependency and the library are reused and cargo at most links the binary again (maturin
//! strips it): a few seconds, against several minutes for a `--release` build with LTO on CI's
//! two cores. The release workflow builds the real wheels with `--release`.
//!
//! The nested cargo gets its own target folder whose `deps`, `build`, `.fingerprint` and
//! `incremental` are symlinks to ours: it reuses every artifact, but copies ("uplifts") its binary
//! into its own `debug/`, never over `target/debug/parallel-pytest`, which other tests are
//! running at the same moment.

use std::process::Command;

use crate::harness::{bin, large_tempdir, python, repo_root, tool};

#[test]
fn wheel_installs_a_working_binary_into_a_fresh_venv() {
    let debug = bin()
        .parent()
        .expect("the binary lives in <target>/debug")
        .to_path_buf();
    let tmp = large_tempdir();
    let target_dir = tmp.path().join("target");
    std::fs::create_dir_all(target_dir.join("debug")).unwrap();
    for shared in ["deps", "build", ".fingerprint", "incremental"] {
        std::os::unix::fs::symlink(debug.join(shared), target_dir.join("debug").join(shared))
            .unwrap();
    }
    let wheels = tmp.path().join("wheels");
    let mut maturin = Command::new(tool("maturin"));
    maturin
        .args(["build", "--locked", "--profile", "dev", "--out"])
        .arg(&wheels)
        .current_dir(repo_root().join("pypi"))
        .env("CARGO_TARGET_DIR", &target_dir);
    // `cargo test` hands the test process variables (CARGO_PKG_*, CARGO_MANIFEST_DIR, ...) that
    // build scripts track: inherited, they make the nested cargo rebuild the TLS stack.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO") && key != "CARGO_HOME") || key == "LD_LIBRARY_PATH" {
            maturin.env_remove(&*key);
        }
    }
    let out = maturin.output().expect("run maturin");
    assert!(
        out.status.success(),
        "maturin build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel was built");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        name.starts_with(&format!("parallel_pytest-{version}-py3-none-")),
        "{name}"
    );

    let venv = tmp.path().join("venv");
    let status = Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    // pip from the test venv installs into the fresh one, from the file only (no index).
    let out = Command::new(python())
        .args(["-m", "pip", "--disable-pip-version-check", "--python"])
        .arg(venv.join("bin/python"))
        .args(["install", "--no-index", "--no-deps", "--quiet"])
        .arg(&wheel)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = venv.join("bin/parallel-pytest");
    let out = Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("parallel-pytest {version}"),
        "{out:?}"
    );
}
