//! Every environment variable the tool reads, in one place (STYLE.md §3).
//!
//! clap's `env =` attributes, the CI detection and the README reference all use these
//! constants, and the integration-test harness removes every one of them before it spawns the
//! binary, so our own CI's variables never leak into a test.

/// Our own variables: every CLI flag can also be set through one of these.
pub mod ours {
    pub const SHARD: &str = "PARALLEL_PYTEST_SHARD";
    pub const JOB_INDEX: &str = "PARALLEL_PYTEST_JOB_INDEX";
    pub const JOB_TOTAL: &str = "PARALLEL_PYTEST_JOB_TOTAL";
    pub const SHARDS: &str = "PARALLEL_PYTEST_SHARDS";
    pub const WORKERS: &str = "PARALLEL_PYTEST_WORKERS";
    pub const MEMORY_PER_WORKER: &str = "PARALLEL_PYTEST_MEMORY_PER_WORKER";
    pub const PYTHON: &str = "PARALLEL_PYTEST_PYTHON";
    pub const ROOT: &str = "PARALLEL_PYTEST_ROOT";
    pub const TIMINGS: &str = "PARALLEL_PYTEST_TIMINGS";
    pub const TIMINGS_OUT: &str = "PARALLEL_PYTEST_TIMINGS_OUT";
    pub const OUT_DIR: &str = "PARALLEL_PYTEST_OUT_DIR";
    pub const DIST: &str = "PARALLEL_PYTEST_DIST";
    /// `plan`/`run --launcher` (`xdist`, `processes`).
    pub const LAUNCHER: &str = "PARALLEL_PYTEST_LAUNCHER";
    /// `env --format`; each command has its own variable because the value sets differ.
    pub const ENV_FORMAT: &str = "PARALLEL_PYTEST_ENV_FORMAT";
    /// `plan --format` (`text`, `json`, `matrix`, `gitlab-child`, `cost`).
    pub const PLAN_FORMAT: &str = "PARALLEL_PYTEST_PLAN_FORMAT";
    /// `report --format`.
    pub const REPORT_FORMAT: &str = "PARALLEL_PYTEST_REPORT_FORMAT";
    pub const TARGET_SECONDS: &str = "PARALLEL_PYTEST_TARGET_SECONDS";
    pub const MAX_SHARDS: &str = "PARALLEL_PYTEST_MAX_SHARDS";
    pub const SHARD_STARTUP_SECONDS: &str = "PARALLEL_PYTEST_SHARD_STARTUP_SECONDS";
    /// `plan --max-runner-minutes`: runner-time budget for `--target-seconds`.
    pub const MAX_RUNNER_MINUTES: &str = "PARALLEL_PYTEST_MAX_RUNNER_MINUTES";
    pub const EXPECT_SHARDS: &str = "PARALLEL_PYTEST_EXPECT_SHARDS";
    pub const SUMMARY: &str = "PARALLEL_PYTEST_SUMMARY";
    pub const SERIAL_MARKER: &str = "PARALLEL_PYTEST_SERIAL_MARKER";
    /// Set by `run` for every pytest process it starts (isolation).
    pub const SHARD_INDEX: &str = "PARALLEL_PYTEST_SHARD_INDEX";
    pub const SHARD_TOTAL: &str = "PARALLEL_PYTEST_SHARD_TOTAL";
    /// `run --plan`: a plan saved with `plan --format json`, run instead of planning again.
    pub const PLAN: &str = "PARALLEL_PYTEST_PLAN";
    /// `run --grace-seconds`: time pytest gets to write its report after a cancellation.
    pub const GRACE_SECONDS: &str = "PARALLEL_PYTEST_GRACE_SECONDS";
    /// `run --no-thread-limits`: leave the numeric libraries' thread pools at their defaults.
    pub const NO_THREAD_LIMITS: &str = "PARALLEL_PYTEST_NO_THREAD_LIMITS";
    /// `run`, pytest < 8.2 only: bytes of test-file paths allowed on argv before `run` passes
    /// top folders instead (default 131072). For tests and unusual systems.
    pub const ARGV_BUDGET: &str = "PARALLEL_PYTEST_ARGV_BUDGET";
    /// `report`: publish a GitHub check run with every annotation.
    pub const CHECK_RUN: &str = "PARALLEL_PYTEST_CHECK_RUN";
    /// `report`: name of the check run (and key of the sticky PR comment).
    pub const CHECK_NAME: &str = "PARALLEL_PYTEST_CHECK_NAME";
    /// `report`: create or update one sticky pull-request comment.
    pub const COMMENT: &str = "PARALLEL_PYTEST_COMMENT";
    /// `report`: token for the GitHub API (falls back to `GITHUB_TOKEN`). Never printed.
    pub const GITHUB_TOKEN: &str = "PARALLEL_PYTEST_GITHUB_TOKEN";
    /// `report`: exit non-zero when a requested check run or comment could not be published.
    pub const FAIL_ON_PUBLISH_ERROR: &str = "PARALLEL_PYTEST_FAIL_ON_PUBLISH_ERROR";
    /// `report`: seconds all publishing may take in total (default 60).
    pub const PUBLISH_TIMEOUT: &str = "PARALLEL_PYTEST_PUBLISH_TIMEOUT";
    /// `report --mr-note`: post or update the GitLab merge request note.
    pub const MR_NOTE: &str = "PARALLEL_PYTEST_MR_NOTE";
    /// `report --token-variable`: NAME of the variable holding the GitLab access token.
    pub const TOKEN_VARIABLE: &str = "PARALLEL_PYTEST_TOKEN_VARIABLE";
    /// The default variable `--token-variable` names (the token itself; never printed).
    pub const GITLAB_TOKEN: &str = "PARALLEL_PYTEST_GITLAB_TOKEN";
    /// `report --coverage-xml`: where the combined coverage goes as Cobertura XML.
    pub const COVERAGE_XML: &str = "PARALLEL_PYTEST_COVERAGE_XML";
    /// `report --results-out`: where the compact results file goes.
    pub const RESULTS_OUT: &str = "PARALLEL_PYTEST_RESULTS_OUT";
    /// `report --base`: the base run's results file to compare with.
    pub const BASE: &str = "PARALLEL_PYTEST_BASE";
    /// `report --fail-on`: `all` (default) or `new`.
    pub const FAIL_ON: &str = "PARALLEL_PYTEST_FAIL_ON";
    /// Prefix of the variables through which the component's auto-mode plan job hands its
    /// inputs to `plan --format gitlab-child` (`PARALLEL_PYTEST_INPUT_SHARDS`, ...).
    pub const INPUT_PREFIX: &str = "PARALLEL_PYTEST_INPUT_";
    /// `plan`/`run --no-timings-fetch`: never look beyond the local timings (no API requests).
    pub const NO_TIMINGS_FETCH: &str = "PARALLEL_PYTEST_NO_TIMINGS_FETCH";
    /// `plan`/`run`: seconds the whole timings fallback chain may take (default 20).
    pub const TIMINGS_FETCH_TIMEOUT: &str = "PARALLEL_PYTEST_TIMINGS_FETCH_TIMEOUT";
    /// GitHub: name of the report job's history artifact (the action sets
    /// `<artifact-name>-history`; default `parallel-pytest-history`).
    pub const HISTORY_ARTIFACT: &str = "PARALLEL_PYTEST_HISTORY_ARTIFACT";

