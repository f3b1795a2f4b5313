#!/usr/bin/env python3
"""Offline replay of the shard wall model against recorded real-suite runs (issue 11).

For every recorded run of `scripts/bench-real-suites.py` (`ours-n{N}-run{k}/` under
`CACHE/runs/SUITE/`), this re-plans the run with the binary under test from the timings that
run planned from, checks that the partition is the recorded one (same files, node ids and
deselections per shard), and puts side by side, per shard:

- the measured pytest wall and its parts (the manifest's `fixed_costs`, from our plugin's
  timestamps: start-up and teardown, collection, first test start -> last test end);
- **before**: the prediction the run itself recorded (`predicted_cost`, the model at the time);
- **after**: the prediction of the binary under test for the same shards;
- two analysis columns from a Python replica of pytest-xdist's `LoadScheduling` (see
  `load_makespan`, the same rules as `src/plan/cost.rs`): the tests phase replayed with the
  run's *own* measured durations in its own order (what a perfect duration forecast would
  predict: the rest is per-test overhead and scheduling noise), and the change of the shard's
  summed test durations from the learning run to this one (the duration noise no model of
  the schedule can remove).

What a run planned from: run 1 from the serial run's JUnit (`serial.xml`); run 2 from the store
`report` wrote after run 1. For run 2 the store is learned again from run 1's artifacts with
the binary under test (so what `report` learns now, e.g. each test's line, is in it), and its
durations and fixed costs are checked against the recorded `ours-n{N}-run1-store.json`.

Reads CACHE read-only: the suite checkouts and run folders are copied into --work first.
Runs no test: `report` and `plan` only. Prints Markdown.

    cargo build && python3 scripts/replay-predictions.py --cache /work/bench/cache
"""

import argparse
import heapq
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SUITES = {
    # name: (checkout folder under CACHE/src, test path)
    "networkx": ("networkx-3.6.1", "networkx"),
    "sympy-solvers": ("sympy-1.14.0", "sympy/solvers"),
}
PYTEST_ARGS = ["-p", "no:cacheprovider", "-q"]


