#!/usr/bin/env python3
"""Interleaved A/B timing of commands (BENCHMARKS.md, "Per-shard fixed cost").

usage: scripts/bench-ab.py VARIANTS.json [--rounds 3] [--cwd DIR]

VARIANTS.json maps a label to `{"cmd": [argv], "env": {NAME: value}, "unset": [NAME]}` (env
and unset optional; the environment is this process's, changed by them). Every round runs
each variant once, the order rotated by one per round so no variant always runs first or
right after the same one; per run it records the wall, the CPU (user + sys of the whole
process tree, from `wait4`) and the 1-minute load average. Prints a Markdown table of medians
and their ratios to the first variant. On a shared machine the CPU column is the steadier one.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run(cmd, cwd, env):
    """(wall seconds, CPU seconds of the process tree, exit code)."""
    start = time.monotonic()
    child = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def environment(variant):
    env = dict(os.environ, **variant.get("env", {}))
    for name in variant.get("unset", []):
        env.pop(name, None)
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", type=argparse.FileType("r"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cwd", default=None)
    args = ap.parse_args()
    variants = json.load(args.variants)
    names = list(variants)
    runs = {name: [] for name in names}
    for r in range(args.rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            wall, cpu, code = run(variants[name]["cmd"], args.cwd, environment(variants[name]))
            load = os.getloadavg()[0]
            runs[name].append((wall, cpu, load))
            print(
                f"round {r + 1} {name}: wall {wall:.2f} s, CPU {cpu:.2f} s, exit {code}, "
                f"load {load:.2f}",
                file=sys.stderr,
                flush=True,
            )
    base_wall = statistics.median(x[0] for x in runs[names[0]])
    base_cpu = statistics.median(x[1] for x in runs[names[0]])
    print("| variant | median wall | / first | median CPU | / first | load | walls (s) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, xs in runs.items():
        wall = statistics.median(x[0] for x in xs)
        cpu = statistics.median(x[1] for x in xs)
        loads = [x[2] for x in xs]
        walls = ", ".join(f"{x[0]:.1f}" for x in xs)
        print(
            f"| {name} | {wall:.2f} s | {wall / base_wall:.3f} | {cpu:.2f} s | "
            f"{cpu / base_cpu:.3f} | {min(loads):.1f} to {max(loads):.1f} | {walls} |"
        )


if __name__ == "__main__":
    main()
