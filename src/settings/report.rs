//! `ReportSettings`: the `report` command's flags, `PARALLEL_PYTEST_*` variables (clap merges
//! those) and `[tool.parallel-pytest]` keys, resolved once by [`super::pick`].

use std::path::PathBuf;

use super::SettingsError;
use super::{FileConfig, Resolved, pick};
use crate::ci::Shard;
use crate::cli::{ReportArgs, TextOrJson};
use crate::env_vars::ci;
use crate::publish::{GithubOptions, GitlabOptions};
use crate::report::compare::FailOn;
use crate::timings::DEFAULT_STORE;

/// Where `run` writes shard artifacts unless told otherwise, and so where `report` looks.
const DEFAULT_OUT_DIR: &str = ".parallel-pytest";
/// Where `report` writes the compact results file unless told otherwise.
pub const DEFAULT_RESULTS: &str = ".parallel-pytest/results.json";

#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// The project root: relative inputs and outputs are relative to it.
    pub root: PathBuf,
    /// Files, folders or globs; without any, the out dir (`out-dir`, default `.parallel-pytest/`).
    pub inputs: Vec<String>,
    pub expect_shards: Option<u32>,
    /// `--expect-shard I/N`: only this shard is expected.
    pub expect_shard: Option<Shard>,
    pub format: TextOrJson,
    /// `--summary`, else `$GITHUB_STEP_SUMMARY`.
    pub summary: Option<PathBuf>,
    /// Previous timings stores to smooth the new one with.
    pub timings: Vec<String>,
    /// Where the updated timings store goes, joined to the root.
    pub timings_out: Resolved<PathBuf>,
    pub junit_out: Option<PathBuf>,
    pub codequality_out: Option<PathBuf>,
    pub json_out: Option<PathBuf>,
    /// `--coverage-xml`: Cobertura XML of the combined coverage.
    pub coverage_xml: Option<PathBuf>,
    /// The interpreter whose `coverage` combines the shards' data: `PARALLEL_PYTEST_PYTHON`,
    /// else `python` in `[tool.parallel-pytest]`; `None`: found on `PATH`.
    pub python: Option<(PathBuf, crate::python::PythonSource)>,
    /// The quarantine list (`[[tool.parallel-pytest.quarantine]]`, `quarantine-file`).
    pub quarantine: Vec<crate::report::quarantine::Entry>,
    /// Where the compact results file goes, joined to the root.
    pub results_out: Resolved<PathBuf>,
    /// A base run's results file to compare with.
    pub base: Option<PathBuf>,
    /// Without `base`: fetch the base run's results from its report artifact through the CI
    /// API, within this time; `None` when turned off, or in a shard job's own report.
    pub base_fetch: Option<std::time::Duration>,
    pub fail_on: Resolved<FailOn>,
    pub github: GithubOptions,
    pub gitlab: GitlabOptions,
}

impl ReportSettings {
    /// Resolves `args` over `file` (the root's `[tool.parallel-pytest]`); `env` reads the
    /// CI's variables (`GITHUB_STEP_SUMMARY`).
    pub fn resolve(
        args: ReportArgs,
        file: &FileConfig,
        root: PathBuf,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        if args.expect_shards == Some(0) {
            return Err(SettingsError::Invalid {
                setting: "--expect-shards",
                message: "`--expect-shards` must be at least 1".to_owned(),
            });
        }
        let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
        let out_dir = pick(None, file.out_dir.clone(), PathBuf::from(DEFAULT_OUT_DIR)).value;
        let inputs = pick(
            non_empty(args.inputs),
            None,
            vec![out_dir.to_string_lossy().into_owned()],
        )
        .value;
        let mut timings_out = pick(
            args.timings_out,
            file.timings_out.clone(),
            PathBuf::from(DEFAULT_STORE),
        );
        timings_out.value = root.join(&timings_out.value);
        let mut results_out = pick(
            args.results_out,
            file.results_out.clone(),
            PathBuf::from(DEFAULT_RESULTS),
        );
        results_out.value = root.join(&results_out.value);
        // A shard job's own report, or a given `--base`, has nothing to fetch.
        let base_fetch = super::fetch_limit(
            args.base.is_none() && args.expect_shard.is_none() && !args.no_timings_fetch,
            args.timings_fetch_timeout,
            file,
        )?;
        let fail_on_error = args.github.fail_on_publish_error;
        let publish_timeout = std::time::Duration::from_secs(args.github.publish_timeout);
        Ok(ReportSettings {
            inputs,
            expect_shards: args.expect_shards,
            expect_shard: args.expect_shard,
            format: args.format,
            summary: args.summary.or_else(|| {
                env(ci::GITHUB_STEP_SUMMARY)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            }),
            timings: pick(non_empty(args.timings), file.timings.clone(), Vec::new()).value,
            timings_out,
            junit_out: args.junit_out,
            codequality_out: args.codequality_out,
            json_out: args.json_out,
            coverage_xml: args.coverage_xml.map(|p| root.join(p)),
            python: report_python(file, &root, env),
            quarantine: super::quarantine::load(&root, file)?,
            results_out,
            base: args.base,
            base_fetch,
            fail_on: pick(args.fail_on, file.fail_on, FailOn::All),
            github: GithubOptions {
                check_run: args.github.check_run,
                comment: args.github.comment,
                check_name: args.github.check_name,
                token: args.github.github_token,
                fail_on_error,
                timeout: Some(publish_timeout),
            },
            gitlab: GitlabOptions {
                mr_note: args.gitlab.mr_note,
                token_variable: args.gitlab.token_variable,
                fail_on_error,
                timeout: Some(publish_timeout),
            },
            root,
        })
    }

