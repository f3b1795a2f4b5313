//! Which CI provider runs this job, and which shard `I/N` it is.
//!
//! Everything here is a pure function of an environment lookup (`Fn(&str) -> Option<String>`),
//! so tests pass a map and never depend on the CI the test suite itself runs in.
//!
//! Shard precedence, first match wins (each step is only read when the ones above are absent,
//! so a broken lower-priority variable never blocks an explicit choice):
//!
//! 1. `--shard I/N` (1-based),
//! 2. `PARALLEL_PYTEST_SHARD=I/N` (1-based),
//! 3. `PARALLEL_PYTEST_JOB_INDEX` + `PARALLEL_PYTEST_JOB_TOTAL` (0-based index, as GitHub's
//!    `strategy.job-index` / `strategy.job-total`),
//! 4. the detected provider's own parallelism variables (DESIGN.md §5), normalised to 1-based.
//!
//! An empty variable counts as unset: CI templates often expand a missing value to `""` (under
//! `act`, `strategy.job-index` is empty).

use std::fmt;

use serde::Serialize;

use super::Shard;
use crate::env_vars::{ci, ours};

/// A CI system we recognise. Serialized in lowercase (the `env --format json` contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Github,
    Gitlab,
    Circleci,
    Buildkite,
    Azure,
    Bitbucket,
    Semaphore,
    Gitea,
    Local,
}

impl Provider {
    /// The contract name (`github`, `gitlab`, …, `local`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Circleci => "circleci",
            Provider::Buildkite => "buildkite",
            Provider::Azure => "azure",
            Provider::Bitbucket => "bitbucket",
            Provider::Semaphore => "semaphore",
            Provider::Gitea => "gitea",
            Provider::Local => "local",
        }
    }

    /// A human name for the text output.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Github => "GitHub Actions",
            Provider::Gitlab => "GitLab CI",
            Provider::Circleci => "CircleCI",
            Provider::Buildkite => "Buildkite",
            Provider::Azure => "Azure Pipelines",
            Provider::Bitbucket => "Bitbucket Pipelines",
            Provider::Semaphore => "Semaphore",
            Provider::Gitea => "Gitea Actions",
            Provider::Local => "no CI detected",
        }
    }

    /// The provider's native shard variables: `(index, total, index is 0-based)`.
    /// GitHub and Gitea have none (a matrix passes `strategy.job-index` through our own
    /// `PARALLEL_PYTEST_JOB_INDEX`/`_TOTAL`).
    fn shard_variables(self) -> Option<(&'static str, &'static str, Base)> {
        match self {
            Provider::Gitlab => Some((ci::CI_NODE_INDEX, ci::CI_NODE_TOTAL, Base::One)),
            Provider::Circleci => Some((ci::CIRCLE_NODE_INDEX, ci::CIRCLE_NODE_TOTAL, Base::Zero)),
            Provider::Buildkite => Some((
                ci::BUILDKITE_PARALLEL_JOB,
                ci::BUILDKITE_PARALLEL_JOB_COUNT,
                Base::Zero,
            )),
            Provider::Azure => Some((
                ci::SYSTEM_JOBPOSITIONINPHASE,
                ci::SYSTEM_TOTALJOBSINPHASE,
                Base::One,
            )),
            Provider::Bitbucket => Some((
                ci::BITBUCKET_PARALLEL_STEP,
                ci::BITBUCKET_PARALLEL_STEP_COUNT,
                Base::Zero,
            )),
            Provider::Semaphore => {
                Some((ci::SEMAPHORE_JOB_INDEX, ci::SEMAPHORE_JOB_COUNT, Base::One))
            }
            Provider::Github | Provider::Gitea | Provider::Local => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a CI's shard index starts at 0 or at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Zero,
    One,
}

/// A shard together with where it came from, e.g. `--shard` or `CI_NODE_INDEX/CI_NODE_TOTAL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardChoice {
    pub index: u32,
    pub total: u32,
    /// The flag or variable(s) the shard was read from (`env --format json` contract).
    pub source: String,
}

impl ShardChoice {
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            total: self.total,
        }
    }

    fn new(shard: Shard, source: impl Into<String>) -> Self {
        ShardChoice {
            index: shard.index,
            total: shard.total,
            source: source.into(),
        }
    }
}

/// Where this job runs: the provider and, when sharded, which shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiContext {
    pub provider: Provider,
    pub shard: Option<ShardChoice>,
}

/// A variable that is set but unusable. The message names the variable and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DetectError {
    /// The variable at fault (the first one, when a pair is inconsistent).
    pub variable: String,
    pub message: String,
}

impl DetectError {
    fn new(variable: &str, message: String) -> Self {
        DetectError {
            variable: variable.to_owned(),
            message,
        }
    }
}

