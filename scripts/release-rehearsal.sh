#!/usr/bin/env bash
# release-rehearsal.sh: what .github/workflows/release.yml does for Linux x86_64, done here,
# then installed the two ways users install it. One command; exits non-zero on any mismatch.
#
#   1. the static musl release binary (`cargo build --release`), checked: statically linked,
#      at most 8 MB
#   2. the maturin wheel for the same target (pypi/)
#   3. the archive, SHA256SUMS, and the pin (scripts/release-pin.sh) in scratch copies of
#      release-checksums.txt and the GitLab component
#   4. action/install.sh from the scratch copy, downloading from a local `python3 -m
#      http.server` on 127.0.0.1 laid out as GitHub serves release assets; a tampered archive
#      must be refused
#   5. `pip install --require-hashes` of the wheel with the pinned digests into a fresh venv;
#      a digest that does not match must be refused
#   6. the GitLab component's install step from the pinned scratch copy (its pinned `version`
#      and `wheel_sha256` defaults), pip reading the dist folder
#   7. `--version` of every install is `parallel-pytest <version>`
#
# Needs the musl target and musl-gcc (`rustup target add x86_64-unknown-linux-musl`,
# `apt-get install musl-tools`), python3 and maturin (the tools venv of scripts/bootstrap.sh).
# Builds in target/rehearsal (CARGO_TARGET_DIR overrides), scratch files in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=x86_64-unknown-linux-musl
max_bytes=$((8 * 1024 * 1024))
say() { printf 'rehearsal: %s\n' "$*"; }
fail() {
  printf 'rehearsal: FAILED: %s\n' "$*" >&2
  exit 1
}

rustup target list --installed | grep -qx "$target" ||
  fail "the $target target is missing: rustup target add $target"
command -v musl-gcc >/dev/null 2>&1 || fail "musl-gcc is missing (the C parts of ring): apt-get install musl-tools"
maturin=${MATURIN:-$root/.cache/venvs/tools/bin/maturin}
[[ -x $maturin ]] || maturin=$(command -v maturin) || fail "maturin is missing: run scripts/bootstrap.sh"
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
[[ -n $version ]] || fail "no version in Cargo.toml"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/rehearsal}
scratch=$(python3 -c 'import tempfile; print(tempfile.mkdtemp(prefix="pp-rehearsal-"))')
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
dist="$scratch/dist"
mkdir -p "$dist"
start=$SECONDS

# 1. The binary, as the workflow builds it.
say "cargo build --release --target $target (version $version)"
cargo build --locked --release --target "$target"
built="$CARGO_TARGET_DIR/$target/release/parallel-pytest"
kind=$(file -b "$built")
case $kind in
  *"statically linked"* | *"static-pie linked"*) say "static: $kind" ;;
  *) fail "$built is not statically linked: $kind" ;;
esac
size=$(wc -c <"$built" | tr -d ' ')
((size <= max_bytes)) || fail "$built is $size bytes, over the $max_bytes-byte budget"
say "size: $size bytes (budget $max_bytes)"
asset="parallel-pytest-$target.tar.gz"
tar -czf "$dist/$asset" -C "$CARGO_TARGET_DIR/$target/release" parallel-pytest

