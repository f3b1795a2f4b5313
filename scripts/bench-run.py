#!/usr/bin/env python3
"""Benchmark for `parallel-pytest run` (BENCHMARKS.md, section "run"). Not a test.

Generates a suite of a few hundred tests with heavy-tailed durations (seeded, `time.sleep`, so
the numbers measure scheduling and overhead rather than CPU contention from other processes)
plus a `.test_durations` file with the true durations, then times, interleaved round by round:

  overhead   plain `pytest -n 2`, plain `pytest -n auto`, `parallel-pytest run --shard 1/1`
             with 2 workers (all writing JUnit, as CI does)
  --dist     `parallel-pytest run` with `--dist load | worksteal | loadfile`, 2 workers
  startup    `parallel-pytest run --print-command` (plan + selection files, no pytest) and
             `parallel-pytest --version`, many times

and prints Markdown tables with medians.

usage: scripts/bench-run.py [--bin PATH] [--python PATH] [--rounds N] [--tests N]
defaults: target/release/parallel-pytest (else target/debug), .cache/venvs/pytest-latest.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_suite(dir: Path, tests: int, seed: int = 7, mu: float = -3.2, cap: float = 1.5) -> float:
    """`tests` tests in 15 files of uneven size; log-normal durations (by default median ~40 ms,
    a few tests near a second). Returns the serial total in seconds."""
    rng = random.Random(seed)
    (dir / "tests").mkdir(parents=True)
    (dir / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    files = 15
    weights = [rng.paretovariate(1.2) for _ in range(files)]
    counts = [max(1, round(tests * w / sum(weights))) for w in weights]
    counts[-1] += tests - sum(counts)
    if counts[-1] < 1:
        counts[-1] = 1
    durations = {}
    total = 0.0
    for f, count in enumerate(counts):
        lines = ["import time", "", "import pytest", "", "", "D = {"]
        ds = [min(cap, rng.lognormvariate(mu, 1.1)) for _ in range(count)]
        for i, d in enumerate(ds):
            lines.append(f"    {i}: {d:.4f},")
            durations[f"tests/test_f{f:02d}.py::test_t[{i}]"] = round(d, 4)
            total += d
        lines += ["}", "", "", "@pytest.mark.parametrize(\"i\", range(len(D)))",
                  "def test_t(i):", "    time.sleep(D[i])", ""]
        (dir / "tests" / f"test_f{f:02d}.py").write_text("\n".join(lines))
    (dir / ".test_durations").write_text(json.dumps(durations, indent=1))
    return total


def outside_pytest(wall: float, out: Path) -> float:
    """Seconds `run` spent outside pytest: its wall minus pytest's, from the manifest."""
    manifest = json.loads((out / "shard-1-of-1.json").read_text())
    return wall - manifest["wall_seconds"]


def timed(cmd, cwd, env=None) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}): {' '.join(map(str, cmd))}\n{res.stderr.decode()[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", type=Path)
    ap.add_argument("--python", type=Path, default=ROOT / ".cache/venvs/pytest-latest/bin/python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tests", type=int, default=300)
    ap.add_argument("--startup-runs", type=int, default=30)
    ap.add_argument("--dist-tests", type=int, default=80,
                    help="tests in the --dist suite (longer sleeps, so scheduling dominates)")
    args = ap.parse_args()
    binary = args.bin
    if binary is None:
        release = ROOT / "target/release/parallel-pytest"
        binary = release if release.exists() else ROOT / "target/debug/parallel-pytest"
    py = str(args.python)

    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PARALLEL_PYTEST_") or k.startswith("CI") or k.startswith("GITHUB_")
                   or k.startswith("GITLAB_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        suite = work / "suite"
        serial_total = make_suite(suite, args.tests)
        out = work / "out"
        junit = str(work / "plain.xml")
        plain = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        run = [str(binary), "run", "--shard", "1/1", "--timings", ".test_durations",
               "--python", py, "--out-dir", str(out)]
        overhead = {
            "pytest -n 2": plain + ["-n", "2"],
            "pytest -n auto": plain + ["-n", "auto"],
            "parallel-pytest run --shard 1/1 --workers 2": run + ["--workers", "2", "--", "-q", "-p", "no:cacheprovider"],
        }
        dist_suite = work / "dist-suite"
        dist_total = make_suite(dist_suite, args.dist_tests, seed=11, mu=-1.6, cap=3.0)
        dists = {
            f"run --dist {d}": run + ["--workers", "2", "--dist", d, "--", "-q", "-p", "no:cacheprovider"]
            for d in ("load", "worksteal", "loadfile")
        }
        run_name = "parallel-pytest run --shard 1/1 --workers 2"
        outside = []
        # Warm-up: bytecode caches, page cache.
        timed(plain + ["-n", "2"], suite, env)
        times = {name: [] for name in list(overhead) + list(dists)}
        for r in range(args.rounds):
            for name, cmd in overhead.items():
                times[name].append(timed(cmd, suite, env))
                if name == run_name:
                    outside.append(outside_pytest(times[name][-1], out))
            for name, cmd in dists.items():
                times[name].append(timed(cmd, dist_suite, env))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

        startup = [timed(run + ["--workers", "2", "--print-command"], suite, env)
                   for _ in range(args.startup_runs)]
        version = [timed([str(binary), "--version"], suite, env) for _ in range(args.startup_runs)]

        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["pytest -n 2"]
        print(f"suite: {args.tests} tests in 15 files, serial total {serial_total:.1f} s, "
              f"ideal on 2 workers {serial_total / 2:.1f} s; {args.rounds} rounds, medians; "
              f"binary `{binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary}`; "
              f"{os.cpu_count()} CPUs\n")
        print("| command | median wall (s) | runs (s) | vs `pytest -n 2` |")
        print("|---|---:|---|---:|")
        for name in overhead:
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"| `{name}` | {med[name]:.2f} | {runs} | {med[name] / base:.3f} |")
        print()
        print(f"`run` outside pytest (its wall minus pytest's wall from the manifest: planning, "
              f"spawn, crash scan, manifest): median {1000 * statistics.median(outside):.0f} ms, "
              f"max {1000 * max(outside):.0f} ms, = {statistics.median(outside) / base:.2%} of "
              f"`pytest -n 2`'s wall\n")
        print(f"--dist suite: {args.dist_tests} tests, serial total {dist_total:.1f} s, "
              f"ideal on 2 workers {dist_total / 2:.1f} s\n")
        print("| `parallel-pytest run`, 2 workers | median wall (s) | runs (s) |")
        print("|---|---:|---|")
        for name in dists:
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"| `{name}` | {med[name]:.2f} | {runs} |")
        print()
        print(f"| start-up ({args.startup_runs} runs) | median (ms) | min (ms) |")
        print("|---|---:|---:|")
        print(f"| `run --shard 1/1 --print-command` (plan, write selection) | "
              f"{1000 * statistics.median(startup):.1f} | {1000 * min(startup):.1f} |")
        print(f"| `--version` (process start) | {1000 * statistics.median(version):.1f} | "
              f"{1000 * min(version):.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