/// Detect provider and shard. `flag` is `--shard`; `lookup` reads an environment variable.
pub fn detect(
    flag: Option<Shard>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<CiContext, DetectError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let provider = detect_provider(&get);
    let shard = detect_shard(flag, provider, &get)?;
    Ok(CiContext { provider, shard })
}

/// `detect` over the real process environment. Non-UTF-8 values read as garbage, not unset.
pub fn detect_from_env(flag: Option<Shard>) -> Result<CiContext, DetectError> {
    detect(flag, &|name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })
}

/// The provider, from its marker variable. Gitea is checked before GitHub because Gitea
/// Actions also sets `GITHUB_ACTIONS=true`.
fn detect_provider(get: &dyn Fn(&str) -> Option<String>) -> Provider {
    // A marker counts when set to anything but an explicit "false"/"0" (Azure sets
    // `TF_BUILD=True`, Bitbucket has no boolean marker and sets a build number).
    let on = |name: &str| {
        get(name).is_some_and(|v| {
            let v = v.trim();
            !v.eq_ignore_ascii_case("false") && v != "0"
        })
    };
    let markers = [
        (ci::GITEA_ACTIONS, Provider::Gitea),
        (ci::GITHUB_ACTIONS, Provider::Github),
        (ci::GITLAB_CI, Provider::Gitlab),
        (ci::CIRCLECI, Provider::Circleci),
        (ci::BUILDKITE, Provider::Buildkite),
        (ci::TF_BUILD, Provider::Azure),
        (ci::BITBUCKET_BUILD_NUMBER, Provider::Bitbucket),
        (ci::SEMAPHORE, Provider::Semaphore),
    ];
    markers
        .into_iter()
        .find(|(var, _)| on(var))
        .map_or(Provider::Local, |(_, provider)| provider)
}

