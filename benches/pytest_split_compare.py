"""Run pytest-split 0.11's two algorithms on the exact durations the Rust benchmark planned.

Usage: python benches/pytest_split_compare.py SUITES.json
SUITES.json: [{"name": ..., "ids": [...], "micros": [...], "shards": [2, 4, ...]}, ...]
Prints JSON: {name: {str(n): {"least_duration": makespan_s, "duration_based_chunks": makespan_s}}}

Items are handed over in collection order (sorted node ids), as pytest collects them.
"""

import json
import sys
from collections import namedtuple

from pytest_split.algorithms import Algorithms

Item = namedtuple("Item", "nodeid")


def main() -> None:
    with open(sys.argv[1]) as f:
        suites = json.load(f)
    out = {}
    for suite in suites:
        durations = {i: m / 1e6 for i, m in zip(suite["ids"], suite["micros"])}
        items = [Item(i) for i in sorted(suite["ids"])]
        per_n = {}
        for n in suite["shards"]:
            row = {}
            for algo in ("least_duration", "duration_based_chunks"):
                groups = Algorithms[algo].value(n, items, durations)
                row[algo] = max(g.duration for g in groups)
                row[algo + "_empty"] = sum(1 for g in groups if not g.selected)
            per_n[str(n)] = row
        out[suite["name"]] = per_n
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
