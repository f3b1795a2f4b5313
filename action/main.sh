#!/usr/bin/env bash
# Runs the chosen command. Inputs arrive as environment variables only (see action.yml).
set -uo pipefail
# shellcheck source=action/lib.sh
source "$GITHUB_ACTION_PATH/action/lib.sh"

bin=${PP_BIN:?the install step did not provide the binary}
store=.parallel-pytest/timings.json
mkdir -p .parallel-pytest

# pytest-args: split shell-style by xargs (quotes and backslashes), never evaluated.
pytest_args=()
if [[ -n ${PP_PYTEST_ARGS:-} ]]; then
  while IFS= read -r -d '' arg; do
    pytest_args+=("$arg")
  done < <(printf '%s' "$PP_PYTEST_ARGS" | xargs printf '%s\0') ||
    pp_error "the \`pytest-args\` input has unbalanced quotes"
fi
timings=()
[[ -f $store ]] && timings=(--timings "$store")

case ${PP_COMMAND:-run} in
  run)
    "$bin" run ${timings[@]+"${timings[@]}"} -- ${pytest_args[@]+"${pytest_args[@]}"}
    code=$?
    pp_output exit-code "$code"
    exit "$code"
    ;;
  report)
    "$bin" report ${timings[@]+"${timings[@]}"} --timings-out "$store" .parallel-pytest/shards
    code=$?
    pp_output exit-code "$code"
    [[ -f $store ]] && pp_output timings "$store"
    [[ -n ${GITHUB_STEP_SUMMARY:-} ]] && pp_output summary-path "$GITHUB_STEP_SUMMARY"
    exit "$code"
    ;;
  plan)
    if [[ -n ${PP_TARGET_SECONDS:-} ]]; then
      matrix=$("$bin" plan ${timings[@]+"${timings[@]}"} --format matrix --target-seconds "$PP_TARGET_SECONDS") || exit $?
      pp_output matrix "$matrix"
      printf '%s\n' "$matrix"
    else
      "$bin" plan ${timings[@]+"${timings[@]}"} || exit $?
    fi
    pp_output exit-code 0
    ;;
  *)
    pp_error "the \`command\` input is \`$PP_COMMAND\`: expected run, report or plan"
    ;;
esac
