"""parallel-pytest results log (written by `parallel-pytest run`; safe to delete).

Loaded with `-p _parallel_pytest_results_log` and given `--parallel-pytest-results-log=PATH`.

Writes one JSON object per line to PATH, from the controller only (xdist forwards every
worker's reports to it), each line flushed as soon as it is written:
`{"start": nodeid, "file": str | null, "line": int | null}` when a test starts, and
`{"finish": nodeid, "outcome": "passed" | "failed" | "error" | "skipped", "seconds": float,
"message": str | null, "markers": [str], "keywords": [str]}` when it is over (Rust:
`pytest::results_log`). `markers` are the names `-m` matches the test against and `keywords`
the names `-k` matches (pytest's own `KeywordMatcher`), sorted; both are left out when they
could not be read or are too many to keep, so the plan never filters on half of them.

Why: pytest writes its JUnit file only at the end of the session, so a process that dies
mid-run (`os.abort()`, a segfault in a C extension, the OOM killer) leaves no results at all.
This log survives such a death: the tests that finished keep their outcomes, and a start with
no finish names the test that was running.
"""

import json

import pytest

# Bounds on what one test records for `-k`/`-m` (a hostile suite could add thousands).
_MAX_NAMES = 64
_MAX_NAME_CHARS = 200
# The attribute that carries them on a report, from an xdist worker to the controller (pytest
# serialises a report's extra attributes with it).
_SELECTABLE = "parallel_pytest_selectable"

# The module itself is registered as `_parallel_pytest_results_log` (its `-p` name).
_KEY = "_parallel_pytest_results_log_writer"


def pytest_addoption(parser):
    group = parser.getgroup("parallel-pytest")
    group.addoption(
        "--parallel-pytest-results-log",
        dest="parallel_pytest_results_log",
        default=None,
        metavar="PATH",
        help="Crash-safe log of each test's start and outcome, written by the controller.",
    )


def pytest_configure(config):
    path = config.getoption("parallel_pytest_results_log")
    if not path or hasattr(config, "workerinput"):
        return
    config.pluginmanager.register(ResultsLog(path), _KEY)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the test's markers and `-k` names to its setup report (runs where the test
    runs: in an xdist worker, or in the only process)."""
    outcome = yield
    if call.when != "setup" or not item.config.getoption("parallel_pytest_results_log", None):
        return
    selectable = selectable_of(item)
    if selectable is not None:
        setattr(outcome.get_result(), _SELECTABLE, selectable)


def selectable_of(item):
    """`{"markers": [...], "keywords": [...]}` as `-m` and `-k` see the item, or None."""
    try:
        from _pytest.mark import KeywordMatcher

        keywords = set(KeywordMatcher.from_item(item)._names)
        markers = {mark.name for mark in item.iter_markers()}
    except Exception:  # a pytest without these internals: record nothing
        return None
    names = keywords | markers
    if len(names) > _MAX_NAMES or any(len(str(n)) > _MAX_NAME_CHARS for n in names):
        return None
    return {"markers": sorted(map(str, markers)), "keywords": sorted(map(str, keywords))}


class ResultsLog:
    def __init__(self, path):
        # Line-buffered text: each record reaches the kernel when its newline is written, so
        # it survives the process being killed right after.
        self._fh = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (open all session)
        self._tests = {}

    def _write(self, record):
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()

    def pytest_runtest_logstart(self, nodeid, location):
        fspath, lineno = (location[0], location[1]) if location else (None, None)
        self._tests[nodeid] = {"outcome": "passed", "seconds": 0.0, "message": None}
        self._write({"start": nodeid, "file": fspath, "line": lineno})

    def pytest_runtest_logreport(self, report):
        test = self._tests.setdefault(
            report.nodeid, {"outcome": "passed", "seconds": 0.0, "message": None}
        )
        test["seconds"] += float(getattr(report, "duration", 0.0) or 0.0)
        selectable = getattr(report, _SELECTABLE, None)
        if isinstance(selectable, dict):
            test.update(selectable)
        outcome = outcome_of(report)
        if outcome != "passed" and test["outcome"] in ("passed", "skipped"):
            test["outcome"] = outcome
            test["message"] = message_of(report)

    def pytest_runtest_logfinish(self, nodeid, location):
        test = self._tests.pop(nodeid, None) or {"outcome": "passed", "seconds": 0.0}
        self._write({"finish": nodeid, **test})

    def pytest_unconfigure(self, config):
        self._fh.close()


def outcome_of(report):
    """One phase's report in JUnit's words: a failing setup or teardown is an error."""
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return "passed"


def message_of(report):
    """The first line of what went wrong, bounded."""
    text = getattr(report, "longreprtext", "") or ""
    if hasattr(report, "wasxfail"):
        text = "xfail: " + str(report.wasxfail)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    # pytest's `E   ` lines say what failed; the last one is the assertion or exception.
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[-1] if errors else lines[-1])[:500]
