import json

import pytest

from parallel_pytest_plugin import collect


def test_describe_strips_the_loadgroup_suffix_and_repeated_markers():
    item = collect.describe(
        "t/a.py::C::test[1]@db", ["serial", "serial", "xdist_group"], {"C": 1, "test[1]": 1}, "db"
    )
    assert item == {
        "nodeid": "t/a.py::C::test[1]",
        "file": "t/a.py",
        "markers": ["serial", "xdist_group"],
        "keywords": ["C", "test[1]"],
        "xdist_group": "db",
    }


@pytest.mark.parametrize("verbosity", [[], ["-q"], ["-v"], ["-vv"]])
def test_writes_every_item_in_pytests_order_whatever_the_verbosity(pytester, verbosity):
    pytester.makepyfile(
        test_b="import pytest\n"
        "@pytest.mark.xdist_group(name='db')\ndef test_z(): pass\n"
        "@pytest.mark.parametrize('n', [2, 1])\ndef test_a(n): pass\n",
        test_a="import pytest\n"
        "pytestmark = pytest.mark.slow\n"
        "class TestC:\n    def test_m(self): pass\n",
    )
    out = pytester.path / "collected.json"
    result = pytester.runpytest(
        "-p",
        "parallel_pytest_plugin.collect",
        "--collect-only",
        f"--parallel-pytest-collect-out={out}",
        *verbosity,
    )
    assert result.ret == 0
    items = json.loads(out.read_text())["items"]
    assert [i["nodeid"] for i in items] == [
        "test_a.py::TestC::test_m",
        "test_b.py::test_z",
        "test_b.py::test_a[2]",
        "test_b.py::test_a[1]",
    ]
    assert items[0]["file"] == "test_a.py"
    assert items[0]["markers"] == ["slow"]
    assert "TestC" in items[0]["keywords"]
    assert items[1]["xdist_group"] == "db"
    assert items[2]["markers"] == ["parametrize"]


def test_an_empty_collection_is_written_too(pytester):
    pytester.makepyfile(test_a="def helper(): pass\n")
    out = pytester.path / "collected.json"
    result = pytester.runpytest(
        "-p",
        "parallel_pytest_plugin.collect",
        "--collect-only",
        f"--parallel-pytest-collect-out={out}",
    )
    assert result.ret == 5
    assert json.loads(out.read_text()) == {"items": []}
