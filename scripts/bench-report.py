#!/usr/bin/env python3
"""Benchmark `parallel-pytest report` against Python's junitparser merging the same files.

Generates N shard JUnit files (pytest xunit1 style, 2 % failures with multi-KB tracebacks, a few
flaky reruns and skips), then runs, side by side in one run:

  ours:        parallel-pytest report DIR --junit-out merged.xml --format json
  junitparser: JUnitXml.fromfile(f) for every file, `+=` into one JUnitXml, write(merged.xml)

and prints wall time and peak RSS (from `/usr/bin/time -v`) of each as a Markdown table.
A second pass (ours only, 100,000 testcases) grows every failure text from 16 KB to 160 KB, to
show that memory does not grow with the size of failure texts.

Usage (from the repository root, after `scripts/bootstrap.sh` and `cargo build --release`):
  .cache/venvs/tools/bin/python scripts/bench-report.py [--files 100] [--cases 1000000]
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from xml.sax.saxutils import escape, quoteattr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRACEBACK_LINE = "    assert compute(value, {i}) == expected  # context line from the test body\n"


def traceback(i: int, size: int) -> str:
    head = f"def test_case_{i}(value):\n>       assert compute(value) == {i}\nE       assert 41 == {i}\n\n"
    body = ""
    while len(body) < size:
        body += TRACEBACK_LINE.format(i=i)
    return head + body[:size] + f"\ntests/pkg_{i % 50}/test_mod_{i % 997}.py:{i % 300 + 1}: AssertionError"


def write_shard(path: str, shard: int, cases: int, text_size: int, rng: random.Random) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">')
        f.write(f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="{cases}" time="123.4">')
        for j in range(cases):
            i = shard * cases + j
            module = f"tests/pkg_{i % 50}/test_mod_{(i // 50) % 997}.py"
            classname = module[:-3].replace("/", ".")
            name = f"test_case_{i}[param-{i % 7}]"
            attrs = (
                f'classname={quoteattr(classname)} name={quoteattr(name)} '
                f'file={quoteattr(module)} line="{i % 300}" time="{rng.random() * 0.2:.3f}"'
            )
            roll = rng.random()
            if roll < 0.02:
                tb = traceback(i, text_size)
                f.write(
                    f"<testcase {attrs}><failure message={quoteattr(f'assert 41 == {i}')}>"
                    f"{escape(tb)}</failure><system-out>{escape('captured output line' * 5)}</system-out></testcase>"
                )
            elif roll < 0.025:
                # pytest-rerunfailures: the failed attempt is an empty testcase, then the pass.
                f.write(f"<testcase {attrs} /><testcase {attrs} />")
            elif roll < 0.05:
                f.write(
                    f'<testcase {attrs}><skipped type="pytest.skip" message="not here">'
                    f"{escape(module)}:{i % 300}: not here</skipped></testcase>"
                )
            else:
                f.write(f"<testcase {attrs} />")
        f.write("</testsuite></testsuites>")


def generate(directory: str, files: int, total_cases: int, text_size: int) -> int:
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(42)
    per_file = total_cases // files
    for shard in range(files):
        write_shard(os.path.join(directory, f"junit-{shard + 1}-of-{files}.xml"), shard, per_file, text_size, rng)
    return sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))


def timed(argv: list, cwd: str) -> tuple:
    """Runs argv under /usr/bin/time -v; returns (wall seconds, peak RSS MiB, exit code)."""
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], cwd=cwd, capture_output=True, text=True)
    err = proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", err)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    if not wall or not rss:
        sys.exit(f"could not read /usr/bin/time output for {argv}:\n{err[-2000:]}")
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return seconds, int(rss.group(1)) / 1024, proc.returncode


JUNITPARSER = """
import sys
from junitparser import JUnitXml
out, files = sys.argv[1], sys.argv[2:]
merged = JUnitXml()
for f in files:
    merged += JUnitXml.fromfile(f)
merged.write(out)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--text", type=int, default=2_000, help="bytes of each failure text")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/parallel-pytest"))
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)

    work = tempfile.mkdtemp(prefix="bench-report-")
    try:
        shards = os.path.join(work, "shards")
        size = generate(shards, args.files, args.cases, args.text)
        files = sorted(os.path.join(shards, n) for n in os.listdir(shards))
        print(f"input: {args.files} files, {args.cases:,} testcases, {size / 1e6:.0f} MB, "
              f"failure texts {args.text:,} bytes\n")
        ours = timed([args.binary, "report", shards, "--junit-out", os.path.join(work, "ours.xml"),
                      "--timings-out", os.path.join(work, "timings.json"), "--format", "json"], work)
        rows = [("parallel-pytest report", *ours)]
        if not args.skip_python:
            script = os.path.join(work, "merge.py")
            with open(script, "w") as f:
                f.write(JUNITPARSER)
            theirs = timed([sys.executable, script, os.path.join(work, "theirs.xml"), *files], work)
            rows.append(("junitparser 5.0.3 (Python)", *theirs))
        print("| tool | wall | peak RSS | exit |\n|---|---:|---:|---:|")
        for name, wall, rss, code in rows:
            print(f"| {name} | {wall:.2f} s | {rss:.0f} MiB | {code} |")
        if len(rows) == 2:
            print(f"\nspeed-up: {rows[1][1] / rows[0][1]:.1f}x, memory: {rows[1][2] / rows[0][2]:.1f}x less")

        shutil.rmtree(shards)

        # Memory vs failure-text size: 100,000 testcases (2,000 failing) with failure texts of
        # 16 KB, then 10x larger. Ours keeps at most 16 KiB of each text (its start and end).
        print("\n| failure texts | input | parallel-pytest wall | peak RSS |\n|---:|---:|---:|---:|")
        for text in (16_000, 160_000):
            d = os.path.join(work, f"text-{text}")
            size = generate(d, 10, 100_000, text)
            wall, rss, _ = timed([args.binary, "report", d, "--junit-out", os.path.join(work, "o.xml"),
                                  "--timings-out", os.path.join(work, "t.json"), "--format", "json"], work)
            print(f"| {text:,} bytes | {size / 1e6:.0f} MB | {wall:.2f} s | {rss:.0f} MiB |")
            shutil.rmtree(d)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
