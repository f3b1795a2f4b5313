#!/usr/bin/env bash
# Installs parallel-pytest for the action and prints `bin=PATH` and `version=V` to $GITHUB_OUTPUT.
#
# Order: the `binary` input as is; else the release archive for this runner.os/runner.arch,
# verified against the sha256 in `release-checksums.txt` beside action.yml (a mismatch fails
# loudly, with no fallback) — from the runner's tool cache when a copy is there, downloaded
# otherwise; else `pip install` of the same version, with every wheel hash from that table
# required (`--require-hashes`).
#
# The tool cache is shared by every job on a self-hosted runner, so nothing in it is trusted:
# it only holds archives, each one is hashed again on every use, and the binary that runs is
# extracted from that verified copy into this job's own temporary folder.
set -euo pipefail
# shellcheck source=action/lib.sh
source "$GITHUB_ACTION_PATH/action/lib.sh"

table="$GITHUB_ACTION_PATH/release-checksums.txt"

if [[ -n ${PP_BINARY:-} ]]; then
  bin=$(pp_unix_path "$PP_BINARY")
  case $bin in
    /*) ;;
    *) bin="$PWD/$bin" ;;
  esac
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
version_re='^[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.-]+)?$'
[[ $version =~ $version_re ]] || pp_error "the \`version\` input \`$version\` is not a version like 1.2.3"

# The five release targets (.github/workflows/release.yml); anything else tries the wheels.
case "${PP_RUNNER_OS:-}/${PP_RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ext=tar.gz exe=parallel-pytest ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ext=tar.gz exe=parallel-pytest ;;
  macOS/X64) target=x86_64-apple-darwin ext=tar.gz exe=parallel-pytest ;;
  macOS/ARM64) target=aarch64-apple-darwin ext=tar.gz exe=parallel-pytest ;;
  Windows/X64) target=x86_64-pc-windows-msvc ext=zip exe=parallel-pytest.exe ;;
  Windows/*) target="" ext="" exe=parallel-pytest.exe ;;
  *) target="" ext="" exe=parallel-pytest ;;
esac

# GNU coreutils on Linux and Git Bash, `shasum` on macOS, openssl as a last resort.
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{print $1}'
  else
    openssl dgst -sha256 "$1" | awk '{print $NF}'
  fi
}

# extract ARCHIVE DIR: a .zip (Windows) with unzip, else bsdtar; a .tar.gz with tar.
extract() {
  case $1 in
    *.zip)
      if command -v unzip >/dev/null 2>&1; then
        unzip -o -q "$1" -d "$2"
      else
        tar -xf "$1" -C "$2"
      fi
      ;;
    *) tar -xzf "$1" -C "$2" ;;
  esac
}

tmp_root=$(pp_unix_path "${RUNNER_TEMP:-${TMPDIR:-/tmp}}")
cache_root=$(pp_unix_path "${RUNNER_TOOL_CACHE:-$tmp_root}")
# This job's own folder (RUNNER_TEMP is emptied after every job); `mkdir` fails if it exists.
work="$tmp_root/parallel-pytest-$version-$$-$RANDOM"
mkdir -p "$tmp_root"
mkdir "$work" || pp_error "cannot create the folder \`$work\`"

# install_verified FILE: FILE (a private copy) matches the table; extract it and report it.
install_verified() {
  mkdir "$work/bin"
  extract "$1" "$work/bin" || pp_error "cannot extract $asset ($version)"
  [[ -f "$work/bin/$exe" ]] || pp_error "$asset ($version) holds no \`$exe\`"
  chmod +x "$work/bin/$exe"
  pp_output bin "$work/bin/$exe"
  pp_output version "$version"
  exit 0
}

if [[ -n $target ]]; then
  asset="parallel-pytest-$target.$ext"
  want=$(awk -v v="$version" -v a="$asset" '$1 == v && $2 == a { print $3; exit }' "$table")
  cached="$cache_root/parallel-pytest/$version/${PP_RUNNER_ARCH:-unknown}/$asset"
  if [[ -z $want ]]; then
    pp_warning "no sha256 for $asset of version $version in release-checksums.txt; trying pip"
  else
    # 1. The tool cache: hashed again on every use, since any job on this runner could write it.
    if [[ -f $cached ]]; then
      cp "$cached" "$work/$asset"
      got=$(sha256_of "$work/$asset")
      if [[ $got == "$want" ]]; then
        echo "parallel-pytest: $version from the tool cache (sha256 verified)"
        install_verified "$work/$asset"
      fi
      pp_warning "the tool cache's $asset ($version) does not match its sha256 in release-checksums.txt (expected $want, got $got): not using it, downloading the release again"
      rm -f "$cached" "$work/$asset"
    fi
    # 2. The release asset, checked against the committed table.
    if [[ -z ${PP_ACTION_REPOSITORY:-} ]]; then
      pp_warning "the action's repository is unknown (a local \`uses: ./\`?); trying pip"
    else
      url="${PP_SERVER_URL:-https://github.com}/$PP_ACTION_REPOSITORY/releases/download/v$version/$asset"
      echo "parallel-pytest: downloading $url"
      if curl --fail --silent --show-error --location --retry 3 --output "$work/$asset" "$url"; then
        got=$(sha256_of "$work/$asset")
        if [[ $got != "$want" ]]; then
          pp_error "checksum mismatch for $asset ($version): expected $want, got $got. Refusing to install it."
        fi
        # Kept for the next job; it is verified again there before use.
        if mkdir -p "${cached%/*}" 2>/dev/null && cp "$work/$asset" "$cached.$$.part" 2>/dev/null; then
          mv -f "$cached.$$.part" "$cached" || rm -f "$cached.$$.part"
        fi
        install_verified "$work/$asset"
      fi
      pp_warning "downloading $asset failed; trying pip"
    fi
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
req="$work/requirements.txt"
printf 'parallel-pytest==%s%s\n' "$version" "$hashes" >"$req"
"$python" -m pip install --disable-pip-version-check --quiet --no-deps --require-hashes \
  --only-binary=:all: --target "$work/pip" -r "$req" ||
  pp_error "pip could not install parallel-pytest $version with the pinned hashes"
for candidate in "$work/pip/bin/$exe" "$work/pip/Scripts/$exe"; do
  if [[ -x $candidate ]]; then
    pp_output bin "$candidate"
    pp_output version "$version"
    exit 0
  fi
done
pp_error "pip installed parallel-pytest $version but its executable was not found under $work/pip"
