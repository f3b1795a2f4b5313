#!/usr/bin/env python3
"""Interleaved A/B timing of `plan` on a big generated repository (BENCHMARKS.md, "Speed").

usage: scripts/bench-plan-speed.py BINARY [BINARY ...] [--repo DIR] [--files 100000]
                                   [--tests 10] [--rounds 7]

Writes the repository once (skipped when DIR already holds one of that size), laid out as
`make_repo` in `benches/plan.rs` does: `pyproject.toml` with `testpaths = ["tests"]`, test
files of `--tests` plain test functions in folders of 100 (`tests/dNNN/test_fI.py`), and a
`.test_durations` (one line, 45 MB for a million ids) naming every test with a log-normal
duration (mu -2, sigma 1.5; drawn by Python's seeded RNG, so the values differ from the
bench's, the sizes do not).

Then runs `BINARY plan --format json --shards 16 --workers 4` in DIR for each binary in turn,
`--rounds` times (the order rotated every round, after one unmeasured warm-up run each), and
prints per binary the median wall, user, sys and peak RSS (from `wait4`, as `/usr/bin/time`
reports them), every wall, the 1-minute load average, and the md5 of the JSON plan, which must
be the same for all binaries.
"""

import argparse
import hashlib
import math
import os
import random
import statistics
import subprocess
import sys
import time

ARGS = ["plan", "--format", "json", "--shards", "16", "--workers", "4"]


def make_repo(repo, files, tests):
    marker = os.path.join(repo, ".bench-plan-speed")
    want = f"{files} {tests}\n"
    if os.path.exists(marker):
        with open(marker) as f:
            if f.read() == want:
                return
    os.makedirs(repo, exist_ok=True)
    with open(os.path.join(repo, "pyproject.toml"), "w") as f:
        f.write('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    body = "".join(f"def test_{k}():\n    pass\n\n" for k in range(tests))
    rng = random.Random(7)
    parts = []
    for i in range(files):
        sub = os.path.join(repo, "tests", f"d{i // 100:03}")
        if i % 100 == 0:
            os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"test_f{i}.py"), "w") as f:
            f.write(body)
        for k in range(tests):
            secs = math.exp(rng.gauss(-2.0, 1.5))
            parts.append(f'"tests/d{i // 100:03}/test_f{i}.py::test_{k}":{secs:.6f}')
    with open(os.path.join(repo, ".test_durations"), "w") as f:
        f.write("{" + ",".join(parts) + "}")
    with open(marker, "w") as f:
        f.write(want)


def run(binary, repo, out_path):
    """(wall s, user s, sys s, max RSS KiB, md5 of the plan), from `wait4` on the child."""
    with open(out_path, "wb") as out:
        start = time.monotonic()
        child = subprocess.Popen(
            [binary, *ARGS], cwd=repo, stdout=out, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{binary} failed in {repo}")
    with open(out_path, "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss, md5


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--repo", default="target/tmp/plan-speed-repo")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--tests", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    binaries = [os.path.abspath(b) for b in args.binaries]
    make_repo(args.repo, args.files, args.tests)
    out_path = os.path.join(
        os.path.dirname(os.path.abspath(args.repo)), "plan-speed-out.json"
    )
    for b in binaries:
        run(b, args.repo, out_path)  # warm the page cache
    runs = {b: [] for b in binaries}
    for r in range(args.rounds):
        k = r % len(binaries)
        for b in binaries[k:] + binaries[:k]:
            wall, user, sys_, rss, md5 = run(b, args.repo, out_path)
            load = os.getloadavg()[0]
            runs[b].append((wall, user, sys_, rss, md5, load))
            print(
                f"round {r + 1} {os.path.basename(b)}: wall {wall:.3f} s, user {user:.2f} s, "
                f"sys {sys_:.2f} s, max RSS {rss / 1024:.0f} MiB, load {load:.2f}, md5 {md5}",
                file=sys.stderr,
                flush=True,
            )
    print(
        "| build | median wall | walls (s) | median user | median sys | max RSS | load | md5 |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | --- | --- |")
    for b, xs in runs.items():

        def med(i, xs=xs):
            return statistics.median(x[i] for x in xs)

        walls = " ".join(f"{x[0]:.2f}" for x in xs)
        loads = [x[5] for x in xs]
        md5s = sorted({x[4] for x in xs})
        print(
            f"| {os.path.basename(b)} | {med(0):.2f} s | {walls} | {med(1):.2f} s | "
            f"{med(2):.2f} s | {max(x[3] for x in xs) / 1024:.0f} MiB | "
            f"{min(loads):.1f}–{max(loads):.1f} | {', '.join(md5s)} |"
        )
    if len({x[4] for xs in runs.values() for x in xs}) != 1:
        sys.exit("the binaries printed different plans")


if __name__ == "__main__":
    main()
