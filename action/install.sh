#!/usr/bin/env bash
# Installs parallel-pytest for the action and prints `bin=PATH` and `version=V` to $GITHUB_OUTPUT.
#
# Order: the `binary` input as is; else the tool cache; else the release asset for this
# runner.os/runner.arch, verified against the sha256 in `release-checksums.txt` beside action.yml
# (a mismatch fails loudly, with no fallback); else `pip install` of the same version, with every
# wheel hash from that table required (`--require-hashes`).
set -euo pipefail
# shellcheck source=action/lib.sh
source "$GITHUB_ACTION_PATH/action/lib.sh"

table="$GITHUB_ACTION_PATH/release-checksums.txt"

if [[ -n ${PP_BINARY:-} ]]; then
  bin=$PP_BINARY
  [[ $bin == /* ]] || bin="$PWD/$bin"
  [[ -f $bin && -x $bin ]] || pp_error "the \`binary\` input \`$PP_BINARY\` is not an executable file"
  version=$("$bin" --version | awk '{print $2}')
  echo "parallel-pytest: using $bin ($version)"
  pp_output bin "$bin"
  pp_output version "$version"
  exit 0
fi

[[ -f $table ]] || pp_error "\`release-checksums.txt\` is missing beside action.yml"

version=${PP_VERSION:-}
if [[ -z $version ]]; then
  version=$(awk '$1 == "default" { print $2; exit }' "$table")
  [[ -n $version ]] || pp_error "no \`default\` version in release-checksums.txt: no release is pinned yet; set the \`binary\` or \`version\` input"
fi
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.-]+)?$ ]] || pp_error "the \`version\` input \`$version\` is not a version like 1.2.3"

case "${PP_RUNNER_OS:-}/${PP_RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ext=tar.gz exe=parallel-pytest ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ext=tar.gz exe=parallel-pytest ;;
  macOS/X64) target=x86_64-apple-darwin ext=tar.gz exe=parallel-pytest ;;
  macOS/ARM64) target=aarch64-apple-darwin ext=tar.gz exe=parallel-pytest ;;
  Windows/X64) target=x86_64-pc-windows-msvc ext=zip exe=parallel-pytest.exe ;;
  *) target="" ext="" exe=parallel-pytest ;;
esac

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  else
    shasum -a 256 "$1" | awk '{print $1}'
  fi
}

# 1. The tool cache (a previous job on this runner verified it).
cache_dir="${RUNNER_TOOL_CACHE:-$RUNNER_TEMP}/parallel-pytest/$version/${PP_RUNNER_ARCH:-unknown}"
if [[ -f "$cache_dir.complete" && -x "$cache_dir/$exe" ]]; then
  echo "parallel-pytest: $version from the tool cache"
  pp_output bin "$cache_dir/$exe"
  pp_output version "$version"
  exit 0
fi

# 2. The release asset, checked against the committed table.
if [[ -n $target ]]; then
  asset="parallel-pytest-$target.$ext"
  want=$(awk -v v="$version" -v a="$asset" '$1 == v && $2 == a { print $3; exit }' "$table")
  if [[ -z $want ]]; then
    pp_warning "no sha256 for $asset of version $version in release-checksums.txt; trying pip"
  elif [[ -z ${PP_ACTION_REPOSITORY:-} ]]; then
    pp_warning "the action's repository is unknown (a local \`uses: ./\`?); trying pip"
  else
    url="${PP_SERVER_URL:-https://github.com}/$PP_ACTION_REPOSITORY/releases/download/v$version/$asset"
    tmp=$(mktemp -d "${RUNNER_TEMP:-/tmp}/parallel-pytest.XXXXXX")
    echo "parallel-pytest: downloading $url"
    if curl --fail --silent --show-error --location --retry 3 --output "$tmp/$asset" "$url"; then
      got=$(sha256_of "$tmp/$asset")
      if [[ $got != "$want" ]]; then
        pp_error "checksum mismatch for $asset ($version): expected $want, got $got. Refusing to install it."
      fi
      mkdir -p "$cache_dir"
      if [[ $ext == zip ]]; then
        unzip -o -q "$tmp/$asset" -d "$cache_dir"
      else
        tar -xzf "$tmp/$asset" -C "$cache_dir"
      fi
      chmod +x "$cache_dir/$exe"
      touch "$cache_dir.complete"
      rm -rf "$tmp"
      pp_output bin "$cache_dir/$exe"
      pp_output version "$version"
      exit 0
    fi
    pp_warning "downloading $asset failed; trying pip"
  fi
fi

# 3. pip, with the wheel hashes of this version from the same table.
hashes=$(awk -v v="$version" '$1 == v && $2 ~ /\.whl$/ { printf " --hash=sha256:%s", $3 }' "$table")
[[ -n $hashes ]] || pp_error "cannot install parallel-pytest $version: no release asset for ${PP_RUNNER_OS:-?}/${PP_RUNNER_ARCH:-?} and no wheel hashes in release-checksums.txt; set the \`binary\` input"
python=${PP_PYTHON:-}
if [[ -z $python ]]; then
  python=$(command -v python3 || command -v python || true)
fi
[[ -n $python ]] || pp_error "no Python found for the pip fallback; set the \`python\` input"
target_dir="${RUNNER_TEMP:-/tmp}/parallel-pytest-pip-$version"
req="$target_dir.requirements.txt"
printf 'parallel-pytest==%s%s\n' "$version" "$hashes" >"$req"
"$python" -m pip install --disable-pip-version-check --quiet --no-deps --require-hashes \
  --only-binary=:all: --target "$target_dir" -r "$req" ||
  pp_error "pip could not install parallel-pytest $version with the pinned hashes"
for candidate in "$target_dir/bin/$exe" "$target_dir/Scripts/$exe"; do
  if [[ -x $candidate ]]; then
    pp_output bin "$candidate"
    pp_output version "$version"
    exit 0
  fi
done
pp_error "pip installed parallel-pytest $version but its executable was not found under $target_dir"
