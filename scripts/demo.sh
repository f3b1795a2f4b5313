#!/usr/bin/env bash
# The README's first command: run the bundled demo suite (demo/) end to end, locally, the way
# a CI matrix of 3 shards would: show the plan, run every shard, say where the artifacts are.
#
# Needs: cargo and python3 (>= 3.8). Installs nothing outside this checkout: the binary is
# built into target/, pytest + pytest-xdist go into .cache/venvs/ (reusing the test venv when
# scripts/bootstrap.sh already made it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shards=3
out="$root/.cache/demo"

echo "==> building parallel-pytest" >&2
cargo build --quiet --bin parallel-pytest
bin="$root/target/debug/parallel-pytest"

venv="$root/.cache/venvs/pytest-latest"
if [[ ! -x "$venv/bin/python" ]]; then
  venv="$root/.cache/venvs/demo"
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "==> creating $venv (pytest + pytest-xdist, pinned in requirements/pytest-latest.txt)" >&2
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements/pytest-latest.txt
  fi
fi
export PARALLEL_PYTEST_PYTHON="$venv/bin/python"
# The demo shows a 3-shard matrix on one machine; ignore the CI this may run inside.
unset CI_NODE_INDEX CI_NODE_TOTAL PARALLEL_PYTEST_SHARD PARALLEL_PYTEST_JOB_INDEX PARALLEL_PYTEST_JOB_TOTAL

rm -rf "$out"
common=(--root demo --timings demo/.test_durations)

echo
echo "==> parallel-pytest plan --shards $shards ${common[*]}"
"$bin" plan --shards "$shards" "${common[@]}"

status=0
for i in $(seq 1 "$shards"); do
  echo
  echo "==> parallel-pytest run --shard $i/$shards ${common[*]} --out-dir $out"
  "$bin" run --shard "$i/$shards" "${common[@]}" --out-dir "$out" || status=$?
done

echo
echo "==> artifacts (what each CI shard job uploads), in $out:"
ls -1 "$out"/junit-*.xml "$out"/shard-*.json

echo
echo "==> parallel-pytest report $out  (the report job: merge every shard, check each test ran once)"
"$bin" report "$out" --timings-out "$out/timings.json" --junit-out "$out/junit-merged.xml" || status=$?
echo
echo "merged JUnit: $out/junit-merged.xml · next run's timings: $out/timings.json"
exit "$status"
