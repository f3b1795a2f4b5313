#!/usr/bin/env python3
"""Benchmark for filter-aware planning (BENCHMARKS.md, section "Filter-aware planning"). Not a
test.

Generates a suite whose `slow` marker removes half of the tests: 2 files of 20 slow tests and
8 files of 5 fast tests, every test a `time.sleep` of the same length (so the numbers measure
the plan, not CPU contention from other processes). Then:

  1. learns a timings store from a first, unfiltered run (4 shards, run one after another,
     then `report --timings-out`): durations, markers and keywords as the plugin recorded them;
  2. runs the 4 shards under `-m "not slow"` twice, one variant right after the other:
       aware    planned from that store;
       unaware  planned from the same store with `markers`/`keywords` removed (what a store
                written before filter-aware planning holds);
     and prints each shard's wall seconds (from its manifest), the max shard wall of each
     variant, their ratio, and the load average before and after.

usage: scripts/bench-filter.py [--bin PATH] [--python PATH] [--sleep S] [--workers W]
defaults: target/release/parallel-pytest (else target/debug), .cache/venvs/pytest-latest,
0.3 s per test, 1 worker per shard.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARDS = 4
FILTER = ["--", "-m", "not slow"]


def make_suite(dir: Path, sleep: float) -> None:
    tests = dir / "tests"
    tests.mkdir(parents=True)
    (dir / "pytest.ini").write_text(
        "[pytest]\ntestpaths = tests\nmarkers =\n    slow: deselected with -m 'not slow'\n"
    )
    body = "import time\n\nimport pytest\n\n{mark}\n@pytest.mark.parametrize('n', range({n}))\ndef test_it(n):\n    time.sleep({sleep})\n"
    for i in range(2):
        (tests / f"test_slow_{i}.py").write_text(
            body.format(mark="pytestmark = pytest.mark.slow\n", n=20, sleep=sleep)
        )
    for i in range(8):
        (tests / f"test_fast_{i}.py").write_text(body.format(mark="", n=5, sleep=sleep))


def run_shards(
    bin: str, python: str, dir: Path, out: str, workers: int, extra: list
) -> list:
    """Runs every shard one after another; returns each shard's wall and predicted seconds
    (from its manifest)."""
    walls = []
    for i in range(1, SHARDS + 1):
        cmd = [bin, "run", "--shard", f"{i}/{SHARDS}", "--workers", str(workers)]
        cmd += ["--python", python, "--out-dir", out, "--timings", "store.json", *extra]
        subprocess.run(
            cmd,
            cwd=dir,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        manifest = json.loads((dir / out / f"shard-{i}-of-{SHARDS}.json").read_text())
        walls.append((manifest["wall_seconds"], manifest["predicted_seconds"]))
    return walls


def main() -> int:
    ap = argparse.ArgumentParser()
    default_bin = ROOT / "target/release/parallel-pytest"
    if not default_bin.exists():
        default_bin = ROOT / "target/debug/parallel-pytest"
    ap.add_argument("--bin", default=str(default_bin))
    ap.add_argument(
        "--python", default=str(ROOT / ".cache/venvs/pytest-latest/bin/python")
    )
    ap.add_argument("--sleep", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dir = Path(tmp)
        make_suite(dir, a.sleep)
        # An empty store to start from: the learning run plans on `def test` counts.
        (dir / "store.json").write_text(
            json.dumps({"format": "parallel-pytest-timings", "version": 1, "tests": {}})
        )
        run_shards(a.bin, a.python, dir, "learn", a.workers, [])
        subprocess.run(
            [
                a.bin,
                "report",
                "learn",
                "--timings",
                "store.json",
                "--timings-out",
                "store.json",
            ],
            cwd=dir,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        learned = json.loads((dir / "store.json").read_text())
        recorded = sum(1 for t in learned["tests"].values() if "markers" in t)
        stripped = json.loads(json.dumps(learned))
        for t in stripped["tests"].values():
            t.pop("markers", None)
            t.pop("keywords", None)
        load_before = os.getloadavg()
        walls = {}
        for name, store in [("aware", learned), ("unaware", stripped)]:
            (dir / "store.json").write_text(json.dumps(store))
            walls[name] = run_shards(a.bin, a.python, dir, name, a.workers, FILTER)
        load_after = os.getloadavg()
    print(
        f"suite: 40 slow + 40 fast tests of {a.sleep} s; N={SHARDS} W={a.workers}; "
        f"store: {len(learned['tests'])} tests, {recorded} with markers and keywords"
    )
    print(
        "| planning | predicted per shard (s) | shard walls (s) | max shard wall (s) |"
    )
    print("|---|---|---|---|")
    for name, w in walls.items():
        predicted = " / ".join(f"{p:.1f}" for _, p in w)
        actual = " / ".join(f"{x:.1f}" for x, _ in w)
        print(f"| {name} | {predicted} | {actual} | {max(x for x, _ in w):.1f} |")
    worst = {name: max(x for x, _ in w) for name, w in walls.items()}
    print(f"ratio unaware / aware: {worst['unaware'] / worst['aware']:.2f}")
    print(
        "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*load_before)
    )
    print(
        "load average (1, 5, 15 min) after:  {:.2f} {:.2f} {:.2f}".format(*load_after)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
