#!/usr/bin/env bash
# Runs the chosen command. Inputs arrive as environment variables only (see action.yml).
set -uo pipefail
# shellcheck source=action/lib.sh
source "$GITHUB_ACTION_PATH/action/lib.sh"

bin=${PP_BIN:?the install step did not provide the binary}
# An input left empty means "not set": the binary rejects an empty value for some flags
# (e.g. `PARALLEL_PYTEST_PYTHON=` is not an interpreter).
for var in $(compgen -v PARALLEL_PYTEST_ || true); do
  [[ -z ${!var} ]] && unset "$var"
done
store=.parallel-pytest/timings.json
mkdir -p .parallel-pytest

# pytest-args: split shell-style (quotes and backslashes), never evaluated. A quote left open
# fails the step: dropping the rest of the arguments would run a different test selection.
pytest_args=()
if ! pp_split_words "${PP_PYTEST_ARGS:-}"; then
  pp_error "the \`pytest-args\` input cannot be split into arguments: $pp_split_error. Quote as in a shell, e.g. -m 'not slow' -k \"a or b\""
fi
pytest_args=(${pp_words[@]+"${pp_words[@]}"})
timings=()
[[ -f $store ]] && timings=(--timings "$store")

# The token is for `report` only (action.yml passes it to no other command); whatever a job sets
# on top must not reach pytest, where any test could read it and failure output could carry it.
if [[ ${PP_COMMAND:-run} != report ]]; then
  unset PARALLEL_PYTEST_GITHUB_TOKEN PARALLEL_PYTEST_GITLAB_TOKEN GITHUB_TOKEN
fi

# shard_collisions DIR: each artifact lands in its own folder under DIR; the same shard's file in
# two of them means two jobs claimed one shard (or another matrix's artifacts were fetched), and
# which one the report would read is an accident. Prints one line per file name found twice.
shard_collisions() {
  [[ -d $1 ]] || return 0
  find "$1" -type f \( -name 'junit-*-of-*.xml' -o -name 'shard-*-of-*.json' \) |
    awk -F/ '{ seen[$NF] = seen[$NF] (seen[$NF] == "" ? "" : ", ") $0; n[$NF]++ }
      END { for (f in n) if (n[f] > 1) print f ": " seen[f] }' | sort
}

case ${PP_COMMAND:-run} in
  run)
    "$bin" run ${timings[@]+"${timings[@]}"} -- ${pytest_args[@]+"${pytest_args[@]}"}
    code=$?
    pp_output exit-code "$code"
    # This shard on its own, so the job is useful before the report job runs: a short section
    # in the job summary and annotations for its own failures. Nothing is published (the report
    # job does that once) and the step's result stays pytest's exit code.
    shard=${PARALLEL_PYTEST_SHARD:-}
    if [[ -n ${GITHUB_STEP_SUMMARY:-} && $shard == */* ]]; then
      i=${shard%/*} n=${shard#*/}
      out=${PARALLEL_PYTEST_OUT_DIR:-.parallel-pytest}
      # The manifest brings its JUnit, or its results log when pytest died before writing one.
      if [[ -f $out/shard-$i-of-$n.json ]]; then
        echo "parallel-pytest: this shard's own report (the report job covers every shard):"
        # Its stdout keeps untrusted text inside `::stop-commands::`, so it goes to the log as is.
        PARALLEL_PYTEST_CHECK_RUN=false PARALLEL_PYTEST_COMMENT=false PARALLEL_PYTEST_MR_NOTE=false \
          "$bin" report --expect-shard "$i/$n" \
          --timings-out "${RUNNER_TEMP:-/tmp}/parallel-pytest-shard-$i-timings.json" \
          "$out/shard-$i-of-$n.json" || true
      fi
    fi
    exit "$code"
    ;;
  report)
    json="${RUNNER_TEMP:-/tmp}/parallel-pytest-report.json"
    rm -f "$json"
    collisions=$(shard_collisions .parallel-pytest/shards)
    if [[ -n $collisions ]]; then
      printf '::error title=parallel-pytest::%s\n' "$(pp_escape "shard artifacts collide (the report cannot tell which is right): $collisions")"
    fi
    "$bin" report ${timings[@]+"${timings[@]}"} --timings-out "$store" --json-out "$json" .parallel-pytest/shards
    code=$?
    if [[ -n $collisions && $code == 0 ]]; then
      code=1
    fi
    pp_output exit-code "$code"
    # Counts for the step outputs, from the report's JSON document (contract, issue 5).
    if [[ -f $json ]]; then
      python=$(command -v python3 || command -v python || true)
      if [[ -n $python ]]; then
        while IFS='=' read -r key value; do
          pp_output "$key" "$value"
        done < <("$python" - "$json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
totals = doc.get("totals", {})
for key in ("tests", "passed", "failed", "errors", "skipped"):
    print(f"{key}={int(totals.get(key, 0))}")
print(f"complete={'true' if doc.get('complete') else 'false'}")
coverage = doc.get("coverage")
if isinstance(coverage, dict) and isinstance(coverage.get("percent"), (int, float)):
    print(f"coverage={coverage['percent']:.2f}")
PY
        )
      elif command -v jq >/dev/null 2>&1; then
        for key in tests passed failed errors skipped; do
          pp_output "$key" "$(jq -r ".totals.$key // 0" "$json")"
        done
        pp_output complete "$(jq -r '.complete' "$json")"
      else
        pp_warning "neither Python nor jq found: the action's count outputs are not set"
      fi
    fi
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
