#!/usr/bin/env bash
# Resolves this job's shard I/N: the `shard` input, else a one-dimensional matrix's
# strategy.job-index (0-based) and job-total. Outputs `shard` and the unique artifact name.
set -euo pipefail
# shellcheck source=action/lib.sh
source "$GITHUB_ACTION_PATH/action/lib.sh"

shard=${PP_SHARD:-}
shard=${shard//[[:space:]]/}
if [[ -z $shard ]]; then
  index=${PP_JOB_INDEX:-}
  total=${PP_JOB_TOTAL:-}
  if [[ $index =~ ^[0-9]+$ && $total =~ ^[0-9]+$ ]]; then
    shard="$((index + 1))/$total"
  else
    pp_error "no shard: set the \`shard\` input (e.g. \`\${{ matrix.shard }}/4\`), or run in a one-dimensional matrix so \`strategy.job-index\` and \`strategy.job-total\` are set"
  fi
fi
if [[ ! $shard =~ ^([0-9]+)/([0-9]+)$ ]] || ((BASH_REMATCH[1] < 1 || BASH_REMATCH[1] > BASH_REMATCH[2])); then
  pp_error "the \`shard\` input is \`$shard\`: expected I/N with 1 <= I <= N, e.g. 2/4"
fi
i=$((10#${BASH_REMATCH[1]}))
n=$((10#${BASH_REMATCH[2]}))
pp_output shard "$i/$n"
pp_output artifact "${PP_ARTIFACT:-parallel-pytest}-$i-of-$n"
echo "parallel-pytest: shard $i/$n"