    /// Every variable above, for the test harness to clear.
    pub const ALL: &[&str] = &[
        SHARD,
        JOB_INDEX,
        JOB_TOTAL,
        SHARDS,
        WORKERS,
        MEMORY_PER_WORKER,
        PYTHON,
        ROOT,
        TIMINGS,
        TIMINGS_OUT,
        OUT_DIR,
        DIST,
        LAUNCHER,
        ENV_FORMAT,
        PLAN_FORMAT,
        REPORT_FORMAT,
        TARGET_SECONDS,
        MAX_SHARDS,
        SHARD_STARTUP_SECONDS,
        MAX_RUNNER_MINUTES,
        EXPECT_SHARDS,
        SUMMARY,
        SERIAL_MARKER,
        SHARD_INDEX,
        SHARD_TOTAL,
        PLAN,
        GRACE_SECONDS,
        NO_THREAD_LIMITS,
        ARGV_BUDGET,
        CHECK_RUN,
        CHECK_NAME,
        COMMENT,
        GITHUB_TOKEN,
        MR_NOTE,
        TOKEN_VARIABLE,
        GITLAB_TOKEN,
        FAIL_ON_PUBLISH_ERROR,
        PUBLISH_TIMEOUT,
        NO_TIMINGS_FETCH,
        TIMINGS_FETCH_TIMEOUT,
        HISTORY_ARTIFACT,
        COVERAGE_XML,
        RESULTS_OUT,
        BASE,
        FAIL_ON,
    ];
}

