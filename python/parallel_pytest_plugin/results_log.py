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

try:  # pytest's own `-k` matcher (private, but what `-k` runs); imported once, not per test
    from _pytest.mark import KeywordMatcher
except ImportError:  # a pytest without it: record no names
    KeywordMatcher = None

# Bounds on what one test records for `-k`/`-m` (a hostile suite could add thousands).
_MAX_NAMES = 64
_MAX_NAME_CHARS = 200
# The attribute that carries them on a setup report, from an xdist worker to the controller
# (pytest serialises a report's extra attributes with it). From a worker it holds one compact
# JSON string (in the only process, the dict): execnet (de)serialises every list item and dict
# key of a report one by one in Python, so a dict of two lists cost ~30 % more to send than
# the rest of the setup report; one string is one item (BENCHMARKS.md, "What is ours").
_SELECTABLE = "parallel_pytest_selectable"

# The module itself is registered as `_parallel_pytest_results_log` (its `-p` name).
_KEY = "_parallel_pytest_results_log_writer"
_NAMES_KEY = "_parallel_pytest_results_log_names"

# One encoder for every line: `json.dumps` with a keyword argument builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode
_encode_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultsLog(path), _KEY)


def pytest_collection_finish(session):
    """Where tests run (an xdist worker, or the only process) their names ride on the setup
    report. An xdist controller collects nothing and never gets here, so it pays no hook call
    per report for them."""
    config = session.config
    if config.getoption(
        "parallel_pytest_results_log", None
    ) and not config.pluginmanager.has_plugin(_NAMES_KEY):
        # Only a worker's reports travel: in the only process the dict is read as it is.
        config.pluginmanager.register(Names(hasattr(config, "workerinput")), _NAMES_KEY)


class Names:
    """Attaches each test's markers and `-k` names to its setup report, where the test runs.

    Two plain hooks instead of a `pytest_runtest_makereport` hookwrapper: pluggy runs an
    old-style wrapper through a generator on every phase of every test, which cost about three
    times as much as a plain hook (and the new-style `wrapper=True` needs pluggy 1.1, newer than
    pytest 7.0 requires)."""

    def __init__(self, encode):
        self._encode = encode
        self._pending = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        # Returns None, so pytest's own implementation still makes the report. pytest calls
        # it for every phase, so a setup that failed or was skipped still gets its names.
        if call.when == "setup":
            selectable = selectable_of(item)
            if selectable is not None and self._encode:
                selectable = _encode_compact(selectable)
            self._pending = (item.nodeid, selectable)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        # tryfirst: before xdist's worker sends the report, and before `ResultsLog` reads it.
        if report.when != "setup" or self._pending is None:
            return
        nodeid, encoded = self._pending
        self._pending = None
        if encoded is not None and nodeid == report.nodeid:
            setattr(report, _SELECTABLE, encoded)


def selectable_of(item):
    """`{"markers": [...], "keywords": [...]}` as `-m` and `-k` see the item, or None."""
    if KeywordMatcher is None:
        return None
    try:
        keywords = set(KeywordMatcher.from_item(item)._names)
        markers = {mark.name for mark in item.iter_markers()}
    except Exception:  # a pytest without these internals: record nothing
        return None
    names = keywords | markers
    if len(names) > _MAX_NAMES or any(len(str(n)) > _MAX_NAME_CHARS for n in names):
        return None
    return {"markers": sorted(map(str, markers)), "keywords": sorted(map(str, keywords))}


def selectable_from(value):
    """The names a report carries (`Names` encodes them), checked: None unless both lists
    are there, of strings, within the bounds."""
    if isinstance(value, str):
        if len(value) > 2 * _MAX_NAMES * (_MAX_NAME_CHARS + 8):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    markers, keywords = value.get("markers"), value.get("keywords")
    lists = (markers, keywords)
    if not all(isinstance(names, list) and len(names) <= _MAX_NAMES for names in lists):
        return None
    if not all(isinstance(n, str) and len(n) <= _MAX_NAME_CHARS for n in markers + keywords):
        return None
    return {"markers": markers, "keywords": keywords}


class ResultsLog:
    def __init__(self, path):
        # Line-buffered text: each record reaches the kernel when its newline is written, so
        # it survives the process being killed right after.
        self._fh = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (open all session)
        self._tests = {}

    def _write(self, record):
        self._fh.write(_encode(record) + "\n")

    def pytest_runtest_logstart(self, nodeid, location):
        fspath, lineno = (location[0], location[1]) if location else (None, None)
        self._tests[nodeid] = {"outcome": "passed", "seconds": 0.0, "message": None}
        self._write({"start": nodeid, "file": fspath, "line": lineno})

    def pytest_runtest_logreport(self, report):
        test = self._tests.setdefault(
            report.nodeid, {"outcome": "passed", "seconds": 0.0, "message": None}
        )
        test["seconds"] += float(getattr(report, "duration", 0.0) or 0.0)
        carried = getattr(report, _SELECTABLE, None)
        if carried is not None:
            selectable = selectable_from(carried)
            if selectable is not None:
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
    # `report.outcome` itself, not the `failed`/`skipped` properties: three reports per test.
    outcome = report.outcome
    if outcome == "failed":
        return "failed" if report.when == "call" else "error"
    if outcome == "skipped":
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
