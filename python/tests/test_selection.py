import json

import pytest

from parallel_pytest_plugin import selection


def test_parse_selection_lists_parent_folders_and_reads_deselects_as_ids():
    sel = selection.parse_selection(
        {
            "files": ["t/a.py", "t/sub/b.py"],
            "node_ids": ["t/c.py::test_x"],
            "deselect": ["t/a.py::test_b", "t/a.py::C::"],
            "paths_via_plugin": True,
            "info_out": "/o/python.json",
            "collected_out": "/o/c.json",
        }
    )
    assert sel["selected_files"] == {"t/a.py", "t/sub/b.py", "t/c.py"}
    assert sel["dirs"] == {"t", "t/sub"}
    assert sel["deselect"] == {"t/a.py::test_b", "t/a.py::C"}
    assert sel["paths_via_plugin"] is True
    assert sel["info_out"] == "/o/python.json"
    assert sel["collected_out"] == "/o/c.json"


def test_missing_keys_mean_empty():
    sel = selection.parse_selection({})
    assert sel["files"] == set()
    assert sel["info_out"] is None
    assert sel["outcomes_out"] is None
    assert sel["paths_via_plugin"] is False


def test_python_info_has_the_manifest_fields():
    info = selection.python_info()
    assert set(info) == {"executable", "version", "pytest", "xdist"}
    assert info["pytest"]


def _run(pytester, sel, *args):
    path = pytester.path / "sel.json"
    out = {
        "files": [],
        "node_ids": [],
        "deselect": [],
        "paths_via_plugin": False,
        "info_out": str(pytester.path / "info.json"),
        "collected_out": str(pytester.path / "collected.json"),
        "outcomes_out": str(pytester.path / "outcomes.txt"),
    }
    out.update(sel)
    path.write_text(json.dumps(out))
    result = pytester.runpytest(
        "-p", "parallel_pytest_plugin.selection", f"--parallel-pytest-selection={path}", *args
    )
    collected = pytester.path / "collected.json"
    doc = json.loads(collected.read_text()) if collected.exists() else None
    return result, doc


def test_selected_tests_keep_pytests_order_and_deselects_are_exact(pytester):
    pytester.makepyfile(
        test_a="def test_1(): pass\ndef test_2(): pass\ndef test_22(): pass\n",
        test_b="def test_3(): pass\n",
    )
    result, doc = _run(
        pytester,
        {
            "files": ["test_b.py", "test_a.py"],
            "node_ids": ["test_c.py::gone"],
            "deselect": ["test_a.py::test_2", "test_a.py::test_9"],
        },
        "-v",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*test_a.py::test_1 PASSED*", "*test_a.py::test_22 PASSED*", "*test_b.py::test_3 PASSED*"]
    )
    assert json.loads((pytester.path / "info.json").read_text())["pytest"]
    assert doc["not_found"] == ["test_c.py::gone", "test_a.py::test_9"]
    assert doc["files"]["test_a.py"] == {"collected": 2, "deselected": 0}
    assert doc["deselected"] == 0


# A local plugin whose items carry `::` in their names and share one id, as lint plugins do.
_ITEMS_CONFTEST = """
import pytest

class Item(pytest.Item):
    def runtest(self):
        if self.name == "ruff::format":
            pass
        assert "fail" not in self.path.read_text() or self.name != "ruff"

def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".lint":
        return Lint.from_parent(parent, path=file_path)

class Lint(pytest.File):
    def collect(self):
        yield Item.from_parent(self, name="ruff")
        yield Item.from_parent(self, name="ruff::format")
        yield Item.from_parent(self, name="twin")
        yield Item.from_parent(self, name="twin")
"""


def test_an_item_id_selects_that_item_only_and_both_twins(pytester):
    pytester.makeconftest(_ITEMS_CONFTEST)
    pytester.path.joinpath("x.lint").write_text("ok")
    result, doc = _run(pytester, {"node_ids": ["x.lint::ruff", "x.lint::twin"]}, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*x.lint::ruff PASSED*", "*x.lint::twin PASSED*"])
    assert "ruff::format" not in result.stdout.str()
    assert doc["files"]["x.lint"]["collected"] == 3
    assert doc["not_found"] == []
    assert doc["twins"] == {"x.lint::twin": 2}


def test_a_collector_id_selects_everything_below_it(pytester):
    pytester.makepyfile(
        test_a="""
import pytest
class TestC:
    def test_1(self): pass
    @pytest.mark.parametrize("x", [1, 2])
    def test_p(self, x): pass
def test_out(): pass
@pytest.mark.parametrize("x", [1, 2])
def test_q(x): pass
"""
    )
    result, _ = _run(pytester, {"node_ids": ["test_a.py::TestC", "test_a.py::test_q"]})
    result.assert_outcomes(passed=5)
    result, _ = _run(pytester, {"files": ["test_a.py"], "deselect": ["test_a.py::TestC::"]})
    result.assert_outcomes(passed=3)
    result, doc = _run(pytester, {"files": ["test_a.py"], "deselect": ["test_a.py::test_q["]})
    result.assert_outcomes(passed=4)
    assert doc["not_found"] == []


def test_a_file_collected_twice_runs_once(pytester):
    # pytest 7 collects a file named on the command line again when a folder argument
    # overlaps it; pytest 8 deduplicates itself.
    pytester.makepyfile(test_a="def test_1(): pass\n")
    result, doc = _run(pytester, {"files": ["test_a.py"]}, "test_a.py", ".")
    result.assert_outcomes(passed=1)
    assert doc["files"]["test_a.py"]["collected"] == 1


def test_the_users_filters_are_counted_per_file_apart_from_ours(pytester):
    pytester.makepyfile(
        test_a="import pytest\n@pytest.mark.slow\ndef test_1(): pass\ndef test_2(): pass\n",
        test_b="import pytest\n@pytest.mark.slow\ndef test_3(): pass\n",
        test_e="",
    )
    pytester.makeini("[pytest]\nmarkers = slow\n")
    result, doc = _run(
        pytester,
        {"files": ["test_b.py", "test_e.py"], "node_ids": ["test_a.py::test_1"]},
        "-m",
        "not slow",
    )
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert doc["files"] == {
        "test_a.py": {"collected": 1, "deselected": 1},
        "test_b.py": {"collected": 1, "deselected": 1},
        "test_e.py": {"collected": 0, "deselected": 0},
    }
    assert doc["deselected"] == 2
    assert doc["deselected_ids"] == ["test_a.py::test_1"]


def test_a_non_strict_xpass_is_recorded(pytester):
    pytester.makepyfile(
        test_x="""
import pytest
@pytest.mark.xfail
def test_xp(): pass
@pytest.mark.xfail
def test_xf(): assert 0
"""
    )
    result, _ = _run(pytester, {"files": ["test_x.py"]})
    result.assert_outcomes(xpassed=1, xfailed=1)
    assert (pytester.path / "outcomes.txt").read_text() == "xpassed test_x.py::test_xp\n"