/// Variables set by CI providers (DESIGN.md §5).
pub mod ci {
    pub const CI: &str = "CI";
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    pub const GITEA_ACTIONS: &str = "GITEA_ACTIONS";
    pub const GITLAB_CI: &str = "GITLAB_CI";
    pub const CI_NODE_INDEX: &str = "CI_NODE_INDEX";
    pub const CI_NODE_TOTAL: &str = "CI_NODE_TOTAL";
    pub const CIRCLECI: &str = "CIRCLECI";
    pub const CIRCLE_NODE_INDEX: &str = "CIRCLE_NODE_INDEX";
    pub const CIRCLE_NODE_TOTAL: &str = "CIRCLE_NODE_TOTAL";
    pub const BUILDKITE: &str = "BUILDKITE";
    pub const BUILDKITE_PARALLEL_JOB: &str = "BUILDKITE_PARALLEL_JOB";
    pub const BUILDKITE_PARALLEL_JOB_COUNT: &str = "BUILDKITE_PARALLEL_JOB_COUNT";
    pub const TF_BUILD: &str = "TF_BUILD";
    pub const SYSTEM_JOBPOSITIONINPHASE: &str = "SYSTEM_JOBPOSITIONINPHASE";
    pub const SYSTEM_TOTALJOBSINPHASE: &str = "SYSTEM_TOTALJOBSINPHASE";
    pub const BITBUCKET_BUILD_NUMBER: &str = "BITBUCKET_BUILD_NUMBER";
    pub const BITBUCKET_PARALLEL_STEP: &str = "BITBUCKET_PARALLEL_STEP";
    pub const BITBUCKET_PARALLEL_STEP_COUNT: &str = "BITBUCKET_PARALLEL_STEP_COUNT";
    pub const SEMAPHORE: &str = "SEMAPHORE";
    pub const SEMAPHORE_JOB_INDEX: &str = "SEMAPHORE_JOB_INDEX";
    pub const SEMAPHORE_JOB_COUNT: &str = "SEMAPHORE_JOB_COUNT";

    // GitHub context used by the report and publish stages.
    pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
    pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
    pub const GITHUB_SHA: &str = "GITHUB_SHA";
    pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
    pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
    pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
    pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
    pub const GITHUB_REF: &str = "GITHUB_REF";
    pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
    /// The branch or tag of the run, recorded in the timings store `report` writes.
    pub const GITHUB_REF_NAME: &str = "GITHUB_REF_NAME";
    pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
    pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
    /// The checkout; check-run annotation paths are made relative to it.
    pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
    /// `owner/repo/.github/workflows/ci.yml@ref`: whose runs the timings chain looks at.
    pub const GITHUB_WORKFLOW_REF: &str = "GITHUB_WORKFLOW_REF";
    /// A pull request's target branch.
    pub const GITHUB_BASE_REF: &str = "GITHUB_BASE_REF";

    // GitLab context used by the report and publish stages.
    pub const CI_API_V4_URL: &str = "CI_API_V4_URL";
    pub const CI_PROJECT_ID: &str = "CI_PROJECT_ID";
    /// The repository checkout on a GitLab runner: Code Quality paths are relative to it.
    pub const CI_PROJECT_DIR: &str = "CI_PROJECT_DIR";
    pub const CI_MERGE_REQUEST_IID: &str = "CI_MERGE_REQUEST_IID";
    pub const CI_JOB_TOKEN: &str = "CI_JOB_TOKEN";
    pub const CI_PROJECT_URL: &str = "CI_PROJECT_URL";
    pub const CI_COMMIT_SHA: &str = "CI_COMMIT_SHA";
    /// The results file records which branch or tag and pipeline it came from.
    pub const CI_COMMIT_REF_NAME: &str = "CI_COMMIT_REF_NAME";
    pub const CI_PIPELINE_ID: &str = "CI_PIPELINE_ID";
    /// The report job's id, recorded in the timings store it writes.
    pub const CI_JOB_ID: &str = "CI_JOB_ID";
    pub const CI_DEFAULT_BRANCH: &str = "CI_DEFAULT_BRANCH";
    pub const CI_MERGE_REQUEST_TARGET_BRANCH_NAME: &str = "CI_MERGE_REQUEST_TARGET_BRANCH_NAME";

