#!/usr/bin/env python3
"""Real-suite benchmark (BENCHMARKS.md, section "Real suites"). Slow: not part of .ci/run.

Sets itself up from PyPI (pinned sdists of the suites, pinned wheels of the tools; nothing
else is downloaded) under `--cache` (default `.cache/bench/`, ignored by git), then, per
suite, one after another on this machine:

  serial        `pytest PATH` (also writes the JUnit our plan reads and pytest-split's
                `.test_durations`, both from this one run)
  -n W          `pytest PATH -n W`
  pytest-split  `--splits N --group g --splitting-algorithm least_duration -n W`, g = 1..N
  ours #1       `parallel-pytest run --shard g/N --workers W --timings serial.xml`, g = 1..N,
                then `parallel-pytest report` writes a timings store
  ours #2       the same, planned from that store (the learning run)
  processes     ours #1 and #2 again with `--launcher processes` (W plain pytest processes per
                shard instead of `-n W`), at N only; #2 from #1's store

Every job (the serial run, `-n W`, each pytest-split group, each of our shards) starts as a CI
job does: from a fresh checkout (`.pytest_cache`, `.parallel-pytest` and every `__pycache__`
under the suite removed) and with `PYTHONDONTWRITEBYTECODE` unset, as on GitHub's and GitLab's
runners. So the job's first process compiles the suite's modules and its other processes (xdist
workers) reuse the bytecode, for every tool alike; a development machine that sets
`PYTHONDONTWRITEBYTECODE=1` would otherwise make each worker compile the suite again.

and prints a Markdown table: max shard wall, its ratio to serial / (N·W) and to pytest-split,
predicted vs measured wall per shard, and tests lost or run twice (the union of every shard's
JUnit against the serial run's).

`--thread-ab` adds one more step (issue 11 item 3, thread oversubscription): networkx's layout
and linear-algebra tests under plain `pytest -n W`, with the BLAS/OpenMP pools left alone and
with `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1`, interleaved for
`--thread-pairs` pairs, printed as one Markdown row of medians. `--suite none --thread-ab` runs
that step alone.

usage: scripts/bench-real-suites.py [--suite sympy-solvers|networkx|all|none] [--shards 4]
       [--workers 2] [--also-shards 8] [--bin PATH] [--cache DIR] [--venv DIR]
       [--thread-ab] [--thread-pairs 3] [--thread-path PATH ...]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import venv
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TOOLS = [
    "pytest==9.2.0",
    "pytest-xdist==3.8.0",
    "pytest-split==0.11.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "mpmath==1.3.0",
    "hypothesis==6.170.17",
]
SUITES = {
    # name: (sdist requirement, folder inside the sdist, test path)
    "sympy-solvers": ("sympy==1.14.0", "sympy-1.14.0", "sympy/solvers"),
    "networkx": ("networkx==3.6.1", "networkx-3.6.1", "networkx"),
}


# The thread pools `--thread-ab` limits to one thread per worker, as `run` does under W > 1.
THREAD_VARS = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"]
THREAD_PATHS = ["networkx/drawing/tests/test_layout.py", "networkx/linalg"]


def sh(cmd, cwd=None, env=None, quiet=True):
    """Runs `cmd`; returns (exit code, wall seconds)."""
    start = time.monotonic()
    out = subprocess.DEVNULL if quiet else None
    code = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=out).returncode
    return code, time.monotonic() - start


def setup_venv(path):
    python = path / "bin" / "python"
    if not python.exists():
        venv.create(path, with_pip=True)
    probe = "import pytest, xdist, pytest_split, numpy, scipy, mpmath, hypothesis"
    if subprocess.run([python, "-c", probe], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", *TOOLS], check=True)
    return python


def setup_suite(cache, python, name):
    req, folder, _ = SUITES[name]
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    prefix = req.replace("==", "-")
    found = sorted(sdists.glob(f"{prefix}.tar.gz"))
    if not found:
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                sdists,
                req,
            ],
            check=True,
        )
        found = sorted(sdists.glob(f"{prefix}.tar.gz"))
    src = cache / "src"
    if not (src / folder).exists():
        src.mkdir(parents=True, exist_ok=True)
        with tarfile.open(found[0]) as tar:
            tar.extractall(src, filter="data")
    return src / folder


def junit_ids(paths):
    """Counter of (classname, name) over every testcase in the JUnit files."""
    seen = Counter()
    for p in paths:
        if not p.exists():
            continue
        for case in ET.parse(p).getroot().iter("testcase"):
            seen[(case.get("classname", ""), case.get("name", ""))] += 1
    return seen


def lost_and_twice(serial, seen):
    lost = sum(1 for k in serial if k not in seen)
    twice = sum(1 for k, c in seen.items() if c > 1)
    return lost, twice


def clean(suite_dir):
    """A fresh checkout, as every CI job starts from: no pytest cache, none of our output and
    no compiled bytecode of the suite (installed packages keep theirs, as a cached venv does)."""
    for d in [".pytest_cache", ".parallel-pytest"]:
        shutil.rmtree(suite_dir / d, ignore_errors=True)
    for cache in list(suite_dir.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def job_env(**extra):
    """A CI runner's environment: bytecode may be written (nothing on GitHub's or GitLab's
    runners sets PYTHONDONTWRITEBYTECODE)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def run_ours(args, python, suite_dir, path, n, work, label, timings, launcher=None):
    """`run` for every shard, one after another, then `report`; per shard (predicted, wall,
    pytest wall): the predicted wall with fixed costs (start-up + collection + tests) when the
    plan has them, the shard job's wall, and the wall of its pytest (what the model predicts)."""
    out = work / label
    shutil.rmtree(out, ignore_errors=True)
    env = job_env(PATH=f"{python.parent}{os.pathsep}{os.environ['PATH']}")
    rows = []
    for g in range(1, n + 1):
        clean(suite_dir)
        cmd = [
            args.bin,
            "run",
            "--root",
            suite_dir,
            "--shard",
            f"{g}/{n}",
            "--workers",
            str(args.workers),
            "--python",
            python,
            "--timings",
            timings,
            "--out-dir",
            out,
            *(["--launcher", launcher] if launcher else []),
            path,
            "--",
            "-p",
            "no:cacheprovider",
            "-q",
        ]
        _, wall = sh(cmd, cwd=suite_dir, env=env)
        manifest = json.loads((out / f"shard-{g}-of-{n}.json").read_text())
        cost = manifest.get("predicted_cost") or {}
        predicted = cost.get("wall_seconds", manifest["predicted_seconds"])
        rows.append((predicted, wall, manifest.get("wall_seconds", wall)))
    store = work / f"{label}-store.json"
    sh([args.bin, "report", out, "--timings-out", store], cwd=suite_dir, env=env)
    return rows, sorted(out.glob("junit-*-of-*.xml")), store