    /// Our own output files, which must never be read back as inputs.
    ///
    /// (The Cobertura XML is not JUnit but sits in the same folders; it is excluded too.)
    pub fn own_outputs(&self) -> Vec<PathBuf> {
        [&self.junit_out, &self.codequality_out, &self.coverage_xml]
            .into_iter()
            .flatten()
            .cloned()
            .chain([self.results_out.value.clone()])
            .collect()
    }
}

/// `PARALLEL_PYTEST_PYTHON`, else `python` from the config (a relative path from the root).
fn report_python(
    file: &FileConfig,
    root: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(PathBuf, crate::python::PythonSource)> {
    use crate::python::PythonSource;
    if let Some(p) = env(crate::env_vars::ours::PYTHON).filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(p), PythonSource::Flag));
    }
    file.python.as_ref().map(|p| {
        let p = if p.components().count() > 1 && p.is_relative() {
            root.join(p)
        } else {
            p.clone()
        };
        (p, PythonSource::Config)
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::settings::Origin;
    use clap::Parser;

    fn resolve(argv: &[&str], pyproject: &str) -> ReportSettings {
        let cli = Cli::try_parse_from(["parallel-pytest", "report"].iter().chain(argv)).unwrap();
        let Command::Report(args) = cli.command else {
            unreachable!()
        };
        let file = super::super::parse_file_config(pyproject).unwrap();
        ReportSettings::resolve(args, &file, PathBuf::from("/proj"), &|_| None).unwrap()
    }

    /// Pins the precedence for the report keys: flag > pyproject > default.
    #[test]
    fn report_keys_follow_flag_then_pyproject_then_default() {
        let file = "[tool.parallel-pytest]\ntimings-out = \"x.json\"\nout-dir = \"out\"\ntimings = [\"old.json\"]\n";
        let s = resolve(&[], file);
        assert_eq!(s.timings_out.value, Path::new("/proj/x.json"));
        assert_eq!(s.timings_out.origin, Origin::Pyproject);
        assert_eq!(s.inputs, ["out"]);
        assert_eq!(s.timings, ["old.json"]);

        let s = resolve(
            &["--timings-out", "y.json", "--timings", "a.json", "in"],
            file,
        );
        assert_eq!(s.timings_out.value, Path::new("/proj/y.json"));
        assert_eq!(s.timings_out.origin, Origin::Cli);
        assert_eq!(s.inputs, ["in"]);
        assert_eq!(s.timings, ["a.json"]);

        let s = resolve(&[], "");
        assert_eq!(
            s.timings_out.value,
            Path::new("/proj/.parallel-pytest/timings.json")
        );
        assert_eq!(s.timings_out.origin, Origin::Default);
        assert_eq!(s.inputs, [".parallel-pytest"]);
        assert!(s.timings.is_empty());
    }

    /// The comparison keys: flag (or variable, merged by clap) > pyproject > default.
    #[test]
    fn results_out_and_fail_on_follow_the_precedence() {
        let file = "[tool.parallel-pytest]\nresults-out = \"r.json\"\nfail-on = \"new\"\n";
        let s = resolve(&[], file);
        assert_eq!(s.results_out.value, Path::new("/proj/r.json"));
        assert_eq!(
            (s.fail_on.value, s.fail_on.origin),
            (FailOn::New, Origin::Pyproject)
        );
        assert_eq!(s.base, None);

        let s = resolve(
            &[
                "--fail-on",
                "all",
                "--results-out",
                "o.json",
                "--base",
                "b.json",
            ],
            file,
        );
        assert_eq!(s.results_out.value, Path::new("/proj/o.json"));
        assert_eq!(
            (s.fail_on.value, s.fail_on.origin),
            (FailOn::All, Origin::Cli)
        );
        assert_eq!(s.base.as_deref(), Some(Path::new("b.json")));

        let s = resolve(&[], "");
        assert_eq!(
            s.results_out.value,
            Path::new("/proj/.parallel-pytest/results.json")
        );
        assert_eq!(
            (s.fail_on.value, s.fail_on.origin),
            (FailOn::All, Origin::Default)
        );

        let err = super::super::parse_file_config("[tool.parallel-pytest]\nfail-on = \"some\"\n")
            .unwrap_err();
        assert!(err.contains("fail-on") && err.contains("`some`"), "{err}");
        let cli = Cli::try_parse_from(["parallel-pytest", "report", "--fail-on", "some"]);
        assert!(
            cli.unwrap_err()
                .to_string()
                .contains("`some` is not `new` or `all`")
        );
    }
}
