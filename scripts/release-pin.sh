#!/usr/bin/env bash
# release-pin.sh VERSION DIST ROOT: the pin a release writes, from the files it built.
#
#   DIST/SHA256SUMS                    sha256 of every file in DIST (the release's checksum file)
#   ROOT/release-checksums.txt         the table action/install.sh verifies downloads against:
#                                      its comment header, `default VERSION`, then one line per
#                                      archive and wheel
#   ROOT/templates/parallel-pytest.yml the component's `version` and `wheel_sha256` defaults, so
#                                      the GitLab jobs install only these wheels
#
# Run by .github/workflows/release.yml on the real release and by scripts/release-rehearsal.sh
# on scratch copies, so the rehearsal exercises this very code.
set -euo pipefail
version=${1:?usage: release-pin.sh VERSION DIST ROOT}
dist=${2:?usage: release-pin.sh VERSION DIST ROOT}
root=${3:?usage: release-pin.sh VERSION DIST ROOT}
version_re='^[0-9]+\.[0-9]+\.[0-9]+([.-]?[0-9A-Za-z]+)*$'
[[ $version =~ $version_re ]] || { echo "release-pin: \`$version\` is not a version" >&2; exit 1; }

sha256_list() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$@"; else shasum -a 256 -- "$@"; fi
}

(
  cd "$dist"
  rm -f SHA256SUMS
  files=()
  for f in *; do [[ -f $f ]] && files+=("$f"); done
  ((${#files[@]} > 0)) || { echo "release-pin: $dist is empty" >&2; exit 1; }
  sha256_list "${files[@]}" >SHA256SUMS.part
  mv SHA256SUMS.part SHA256SUMS
)

# Binary archives and wheels only: the sdist (`parallel_pytest-X.tar.gz`) is never installed by
# the action or the component.
table="$root/release-checksums.txt"
{
  sed -n '/^#/p' "$table"
  echo "default $version"
  awk -v v="$version" '$2 ~ /^parallel-pytest-.*\.(tar\.gz|zip)$/ || $2 ~ /\.whl$/ { print v, $2, $1 }' "$dist/SHA256SUMS"
} >"$table.part"
mv "$table.part" "$table"

wheels=$(awk '$2 ~ /\.whl$/ { printf "%s%s", sep, $1; sep = " " }' "$dist/SHA256SUMS")
[[ -n $wheels ]] || { echo "release-pin: no wheel in $dist" >&2; exit 1; }

# The first `default:` after each input's key, in the component's `spec:inputs` header.
component="$root/templates/parallel-pytest.yml"
awk -v version="$version" -v wheels="$wheels" '
  /^---/ { header_done = 1 }
  !header_done && /^    version:$/ { want = "version" }
  !header_done && /^    wheel_sha256:$/ { want = "wheels" }
  want != "" && /^      default:/ {
    print "      default: \"" (want == "version" ? version : wheels) "\""
    done[want] = 1
    want = ""
    next
  }
  { print }
  END { if (!done["version"] || !done["wheels"]) exit 1 }
' "$component" >"$component.part" || {
  rm -f "$component.part"
  echo "release-pin: no \`version\`/\`wheel_sha256\` default in $component" >&2
  exit 1
}
mv "$component.part" "$component"
echo "release-pin: pinned $version ($(wc -w <<<"$wheels" | tr -d ' ') wheels) in $table and $component"
