import os

from parallel_pytest_plugin import isolation


def test_plain_nodeid_drops_the_loadgroup_suffix():
    assert isolation.plain_nodeid("a.py::t@db", "db") == "a.py::t"
    assert isolation.plain_nodeid("a.py::t@db", None) == "a.py::t@db"
    assert isolation.plain_nodeid("a.py::t", "db") == "a.py::t"


def test_split_serial_keeps_the_order():
    serial, others = isolation.split_serial([1, 2, 3, 4], lambda n: n % 2 == 0)
    assert (serial, others) == ([2, 4], [1, 3])


def test_the_marker_comes_from_the_caller(pytester):
    pytester.makepyfile(
        test_a="import pytest\n@pytest.mark.alone\ndef test_s(): pass\ndef test_p(): pass\n"
    )
    out = pytester.path / "serial.txt"
    args = ["-p", "parallel_pytest_plugin.isolation", "--strict-markers"]
    parallel = pytester.runpytest(
        *args,
        "--parallel-pytest-serial-marker=alone",
        "--parallel-pytest-phase=parallel",
        f"--parallel-pytest-serial-out={out}",
    )
    parallel.assert_outcomes(passed=1, deselected=1)
    assert out.read_text() == "test_a.py::test_s\n"
    serial = pytester.runpytest(
        *args, "--parallel-pytest-serial-marker=alone", "--parallel-pytest-phase=serial"
    )
    serial.assert_outcomes(passed=1, deselected=1)


def test_no_default_marker(pytester):
    pytester.makepyfile(test_a="def test_p(): pass\n")
    result = pytester.runpytest(
        "-p", "parallel_pytest_plugin.isolation", "--parallel-pytest-phase=serial"
    )
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*needs --parallel-pytest-serial-marker*"])
    result = pytester.runpytest("-p", "parallel_pytest_plugin.isolation", "--markers")
    assert "(parallel-pytest)" not in result.stdout.str()


def test_ctrl_break_stops_pytest_like_ctrl_c(pytester, monkeypatch):
    # Windows' SIGBREAK stood in for by SIGUSR1: the plugin must make it a KeyboardInterrupt,
    # so pytest stops cleanly and still writes its JUnit report.
    pytester.makeconftest("import signal\nsignal.SIGBREAK = signal.SIGUSR1\n")
    pytester.makepyfile(
        test_a="import os, signal\n"
        "def test_first(): pass\n"
        "def test_break(): os.kill(os.getpid(), signal.SIGUSR1)\n"
        "def test_never(): pass\n"
    )
    junit = pytester.path / "junit.xml"
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(os.path.dirname(isolation.__file__)))
    result = pytester.runpytest_subprocess(
        "-p", "parallel_pytest_plugin.isolation", f"--junitxml={junit}"
    )
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    assert "test_first" in junit.read_text()
