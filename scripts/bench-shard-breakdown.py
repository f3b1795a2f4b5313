#!/usr/bin/env python3
"""Where each shard's pytest wall went (BENCHMARKS.md, "Per-shard fixed cost").

usage: scripts/bench-shard-breakdown.py OUT_DIR

Reads every `shard-I-of-N.json` manifest in a `run --out-dir` and its `costs-I-of-N.jsonl`
(the timestamps the selection plugin records) and prints one Markdown row per shard: start-up
to the controller's session, to the workers being ready, the slower worker's collection, the
tests, and the two parts of the teardown (until the plugin's `end` record, which follows
xdist's `teardown_nodes` and the JUnit write, and from it to the process exit).
"""

import json
import re
import sys
from pathlib import Path


def row(manifest, costs):
    controller = next(r for r in costs if r["role"] == "controller")
    collectors = [r for r in costs if r["role"] == "collector"]
    wall = manifest["wall_seconds"]
    spawn = controller["session_start"] - manifest["fixed_costs"]["session_start_seconds"]
    ready = max(controller["workers_ready"].values(), default=controller["session_start"])
    collected = max((r["collect_end"] for r in collectors), default=ready)
    tests = controller["last_test_end"] - controller["first_test"]
    cells = [
        controller["session_start"] - spawn,
        ready - controller["session_start"],
        collected - ready,
        controller["first_test"] - collected,
        tests,
        controller["end"] - controller["last_test_end"],
        spawn + wall - controller["end"],
    ]
    shard = f"{manifest['shard_index']}/{manifest['shard_total']}"
    fixed = wall - tests
    return (
        f"| {shard} | {wall:.2f} | "
        + " | ".join(f"{c:.2f}" for c in cells)
        + f" | {fixed:.2f} ({fixed / wall * 100:.0f} %) |"
    )


def main():
    out = Path(sys.argv[1])
    print(
        "| shard | pytest wall | spawn → controller session | → workers ready | collection "
        "(slower worker) | → first test | tests | last test → `end` | `end` → exit | not tests |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in sorted(out.glob("shard-*-of-*.json")):
        stem = re.sub(r"^shard-", "", path.stem)
        manifest = json.loads(path.read_text())
        costs_path = out / f"costs-{stem}.jsonl"
        if not costs_path.exists() or not manifest.get("fixed_costs"):
            print(f"| {stem} | no costs recorded | | | | | | | | |")
            continue
        costs = [json.loads(line) for line in costs_path.read_text().splitlines() if line]
        print(row(manifest, costs))


if __name__ == "__main__":
    main()
