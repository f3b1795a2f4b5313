#!/usr/bin/env bash
# The test command (README): install the pinned test tools, then run the whole test suite,
# both tiers (the `e2e` feature adds act, gitlab-ci-local, the wheel and the linters).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The harness (tests/it/harness.rs) finds the venvs and tools through these variables.
export PARALLEL_PYTEST_TEST_PYTHON="$PWD/.cache/venvs/pytest-latest/bin/python"
export PARALLEL_PYTEST_TEST_PYTHON7="$PWD/.cache/venvs/pytest-7/bin/python"
export PARALLEL_PYTEST_TEST_TOOLS="$PWD/.cache/venvs/tools/bin"
export PARALLEL_PYTEST_TEST_NODE_BIN="$PWD/tools/npm/node_modules/.bin"
# Temporary folders (fixture copies, venvs, archives of the binary) under the ignored target
# folder: a CI machine's /tmp may be a small tmpfs, or mounted noexec.
export TMPDIR="$PWD/target/tmp"
mkdir -p "$TMPDIR"
exec cargo test --locked --features e2e "$@"
