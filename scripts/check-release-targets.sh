#!/usr/bin/env bash
# The release targets this machine does not run, checked here so a tag cannot fail on them:
#   - Windows (x86_64-pc-windows-gnu): clippy over the crate, its tests and benches;
#   - the static Linux binary (x86_64-unknown-linux-musl): the release build itself, which
#     must be statically linked and at most 8 MB.
# `scripts/bootstrap.sh` installs the targets and C compilers. Only when this machine truly
# cannot have a toolchain is its check skipped, with a loud line naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_BYTES=$((8 * 1024 * 1024))

say() { echo "check-release-targets: $*" >&2; }
skipped() { say "SKIPPED $1: $2 (run scripts/bootstrap.sh; see README, Releasing)"; }
has_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }
has() { command -v "$1" >/dev/null 2>&1; }

windows=x86_64-pc-windows-gnu
if ! has_target "$windows"; then
  skipped "$windows" "the Rust target is not installed"
elif ! has x86_64-w64-mingw32-gcc; then
  skipped "$windows" "x86_64-w64-mingw32-gcc (Debian: gcc-mingw-w64-x86-64) is missing"
else
  say "clippy for $windows"
  cargo clippy --locked --target "$windows" --all-targets -- -D warnings
fi

musl=x86_64-unknown-linux-musl
if ! has_target "$musl"; then
  skipped "$musl" "the Rust target is not installed"
elif ! has musl-gcc; then
  skipped "$musl" "musl-gcc (Debian: musl-tools) is missing"
else
  say "release build for $musl"
  cargo build --locked --release --target "$musl"
  bin="target/$musl/release/parallel-pytest"
  kind=$(file -b "$bin")
  case "$kind" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *)
      say "FAILED: $bin is not statically linked: $kind"
      exit 1
      ;;
  esac
  bytes=$(wc -c <"$bin")
  if ((bytes > MAX_BYTES)); then
    say "FAILED: $bin is $bytes bytes, over the $MAX_BYTES-byte limit"
    exit 1
  fi
  "$bin" --version >/dev/null
  say "$bin: $bytes bytes, $kind"
fi