def load_makespan(durs, w):
    """pytest-xdist 3.x `LoadScheduling` plus the worker loop, no latency (see cost.rs)."""
    n = len(durs)
    if w <= 1 or n == 0:
        return sum(durs)
    nxt = 0
    held = [[] for _ in range(w)]
    shut = [False] * w
    running = [False] * w
    if n < 2 * w:
        for i in range(n):
            held[i % w].append(i)
        nxt = n
    else:
        chunk = max(2, n // w // 4)
        for q in held:
            q.extend(range(nxt, nxt + chunk))
            nxt += chunk
    if nxt == n:
        shut = [True] * w
    ends = []

    def start(k, now):
        q = held[k]
        if not running[k] and (len(q) >= 2 or (shut[k] and q)):
            running[k] = True
            heapq.heappush(ends, (now + durs[q[0]], k))

    for k in range(w):
        start(k, 0.0)
    makespan = 0.0
    while ends:
        now, k = heapq.heappop(ends)
        makespan = now
        running[k] = False
        done = held[k].pop(0)
        if not shut[k]:
            if nxt < n:
                pending = n - nxt
                low, high = max(2, pending // w // 4), max(2, pending // w // 2)
                size = len(held[k])
                if size < low and not (durs[done] >= 0.1 and size >= 2):
                    send = min(high - size, pending)
                    held[k].extend(range(nxt, nxt + send))
                    nxt += send
            else:
                shut[k] = True
        for j in range(w):
            start(j, now)
    return makespan


def lpt(durs, w):
    """Slowest first onto the least-loaded worker (what the model did before)."""
    loads = [0.0] * max(w, 1)
    for d in sorted(durs, reverse=True):
        heapq.heapreplace(loads, loads[0] + d)
    return max(loads)


def logged_tests(path):
    """(ids in the run's collection order, seconds per id) from a results log: files by path
    parts, then line, then the order the log first saw them."""
    where, seconds = {}, {}
    for n, raw in enumerate(path.read_text().splitlines()):
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if "start" in rec and rec["start"] not in where:
            where[rec["start"]] = (
                (rec.get("file") or "").split("/"),
                rec.get("line") or 0,
                n,
            )
        elif "finish" in rec:
            seconds[rec["finish"]] = seconds.get(rec["finish"], 0.0) + rec["seconds"]
    return sorted(where, key=where.get), seconds


def sh(cmd, cwd):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
    }
    out = subprocess.run(
        cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True
    )
    # `report` exits 1 for a red run (networkx N = 8 run 1 had a crashed worker); it still
    # writes the store.
    if out.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{out.stderr[-2000:]}")
    return out.stdout


def manifests(run_dir):
    found = sorted(
        run_dir.glob("shard-*-of-*.json"), key=lambda p: int(p.name.split("-")[1])
    )
    return [json.loads(p.read_text()) for p in found]


def store_seconds(path):
    return {k: v["seconds"] for k, v in json.loads(path.read_text())["tests"].items()}


def relearn(args, checkout, learning_dir, recorded_store, work):
    """The store `report` (binary under test) learns from the learning run's artifacts."""
    out = work / f"{learning_dir.parent.name}-{learning_dir.name}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(learning_dir, out)
    store = work / f"{out.name}-store.json"
    sh([args.bin, "report", out, "--timings-out", store], cwd=checkout)
    new, old = json.loads(store.read_text()), json.loads(recorded_store.read_text())
    same = all(
        new["tests"].get(k, {}).get("seconds") == v["seconds"]
        for k, v in old["tests"].items()
    ) and (new.get("startup"), new.get("collection")) == (
        old.get("startup"),
        old.get("collection"),
    )
    return store, same


def err(pred, meas):
    return f"{100 * (pred - meas) / meas:+.0f}%"


def replay(args, suite, run_dir, work):
    folder, path = SUITES[suite]
    checkout = work / "src" / folder
    if not checkout.exists():
        shutil.copytree(
            args.cache / "src" / folder,
            checkout,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shards = manifests(run_dir)
    n = shards[0]["shard_total"]
    k = int(run_dir.name.rsplit("run", 1)[1])
    notes = []
    if k == 1:
        timings = args.cache / "runs" / suite / "serial.xml"
        learned = None
    else:
        learning_dir = run_dir.with_name(run_dir.name.replace(f"run{k}", f"run{k - 1}"))
        recorded = learning_dir.with_name(learning_dir.name + "-store.json")
        timings, same = relearn(args, checkout, learning_dir, recorded, work)
        if not same:
            notes.append(
                "the store learned again differs from the recorded one in durations or fixed costs"
            )
        learned = store_seconds(recorded)
        for m in manifests(learning_dir):
            for c in m.get("crashed_workers") or []:
                notes.append(
                    f"the learning run's shard {m['shard_index']}/{n} lost worker {c['worker']} in "
                    f"`{c['test']}` (pytest wall {m['wall_seconds']:.0f} s): its start-up and durations are in the store"
                )
    workers = shards[0]["workers"]
    plan = json.loads(
        sh(
            [
                args.bin,
                "plan",
                "--root",
                ".",
                "--shards",
                str(n),
                "--workers",
                str(workers),
                "--timings",
                timings,
                "--format",
                "json",
                "--no-timings-fetch",
                path,
                "--",
                *PYTEST_ARGS,
            ],
            cwd=checkout,
        )
    )
    rows, errs = [], {"before": [], "after": []}
    for m, p in zip(shards, plan["shards"]):
        sel = m["selection"]
        same = (sorted(p["files"]), p["node_ids"], p["deselect"]) == (
            sorted(sel["files"]),
            sel["node_ids"],
            sel["deselect"],
        )
        fc, before = m["fixed_costs"], m.get("predicted_cost") or {}
        after = p["cost"] if same else None
        wall = m["wall_seconds"]
        ids, secs = logged_tests(run_dir / f"results-{m['shard_index']}-of-{n}.jsonl")
        own_durations = [secs.get(i, 0.0) for i in ids]
        own = load_makespan(own_durations, workers)
        own_lpt = lpt(own_durations, workers)
        drift = ""
        if learned is not None:
            a, b = (
                sum(learned.get(i, 0.0) for i in ids),
                sum(secs.get(i, 0.0) for i in ids),
            )
            drift = err(b, a) if a else ""
        bw = before.get("wall_seconds")
        errs["before"].append((bw - wall) / wall if bw else None)
        errs["after"].append((after["wall_seconds"] - wall) / wall if after else None)
        rows.append(
            f"| {m['shard_index']}/{n} | {len(ids)} | {wall:.1f} | "
            + (f"{bw:.1f} ({err(bw, wall)})" if bw else "–")
            + " | "
            + (
                f"{after['wall_seconds']:.1f} ({err(after['wall_seconds'], wall)})"
                if after
                else "partition differs"
            )
            + f" | {fc['startup_seconds']:.1f} / {before.get('startup_seconds', 0):.1f} / "
            + (f"{after['startup_seconds']:.1f}" if after else "–")
            + f" | {fc['collection_seconds']:.1f} / {before.get('collection_seconds', 0):.1f} / "
            + (f"{after['collection_seconds']:.1f}" if after else "–")
            + f" | {fc['tests_seconds'] or 0:.1f} / {before.get('tests_seconds', 0):.1f} / "
            + (f"{after['tests_seconds']:.1f}" if after else "–")
            + f" | {own_lpt:.1f} ({err(own_lpt, fc['tests_seconds'])}) | {own:.1f} ({err(own, fc['tests_seconds'])}) | {drift} |"
        )
    print(
        f"\n### {suite}, N = {n}, run {k} (planned from `{'serial.xml' if k == 1 else run_dir.name.replace(f'run{k}', f'run{k - 1}') + '-store.json'}`)\n"
    )
    for note in notes:
        print(f"- {note}")
    if notes:
        print()
    print(
        "| shard | tests | measured wall | before: predicted (error) | after: predicted (error) "
        "| start-up: measured / before / after | collection: m / b / a | tests phase: m / b / a "
        "| tests phase from this run's own durations: slowest first (error) | the same, `load` replayed (error) "
        "| Σ test durations, learning run → this run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    for name, values in errs.items():
        v = [x for x in values if x is not None]
        if v:
            print(
                f"\n{name}: error {100 * min(v):+.0f} … {100 * max(v):+.0f} %, "
                f"mean |error| {100 * sum(map(abs, v)) / len(v):.1f} %, within ±20 %: {sum(abs(x) <= 0.2 for x in v)}/{len(v)}",
                end="",
            )
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/work/bench/cache"))
    ap.add_argument(
        "--bin",
        type=Path,
        default=None,
        help="default: target/debug (what `cargo build` made)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/parallel-pytest-replay"))
    ap.add_argument("--suite", choices=sorted(SUITES), action="append")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    if args.bin is None:
        args.bin = root / "target" / "debug" / "parallel-pytest"
    args.bin = args.bin.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    for suite in args.suite or sorted(SUITES):
        runs = sorted((args.cache / "runs" / suite).glob("ours-n*-run[0-9]"))
        for run_dir in runs:
            if not (run_dir / "shard-1-of-1.json").exists() and manifests(run_dir):
                replay(args, suite, run_dir, args.work)


if __name__ == "__main__":
    main()