fn detect_shard(
    flag: Option<Shard>,
    provider: Provider,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ShardChoice>, DetectError> {
    if let Some(shard) = flag {
        return Ok(Some(ShardChoice::new(shard, "--shard")));
    }
    if let Some(value) = get(ours::SHARD) {
        let shard: Shard = value.parse().map_err(|err| {
            DetectError::new(
                ours::SHARD,
                format!("`{}` is `{value}`: {err}", ours::SHARD),
            )
        })?;
        return Ok(Some(ShardChoice::new(shard, ours::SHARD)));
    }
    if let Some(choice) = pair(ours::JOB_INDEX, ours::JOB_TOTAL, Base::Zero, get)? {
        return Ok(Some(choice));
    }
    match provider.shard_variables() {
        Some((index, total, base)) => pair(index, total, base, get),
        None => Ok(None),
    }
}

/// Read an index/total variable pair. Both unset → `None`; one without the other, a value that
/// is not a whole number, or an index out of range → an error naming the variable and value.
fn pair(
    index_var: &str,
    total_var: &str,
    base: Base,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ShardChoice>, DetectError> {
    let (index, total) = match (get(index_var), get(total_var)) {
        (None, None) => return Ok(None),
        (Some(index), Some(total)) => (index, total),
        (Some(index), None) => {
            return Err(DetectError::new(
                index_var,
                format!("`{index_var}` is set to `{index}` but `{total_var}` is not set"),
            ));
        }
        (None, Some(total)) => {
            return Err(DetectError::new(
                total_var,
                format!("`{total_var}` is set to `{total}` but `{index_var}` is not set"),
            ));
        }
    };
    let number = |var: &str, value: &str| -> Result<u64, DetectError> {
        let trimmed = value.trim();
        // Digits only: rejects `-1`, `+1`, `1.0`, `0x2`, which `parse` partly accepts.
        if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DetectError::new(
                var,
                format!("`{var}` is `{value}`: expected a whole number"),
            ));
        }
        trimmed.parse::<u64>().map_err(|_| {
            DetectError::new(
                var,
                format!("`{var}` is `{value}`: the number is too large"),
            )
        })
    };
    let i = number(index_var, &index)?;
    let n = number(total_var, &total)?;
    let (shard, expected) = match base {
        Base::Zero => (Shard::from_zero_based(i, n), "0 <= index < total"),
        Base::One => (Shard::new(i, n), "1 <= index <= total"),
    };
    let shard = shard.map_err(|_| {
        DetectError::new(
            index_var,
            format!(
                "`{index_var}` is `{index}` and `{total_var}` is `{total}`: expected {expected}"
            ),
        )
    })?;
    Ok(Some(ShardChoice::new(
        shard,
        format!("{index_var}/{total_var}"),
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    type Vars<'a> = &'a [(&'a str, &'a str)];

    fn run(flag: Option<Shard>, vars: &[(&str, &str)]) -> Result<CiContext, DetectError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(flag, &|name| map.get(name).cloned())
    }

    fn shard_of(vars: &[(&str, &str)]) -> (Provider, Option<(u32, u32, String)>) {
        let ctx = run(None, vars).unwrap();
        (
            ctx.provider,
            ctx.shard.map(|s| (s.index, s.total, s.source)),
        )
    }

    fn some(i: u32, n: u32, source: &str) -> Option<(u32, u32, String)> {
        Some((i, n, source.to_owned()))
    }

    #[test]
    fn local_without_variables() {
        assert_eq!(shard_of(&[]), (Provider::Local, None));
        // Parallelism variables of a provider that is not detected are ignored.
        assert_eq!(
            shard_of(&[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")]),
            (Provider::Local, None)
        );
    }

    #[test]
    fn every_provider_with_and_without_parallelism() {
        /// marker variables, provider, shard variables, expected 1-based shard, source.
        type Case<'a> = (Vars<'a>, Provider, Vars<'a>, (u32, u32), &'a str);
        let cases: &[Case] = &[
            (
                &[("GITLAB_CI", "true")],
                Provider::Gitlab,
                &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")],
                (2, 3),
                "CI_NODE_INDEX/CI_NODE_TOTAL",
            ),
            (
                &[("CIRCLECI", "true")],
                Provider::Circleci,
                &[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "4")],
                (1, 4),
                "CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL",
            ),
            (
                &[("BUILDKITE", "true")],
                Provider::Buildkite,
                &[
                    ("BUILDKITE_PARALLEL_JOB", "3"),
                    ("BUILDKITE_PARALLEL_JOB_COUNT", "4"),
                ],
                (4, 4),
                "BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT",
            ),
            (
                &[("TF_BUILD", "True")],
                Provider::Azure,
                &[
                    ("SYSTEM_JOBPOSITIONINPHASE", "1"),
                    ("SYSTEM_TOTALJOBSINPHASE", "2"),
                ],
                (1, 2),
                "SYSTEM_JOBPOSITIONINPHASE/SYSTEM_TOTALJOBSINPHASE",
            ),
            (
                &[("BITBUCKET_BUILD_NUMBER", "17")],
                Provider::Bitbucket,
                &[
                    ("BITBUCKET_PARALLEL_STEP", "1"),
                    ("BITBUCKET_PARALLEL_STEP_COUNT", "5"),
                ],
                (2, 5),
                "BITBUCKET_PARALLEL_STEP/BITBUCKET_PARALLEL_STEP_COUNT",
            ),
            (
                &[("SEMAPHORE", "true")],
                Provider::Semaphore,
                &[("SEMAPHORE_JOB_INDEX", "3"), ("SEMAPHORE_JOB_COUNT", "3")],
                (3, 3),
                "SEMAPHORE_JOB_INDEX/SEMAPHORE_JOB_COUNT",
            ),
        ];
        for (marker, provider, shard_vars, (i, n), source) in cases {
            assert_eq!(shard_of(marker), (*provider, None), "{provider} unsharded");
            let all: Vec<_> = marker.iter().chain(shard_vars.iter()).copied().collect();
            assert_eq!(
                shard_of(&all),
                (*provider, some(*i, *n, source)),
                "{provider} sharded"
            );
        }
    }

    #[test]
    fn github_and_gitea() {
        assert_eq!(
            shard_of(&[("GITHUB_ACTIONS", "true")]),
            (Provider::Github, None)
        );
        // Gitea also sets GITHUB_ACTIONS; it must win.
        assert_eq!(
            shard_of(&[("GITHUB_ACTIONS", "true"), ("GITEA_ACTIONS", "true")]),
            (Provider::Gitea, None)
        );
        // A matrix passes strategy.job-index/job-total (0-based) through our variables.
        assert_eq!(
            shard_of(&[
                ("GITHUB_ACTIONS", "true"),
                ("PARALLEL_PYTEST_JOB_INDEX", "0"),
                ("PARALLEL_PYTEST_JOB_TOTAL", "3"),
            ]),
            (
                Provider::Github,
                some(1, 3, "PARALLEL_PYTEST_JOB_INDEX/PARALLEL_PYTEST_JOB_TOTAL")
            )
        );
    }

    #[test]
    fn markers_set_to_false_or_empty_do_not_count() {
        assert_eq!(shard_of(&[("GITHUB_ACTIONS", "false")]).0, Provider::Local);
        assert_eq!(shard_of(&[("GITLAB_CI", "")]).0, Provider::Local);
        assert_eq!(shard_of(&[("CIRCLECI", "0")]).0, Provider::Local);
    }

    #[test]
    fn precedence_flag_then_shard_var_then_job_pair_then_provider() {
        let all = [
            ("GITLAB_CI", "true"),
            ("CI_NODE_INDEX", "1"),
            ("CI_NODE_TOTAL", "2"),
            ("PARALLEL_PYTEST_JOB_INDEX", "2"),
            ("PARALLEL_PYTEST_JOB_TOTAL", "5"),
            ("PARALLEL_PYTEST_SHARD", "4/6"),
        ];
        let flag = Some(Shard { index: 7, total: 7 });
        let got = run(flag, &all).unwrap().shard.unwrap();
        assert_eq!(
            (got.index, got.total, got.source.as_str()),
            (7, 7, "--shard")
        );
        let got = run(None, &all).unwrap().shard.unwrap();
        assert_eq!(
            (got.index, got.total, got.source.as_str()),
            (4, 6, "PARALLEL_PYTEST_SHARD")
        );
        let got = run(None, &all[..5]).unwrap().shard.unwrap();
        assert_eq!((got.index, got.total), (3, 5));
        let got = run(None, &all[..3]).unwrap().shard.unwrap();
        assert_eq!((got.index, got.total), (1, 2));
    }

    #[test]
    fn an_explicit_choice_ignores_broken_lower_sources() {
        let vars = [("GITLAB_CI", "true"), ("CI_NODE_INDEX", "x")];
        assert!(run(None, &vars).is_err());
        assert!(run(Some(Shard { index: 1, total: 1 }), &vars).is_ok());
        let vars = [
            ("GITLAB_CI", "true"),
            ("CI_NODE_INDEX", "x"),
            ("PARALLEL_PYTEST_SHARD", "1/2"),
        ];
        assert!(run(None, &vars).is_ok());
    }

    #[test]
    fn empty_job_index_counts_as_unset() {
        // Under `act`, strategy.job-index expands to "".
        let vars = [
            ("GITHUB_ACTIONS", "true"),
            ("PARALLEL_PYTEST_JOB_INDEX", ""),
            ("PARALLEL_PYTEST_JOB_TOTAL", ""),
        ];
        assert_eq!(shard_of(&vars), (Provider::Github, None));
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        let cases: &[(Vars, &str, &str)] = &[
            (
                &[("PARALLEL_PYTEST_SHARD", "5/4")],
                "PARALLEL_PYTEST_SHARD",
                "5",
            ),
            (
                &[("PARALLEL_PYTEST_SHARD", "0/3")],
                "PARALLEL_PYTEST_SHARD",
                "0",
            ),
            (
                &[("PARALLEL_PYTEST_SHARD", "a/b")],
                "PARALLEL_PYTEST_SHARD",
                "a/b",
            ),
            (
                &[("GITLAB_CI", "true"), ("CI_NODE_INDEX", "2")],
                "CI_NODE_INDEX",
                "CI_NODE_TOTAL",
            ),
            (
                &[("GITLAB_CI", "true"), ("CI_NODE_TOTAL", "2")],
                "CI_NODE_TOTAL",
                "CI_NODE_INDEX",
            ),
            (
                &[
                    ("CIRCLECI", "true"),
                    ("CIRCLE_NODE_INDEX", "-1"),
                    ("CIRCLE_NODE_TOTAL", "4"),
                ],
                "CIRCLE_NODE_INDEX",
                "-1",
            ),
            (
                &[
                    ("CIRCLECI", "true"),
                    ("CIRCLE_NODE_INDEX", "4"),
                    ("CIRCLE_NODE_TOTAL", "4"),
                ],
                "CIRCLE_NODE_INDEX",
                "0 <= index < total",
            ),
            (
                &[
                    ("GITLAB_CI", "true"),
                    ("CI_NODE_INDEX", "1"),
                    ("CI_NODE_TOTAL", "three"),
                ],
                "CI_NODE_TOTAL",
                "three",
            ),
            (
                &[
                    ("GITLAB_CI", "true"),
                    ("CI_NODE_INDEX", "0"),
                    ("CI_NODE_TOTAL", "3"),
                ],
                "CI_NODE_INDEX",
                "1 <= index <= total",
            ),
            (
                &[
                    ("PARALLEL_PYTEST_JOB_INDEX", "1.5"),
                    ("PARALLEL_PYTEST_JOB_TOTAL", "3"),
                ],
                "PARALLEL_PYTEST_JOB_INDEX",
                "1.5",
            ),
            (
                &[("PARALLEL_PYTEST_JOB_INDEX", "2")],
                "PARALLEL_PYTEST_JOB_INDEX",
                "PARALLEL_PYTEST_JOB_TOTAL",
            ),
            (
                &[
                    ("SEMAPHORE", "true"),
                    ("SEMAPHORE_JOB_INDEX", "1"),
                    ("SEMAPHORE_JOB_COUNT", "99999999999999999999999"),
                ],
                "SEMAPHORE_JOB_COUNT",
                "too large",
            ),
        ];
        for (vars, variable, needle) in cases {
            let err = run(None, vars).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}");
            assert!(err.to_string().contains(variable), "{err}");
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }
}