# 2. The wheel, as the workflow builds it (config in pypi/).
say "maturin build --release --target $target"
(cd pypi && "$maturin" build --release --locked --target "$target" --out "$dist" >/dev/null)
wheel=$(cd "$dist" && ls ./*.whl)
wheel=${wheel#./}
say "wheel: $wheel"

# 3. SHA256SUMS and the pin, in scratch copies of what the pin commit changes.
copy="$scratch/action-copy"
mkdir -p "$copy/templates"
cp -R action action.yml release-checksums.txt "$copy/"
cp templates/parallel-pytest.yml "$copy/templates/"
bash scripts/release-pin.sh "$version" "$dist" "$copy"
grep -q "^default $version\$" "$copy/release-checksums.txt" || fail "no default line in the pinned table"
want=$(awk -v a="$asset" '$2 == a { print $3 }' "$copy/release-checksums.txt")
wheel_sha=$(awk -v w="$wheel" '$2 == w { print $3 }' "$copy/release-checksums.txt")
[[ -n $want && -n $wheel_sha ]] || fail "the pinned table lacks $asset or $wheel"
grep -q "default: \"$wheel_sha\"" "$copy/templates/parallel-pytest.yml" ||
  fail "the component's wheel_sha256 default is not the wheel's digest"
(cd "$dist" && if command -v sha256sum >/dev/null; then sha256sum -c --quiet SHA256SUMS; else shasum -a 256 -c SHA256SUMS; fi) ||
  fail "SHA256SUMS does not verify"

# 4. action/install.sh, downloading from a local server.
serve="$scratch/server"
release_dir="$serve/octo/parallel-pytest/releases/download/v$version"
mkdir -p "$release_dir"
cp "$dist/$asset" "$release_dir/"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
python3 -m http.server --bind 127.0.0.1 --directory "$serve" "$port" >"$scratch/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  curl --silent --fail --output /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
install_action() {
  local run_dir=$1
  mkdir -p "$run_dir/temp" "$run_dir/cache"
  : >"$run_dir/output"
  GITHUB_ACTION_PATH="$copy" GITHUB_OUTPUT="$run_dir/output" RUNNER_TEMP="$run_dir/temp" \
    RUNNER_TOOL_CACHE="$run_dir/cache" PP_RUNNER_OS=Linux PP_RUNNER_ARCH=X64 \
    PP_ACTION_REPOSITORY=octo/parallel-pytest PP_SERVER_URL="http://127.0.0.1:$port" \
    PP_PYTHON=/nonexistent/python bash "$copy/action/install.sh"
}
say "action/install.sh from http://127.0.0.1:$port"
install_action "$scratch/job1" >"$scratch/job1.log" 2>&1 || { cat "$scratch/job1.log"; fail "action/install.sh failed"; }
action_bin=$(awk '/^bin<</ { getline; print; exit }' "$scratch/job1/output")
[[ -x $action_bin ]] || fail "action/install.sh gave no binary: $(cat "$scratch/job1.log")"
got=$("$action_bin" --version)
[[ $got == "parallel-pytest $version" ]] || fail "the action's binary says \`$got\`"
say "action: $got"
# The same release with one byte changed: refused.
printf 'x' | dd of="$release_dir/$asset" bs=1 seek=100 conv=notrunc 2>/dev/null
if install_action "$scratch/job2" >"$scratch/job2.log" 2>&1; then
  fail "action/install.sh installed a tampered archive"
fi
grep -q "checksum mismatch for $asset" "$scratch/job2.log" || fail "no checksum mismatch reported: $(cat "$scratch/job2.log")"
say "action: a tampered archive is refused"

# 5. pip with the pinned digests, from the files only, into a fresh venv. (maturin tags the
# static musl binary's wheel manylinux, so it installs on this glibc host as it is.)
venv="$scratch/venv"
python3 -m venv "$venv"
printf 'parallel-pytest==%s --hash=sha256:%s\n' "$version" "$wheel_sha" >"$scratch/req.txt"
pip_install() {
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-index \
    --find-links "$dist" --no-deps --require-hashes --only-binary=:all: -r "$1"
}
pip_install "$scratch/req.txt" || fail "pip refused the pinned wheel"
got=$("$venv/bin/parallel-pytest" --version)
[[ $got == "parallel-pytest $version" ]] || fail "the wheel's binary says \`$got\`"
say "pip: $got"
"$venv/bin/python" -m pip uninstall --quiet --yes parallel-pytest
printf 'parallel-pytest==%s --hash=sha256:%s\n' "$version" "$want" >"$scratch/wrong.txt"
if pip_install "$scratch/wrong.txt" 2>/dev/null; then
  fail "pip installed a wheel whose digest is not pinned"
fi
say "pip: a digest that does not match is refused"

# 6. The GitLab component's install step, from the pinned scratch copy with its defaults (the
# pinned `version` and `wheel_sha256`), pip reading the dist folder instead of an index.
tools_python=${TOOLS_PYTHON:-$root/.cache/venvs/tools/bin/python}
"$tools_python" - "$copy/templates/parallel-pytest.yml" >"$scratch/component-install.sh" <<'PY' ||
import re, sys
from ruamel.yaml import YAML
header, body = YAML(typ="safe").load_all(open(sys.argv[1], encoding="utf-8"))
inputs = {name: spec.get("default", "") for name, spec in header["spec"]["inputs"].items()}
script = "\n".join(body[".parallel-pytest-base"]["before_script"])
print(re.sub(r"\$\[\[ inputs\.(\w+) \]\]", lambda m: str(inputs[m.group(1)]), script))
PY
  fail "cannot read the component's install step (needs ruamel.yaml from the tools venv)"
log=$(cd "$scratch" && PATH="$venv/bin:$PATH" PIP_NO_INDEX=1 PIP_FIND_LINKS="$dist" TMPDIR="$scratch" \
  sh -e "$scratch/component-install.sh" 2>&1) || fail "the component's install step failed: $log"
[[ $log == *"parallel-pytest $version"* ]] || fail "the component's install step printed: $log"
say "component: $(printf '%s' "$log" | tail -n 1)"
say "OK in $((SECONDS - start)) s"
