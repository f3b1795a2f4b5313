import json
from pathlib import Path

import pytest

from parallel_pytest_plugin import results_log


@pytest.fixture(autouse=True)
def plugin_on_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(results_log.__file__).parents[1]))


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_test_starts_and_finishes_with_its_outcome(pytester, tmp_path):
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no setup")

        def test_ok():
            pass

        def test_bad():
            assert 1 == 2

        def test_error(broken):
            pass

        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass
        """
    )
    log = tmp_path / "results.jsonl"
    pytester.runpytest_subprocess(
        "-p", "parallel_pytest_plugin.results_log", f"--parallel-pytest-results-log={log}"
    )
    records = read(log)
    assert records[0] == {"start": "test_x.py::test_ok", "file": "test_x.py", "line": 6}
    finished = {r["finish"]: r for r in records if "finish" in r}
    assert {k: v["outcome"] for k, v in finished.items()} == {
        "test_x.py::test_ok": "passed",
        "test_x.py::test_bad": "failed",
        "test_x.py::test_error": "error",
        "test_x.py::test_skip": "skipped",
    }
    assert finished["test_x.py::test_bad"]["message"] == "assert 1 == 2"
    assert "no setup" in finished["test_x.py::test_error"]["message"]


def test_an_abort_leaves_the_finished_tests_and_the_running_one(pytester, tmp_path):
    pytester.makepyfile(
        test_y="""
        import os

        def test_before():
            pass

        def test_crash():
            os.abort()
        """
    )
    log = tmp_path / "results.jsonl"
    result = pytester.runpytest_subprocess(
        "-p", "parallel_pytest_plugin.results_log", f"--parallel-pytest-results-log={log}"
    )
    assert result.ret != 0
    records = read(log)
    assert [r.get("start") or r.get("finish") for r in records] == [
        "test_y.py::test_before",
        "test_y.py::test_before",
        "test_y.py::test_crash",
    ]
    assert "finish" not in records[-1]


def test_messages_are_the_last_error_line():
    class Report:
        longreprtext = "def t():\n>   assert x\nE   AssertionError: boom\nE   assert 0\n"

    assert results_log.message_of(Report()) == "assert 0"


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_markers_and_k_names_reach_the_log_from_workers_too(pytester, tmp_path, xdist):
    pytester.makepyfile(
        test_m="""
        import pytest

        pytestmark = pytest.mark.db

        class TestLogin:
            @pytest.mark.slow
            def test_fast_path(self):
                pass

        def test_many():
            pass

        for i in range(80):
            setattr(test_many, f"attr_{i}", True)
        """
    )
    log = tmp_path / "results.jsonl"
    pytester.runpytest_subprocess(
        "-p",
        "parallel_pytest_plugin.results_log",
        f"--parallel-pytest-results-log={log}",
        *xdist,
    )
    finished = {r["finish"]: r for r in read(log) if "finish" in r}
    login = finished["test_m.py::TestLogin::test_fast_path"]
    assert login["markers"] == ["db", "slow"]
    # What pytest's `-k` matches: the test's and its parents' names and the markers'.
    for name in ["TestLogin", "db", "slow", "test_fast_path"]:
        assert name in login["keywords"], login
    assert any(k.endswith("test_m.py") for k in login["keywords"]), login
    # Too many names to keep them all: none, so the plan never filters on half of them.
    many = finished["test_m.py::test_many"]
    assert "markers" not in many and "keywords" not in many, many


def test_a_failed_or_skipped_setup_still_records_the_names(pytester, tmp_path):
    pytester.makepyfile(
        test_s="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no setup")

        @pytest.mark.db
        def test_error(broken):
            pass

        @pytest.mark.db
        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass
        """
    )
    log = tmp_path / "results.jsonl"
    pytester.runpytest_subprocess(
        "-p", "parallel_pytest_plugin.results_log", f"--parallel-pytest-results-log={log}"
    )
    finished = {r["finish"]: r for r in read(log) if "finish" in r}
    assert finished["test_s.py::test_error"]["outcome"] == "error"
    assert finished["test_s.py::test_skip"]["outcome"] == "skipped"
    for test in finished.values():
        assert "db" in test["markers"], test
        assert "db" in test["keywords"], test


def test_the_names_travel_from_a_worker_as_one_string(pytester, tmp_path):
    """execnet sends every item of a list or dict one by one in Python: one JSON string is the
    cheap form on the wire (BENCHMARKS.md, "What is ours"). The controller sees what a worker
    sent; only setup reports carry it."""
    seen = tmp_path / "seen.txt"
    pytester.makeconftest(
        f"""
        import pytest

        WORKER = []

        def pytest_configure(config):
            WORKER.append(hasattr(config, "workerinput"))

        @pytest.hookimpl(trylast=True)
        def pytest_runtest_logreport(report):
            if not WORKER[0]:
                value = getattr(report, "parallel_pytest_selectable", None)
                with open({str(seen)!r}, "a") as fh:
                    fh.write(f"{{report.when}} {{type(value).__name__}}\\n")
        """
    )
    pytester.makepyfile(test_w="def test_one():\n    pass\n")
    log = tmp_path / "results.jsonl"
    pytester.runpytest_subprocess(
        "-p",
        "parallel_pytest_plugin.results_log",
        f"--parallel-pytest-results-log={log}",
        "-n",
        "1",
    )
    assert sorted(seen.read_text().split("\n")[:-1]) == [
        "call NoneType",
        "setup str",
        "teardown NoneType",
    ]
    (finish,) = [r for r in read(log) if "finish" in r]
    assert finish["markers"] == [] and "test_one" in finish["keywords"], finish


@pytest.mark.parametrize(
    "value",
    [
        None,
        "not json",
        "[1, 2]",
        '{"markers": ["a"]}',
        '{"markers": ["a"], "keywords": [1]}',
        '{"markers": "a", "keywords": []}',
        {"markers": ["a"], "keywords": ["b"] * 65},
        {"markers": ["a" * 201], "keywords": []},
        "x" * 100_000,
    ],
)
def test_names_a_report_carries_are_checked_before_they_are_logged(value):
    assert results_log.selectable_from(value) is None


def test_names_a_worker_encoded_are_read_back():
    names = {"markers": ["db"], "keywords": ["db", "test_ü"]}
    encoded = results_log._encode_compact(names)
    assert isinstance(encoded, str)
    assert results_log.selectable_from(encoded) == names