def bench_suite(args, python, name):
    suite_dir = setup_suite(args.cache, python, name)
    path = args.path or SUITES[name][2]
    work = args.cache / "runs" / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    w, n = args.workers, args.shards
    base = [python, "-m", "pytest", path, "-p", "no:cacheprovider", "-q"]
    env = job_env()
    results = {}

    clean(suite_dir)
    serial_xml = work / "serial.xml"
    durations = work / "test_durations.json"
    print(f"[{name}] serial", file=sys.stderr)
    code, serial = sh(
        [*base, f"--junitxml={serial_xml}", "--store-durations", f"--durations-path={durations}"],
        cwd=suite_dir,
        env=env,
    )
    if code not in (0, 1):
        sys.exit(f"[{name}] the serial run failed with exit code {code}: {base}")
    serial_ids = junit_ids([serial_xml])
    results["serial"] = serial

    print(f"[{name}] -n {w}", file=sys.stderr)
    clean(suite_dir)
    _, results["xdist"] = sh([*base, "-n", str(w)], cwd=suite_dir, env=env)

    rows = []
    split_walls, split_xml = [], []
    for g in range(1, n + 1):
        print(f"[{name}] pytest-split {g}/{n}", file=sys.stderr)
        xml = work / f"split-{g}.xml"
        clean(suite_dir)
        _, wall = sh(
            [
                *base,
                "--splits",
                str(n),
                "--group",
                str(g),
                "--splitting-algorithm",
                "least_duration",
                f"--durations-path={durations}",
                "-n",
                str(w),
                f"--junitxml={xml}",
            ],
            cwd=suite_dir,
            env=env,
        )
        split_walls.append(wall)
        split_xml.append(xml)
    split_max = max(split_walls)
    rows.append(
        ("pytest-split least_duration", n, [(None, s) for s in split_walls], junit_ids(split_xml))
    )

    for shards in [n] + [m for m in args.also_shards if m != n]:
        timings = serial_xml
        for k in (1, 2):
            label = f"ours-n{shards}-run{k}"
            print(f"[{name}] {label}", file=sys.stderr)
            shard_rows, xmls, store = run_ours(
                args, python, suite_dir, path, shards, work, label, timings
            )
            rows.append(
                (
                    f"ours #{k}" + (" (from #1's store)" if k == 2 else ""),
                    shards,
                    shard_rows,
                    junit_ids(xmls),
                )
            )
            timings = store

    # `--launcher processes` at N: W plain pytest processes per shard instead of `-n W`.
    timings = serial_xml
    for k in (1, 2):
        label = f"ours-processes-n{n}-run{k}"
        print(f"[{name}] {label}", file=sys.stderr)
        shard_rows, xmls, store = run_ours(
            args, python, suite_dir, path, n, work, label, timings, launcher="processes"
        )
        rows.append(
            (
                f"ours processes #{k}" + (" (from #1's store)" if k == 2 else ""),
                n,
                shard_rows,
                junit_ids(xmls),
            )
        )
        timings = store

    lines = [
        f"### {name} (`{path}`, {len(serial_ids)} tests)",
        "",
        f"serial {serial:.1f} s · `pytest -n {w}` {results['xdist']:.1f} s · W = {w}",
        "",
        "| run | N | max shard wall | / (serial / (N·W)) | / pytest-split | shards: predicted → "
        "measured (error) | lost | twice |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for label, shards, shard_rows, seen in rows:
        walls = [row[1] for row in shard_rows]
        top = max(walls)
        ideal = serial / (shards * w)
        lost, twice = lost_and_twice(serial_ids, seen)
        # The error is against pytest's own wall (the manifest's), which the model predicts;
        # the shard job's wall adds `run`'s planning.
        per = " / ".join(
            f"{row[1]:.1f}"
            if row[0] is None
            else f"{row[0]:.1f}→{row[2]:.1f} ({(row[0] - row[2]) / row[2] * 100:+.0f}%)"
            for row in shard_rows
        )
        vs_split = "" if label.startswith("pytest-split") else f"{top / split_max:.2f}"
        lines.append(
            f"| {label} | {shards} | {top:.1f} s | {top / ideal:.2f} | {vs_split} | "
            f"{per} | {lost} | {twice} |"
        )
    return "\n".join(lines)


def thread_ab(args, python):
    """`pytest -n W` on networkx's numeric tests with and without one thread per BLAS/OpenMP
    pool, A and B alternating so the machine's load drifts over both alike; one Markdown row."""
    suite_dir = setup_suite(args.cache, python, "networkx")
    paths = args.thread_path or THREAD_PATHS
    cmd = [python, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-q", "-n", str(args.workers)]
    # Whatever the calling shell sets for these must not leak into the "unlimited" side.
    unlimited = {k: v for k, v in job_env().items() if k not in THREAD_VARS}
    limited = dict(unlimited, **dict.fromkeys(THREAD_VARS, "1"))
    walls = {"unlimited": [], "limited": []}
    loads = []
    for pair in range(args.thread_pairs):
        for label, env in (("unlimited", unlimited), ("limited", limited)):
            clean(suite_dir)
            code, wall = sh(cmd, cwd=suite_dir, env=env)
            if code not in (0, 1):
                sys.exit(f"[thread-ab] pytest exited {code} ({label}): {cmd}")
            walls[label].append(wall)
            loads.append(os.getloadavg()[0])
            print(f"[thread-ab] pair {pair + 1} {label}: {wall:.1f} s", file=sys.stderr)
    off, on = (statistics.median(walls[k]) for k in ("unlimited", "limited"))
    runs = {k: ", ".join(f"{w:.1f}" for w in v) for k, v in walls.items()}
    limits = " ".join(f"{k}=1" for k in THREAD_VARS)
    # Each pair ran back to back, so its own ratio is the least disturbed by load drifting
    # between pairs.
    pairwise = statistics.median(b / a for a, b in zip(walls["unlimited"], walls["limited"]))
    load = statistics.median(loads)
    header = (
        f"| W | pools unlimited: median (runs) | {limits}: median (runs) "
        "| limited / unlimited (medians) | median of the pairs' ratios | pairs "
        "| load average (median) |"
    )
    row = (
        f"| {args.workers} | {off:.1f} s ({runs['unlimited']}) | {on:.1f} s ({runs['limited']}) "
        f"| {on / off:.2f} | {pairwise:.2f} | {args.thread_pairs} | {load:.1f} |"
    )
    title = f"### Thread limits: `pytest -n {args.workers}` on " + ", ".join(
        f"`{p}`" for p in paths
    )
    return "\n".join([title, "", header, "|---:|---:|---:|---:|---:|---:|---:|", row])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=[*SUITES, "all", "none"], default="all")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--also-shards", type=int, nargs="*", default=[8])
    default_bin = ROOT / "target/release/parallel-pytest"
    if not default_bin.exists():
        default_bin = ROOT / "target/debug/parallel-pytest"
    ap.add_argument("--bin", type=Path, default=default_bin)
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache/bench")
    ap.add_argument("--venv", type=Path, default=None)
    ap.add_argument("--path", default=None, help="a smaller test path, for a quick check")
    ap.add_argument(
        "--thread-ab",
        action="store_true",
        help="also time networkx's numeric tests with and without one BLAS/OpenMP thread",
    )
    ap.add_argument("--thread-pairs", type=int, default=3)
    ap.add_argument(
        "--thread-path",
        action="append",
        default=None,
        help=f"test path for --thread-ab (repeatable; default {' '.join(THREAD_PATHS)})",
    )
    args = ap.parse_args()
    args.cache = args.cache.resolve()
    args.bin = args.bin.resolve()
    python = setup_venv((args.venv or args.cache / "venv").absolute())
    names = {"all": list(SUITES), "none": []}.get(args.suite, [args.suite])
    tables = []
    for name in names:
        table = bench_suite(args, python, name)
        print(table, flush=True)
        tables.append(table)
    if tables:
        (args.cache / "results.md").write_text("\n\n".join(tables) + "\n")
    if args.thread_ab:
        row = thread_ab(args, python)
        print(row, flush=True)
        (args.cache / "thread-ab.md").write_text(row + "\n")


if __name__ == "__main__":
    main()