    /// pytest's own: prepended to pytest's args, so discovery must honour its `--ignore`s.
    pub const PYTEST_ADDOPTS: &str = "PYTEST_ADDOPTS";
    /// coverage.py's data file: `run` points it into the out dir for pytest.
    pub const COVERAGE_FILE: &str = "COVERAGE_FILE";
    /// coverage.py's subprocess measurement: set, it means the shard measures coverage.
    pub const COVERAGE_PROCESS_START: &str = "COVERAGE_PROCESS_START";
    /// pytest-xdist's, set by `run --launcher processes` in each plain process as xdist sets
    /// them in its workers (`gw0`, ...; the process count; one id per run).
    pub const PYTEST_XDIST_WORKER: &str = "PYTEST_XDIST_WORKER";
    pub const PYTEST_XDIST_WORKER_COUNT: &str = "PYTEST_XDIST_WORKER_COUNT";
    pub const PYTEST_XDIST_TESTRUNUID: &str = "PYTEST_XDIST_TESTRUNUID";

    /// Every variable above, for the test harness to clear.
    pub const ALL: &[&str] = &[
        PYTEST_ADDOPTS,
        COVERAGE_FILE,
        COVERAGE_PROCESS_START,
        PYTEST_XDIST_WORKER,
        PYTEST_XDIST_WORKER_COUNT,
        PYTEST_XDIST_TESTRUNUID,
        CI,
        GITHUB_ACTIONS,
        GITEA_ACTIONS,
        GITLAB_CI,
        CI_NODE_INDEX,
        CI_NODE_TOTAL,
        CIRCLECI,
        CIRCLE_NODE_INDEX,
        CIRCLE_NODE_TOTAL,
        BUILDKITE,
        BUILDKITE_PARALLEL_JOB,
        BUILDKITE_PARALLEL_JOB_COUNT,
        TF_BUILD,
        SYSTEM_JOBPOSITIONINPHASE,
        SYSTEM_TOTALJOBSINPHASE,
        BITBUCKET_BUILD_NUMBER,
        BITBUCKET_PARALLEL_STEP,
        BITBUCKET_PARALLEL_STEP_COUNT,
        SEMAPHORE,
        SEMAPHORE_JOB_INDEX,
        SEMAPHORE_JOB_COUNT,
        GITHUB_STEP_SUMMARY,
        GITHUB_REPOSITORY,
        GITHUB_SHA,
        GITHUB_SERVER_URL,
        GITHUB_API_URL,
        GITHUB_EVENT_NAME,
        GITHUB_EVENT_PATH,
        GITHUB_REF,
        GITHUB_RUN_ID,
        GITHUB_REF_NAME,
        GITHUB_TOKEN,
        GITHUB_OUTPUT,
        GITHUB_WORKSPACE,
        GITHUB_WORKFLOW_REF,
        GITHUB_BASE_REF,
        CI_API_V4_URL,
        CI_PROJECT_ID,
        CI_PROJECT_DIR,
        CI_MERGE_REQUEST_IID,
        CI_JOB_TOKEN,
        CI_PROJECT_URL,
        CI_COMMIT_SHA,
        CI_COMMIT_REF_NAME,
        CI_PIPELINE_ID,
        CI_JOB_ID,
        CI_DEFAULT_BRANCH,
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME,
    ];
}

/// Variables holding forge API tokens, which never reach pytest (its tests could read them, and
/// failure output could carry them into artifacts, the job summary or a PR comment):
/// `GITHUB_TOKEN`, our two token variables, and the variable `PARALLEL_PYTEST_TOKEN_VARIABLE`
/// names (the GitLab token `report --token-variable` reads). `lookup` reads the environment.
pub fn token_variables(lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut vars: Vec<String> = [ci::GITHUB_TOKEN, ours::GITHUB_TOKEN, ours::GITLAB_TOKEN]
        .map(str::to_owned)
        .to_vec();
    let named = lookup(ours::TOKEN_VARIABLE).map(|v| v.trim().to_owned());
    let is_name = |v: &String| {
        v.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    // The job token is GitLab's own and scoped to the job: not ours to hide.
    if let Some(named) = named.filter(is_name).filter(|v| v != ci::CI_JOB_TOKEN) {
        if !vars.contains(&named) {
            vars.push(named);
        }
    }
    vars
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn the_named_token_variable_is_hidden_too() {
        let vars = token_variables(|v| (v == ours::TOKEN_VARIABLE).then(|| " MY_TOKEN ".into()));
        assert_eq!(
            vars,
            [
                "GITHUB_TOKEN",
                "PARALLEL_PYTEST_GITHUB_TOKEN",
                "PARALLEL_PYTEST_GITLAB_TOKEN",
                "MY_TOKEN"
            ]
        );
        assert_eq!(token_variables(|_| Some("not a name".into())).len(), 3);
    }
}
