#!/usr/bin/env bash
# Resolves this job's shard I/N: the `shard` input, else a one-dimensional matrix's
# strategy.job-index (0-based) and job-total. Outputs `shard` and the unique artifact name
# (run), or the pattern that matches exactly this prefix's shard artifacts (report).
set -euo pipefail
# shellcheck source=action/lib.sh
source "$GITHUB_ACTION_PATH/action/lib.sh"

# The prefix becomes part of a download pattern: glob characters in it would match other jobs'
# artifacts, so only a plain name is accepted.
prefix=${PP_ARTIFACT:-parallel-pytest}
name_re='^[A-Za-z0-9][A-Za-z0-9._-]*$'
[[ $prefix =~ $name_re ]] ||
  pp_error "the \`artifact-name\` input is \`$prefix\`: use letters, digits, \`.\`, \`_\` and \`-\` only"

if [[ ${PP_COMMAND:-run} == report ]]; then
  # An extglob (actions/download-artifact matches with minimatch): digits only where the
  # shard goes, so `<prefix>-py3.11-1-of-3` of another matrix does not match.
  pp_output pattern "$prefix-+([0-9])-of-+([0-9])"
  exit 0
fi

shard=${PP_SHARD:-}
shard=${shard//[[:space:]]/}
if [[ -z $shard ]]; then
  index=${PP_JOB_INDEX:-}
  total=${PP_JOB_TOTAL:-}
  digits='^[0-9]+$'
  if [[ $index =~ $digits && $total =~ $digits ]]; then
    shard="$((index + 1))/$total"
  else
    pp_error "no shard: set the \`shard\` input (e.g. \`\${{ matrix.shard }}/4\`), or run in a one-dimensional matrix so \`strategy.job-index\` and \`strategy.job-total\` are set"
  fi
fi
shard_re='^([0-9]+)/([0-9]+)$'
if [[ ! $shard =~ $shard_re ]] || ((10#${BASH_REMATCH[1]} < 1 || 10#${BASH_REMATCH[1]} > 10#${BASH_REMATCH[2]})); then
  pp_error "the \`shard\` input is \`$shard\`: expected I/N with 1 <= I <= N, e.g. 2/4"
fi
i=$((10#${BASH_REMATCH[1]}))
n=$((10#${BASH_REMATCH[2]}))
pp_output shard "$i/$n"
pp_output artifact "$prefix-$i-of-$n"
echo "parallel-pytest: shard $i/$n"
