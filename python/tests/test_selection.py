import json

from parallel_pytest_plugin import selection


def test_parse_selection_ranks_node_ids_before_files_and_lists_parent_folders():
    sel = selection.parse_selection(
        {
            "files": ["t/a.py", "t/sub/b.py"],
            "node_ids": ["t/c.py::test_x"],
            "deselect": ["t/a.py::test_b", "t/a.py::test_b[1]"],
            "paths_via_plugin": True,
            "info_out": "/o/python.json",
        }
    )
    assert sel["rank"] == {"t/c.py::test_x": 0, "t/a.py": 1, "t/sub/b.py": 2}
    assert sel["selected_files"] == {"t/a.py", "t/sub/b.py", "t/c.py"}
    assert sel["dirs"] == {"t", "t/sub"}
    assert sel["deselect"] == ["t/a.py::test_b"]
    assert sel["paths_via_plugin"] is True
    assert sel["info_out"] == "/o/python.json"


def test_missing_keys_mean_empty():
    sel = selection.parse_selection({})
    assert sel["files"] == set()
    assert sel["info_out"] is None
    assert sel["paths_via_plugin"] is False


def test_deselect_is_a_string_prefix_match():
    prefixes = selection._prefix_free(["a.py::t", "b.py::C"])
    assert selection._deselected("a.py::t[1]", prefixes)
    assert selection._deselected("b.py::C::test", prefixes)
    assert not selection._deselected("a.py::s", prefixes)


def test_a_node_id_selects_itself_and_its_children():
    ids = {"f.py::C", "g.py::t"}
    assert selection._match("f.py::C::test_x[1]", ids) == "f.py::C"
    assert selection._match("g.py::t[a-b]", ids) == "g.py::t"
    assert selection._match("g.py::u", ids) is None


def test_python_info_has_the_manifest_fields():
    info = selection.python_info()
    assert set(info) == {"executable", "version", "pytest", "xdist"}
    assert info["pytest"]


def test_plugin_keeps_the_selected_tests_in_plan_order(pytester):
    pytester.makepyfile(
        test_a="def test_1(): pass\ndef test_2(): pass\n",
        test_b="def test_3(): pass\n",
    )
    info = pytester.path / "info.json"
    sel = pytester.path / "sel.json"
    sel.write_text(
        json.dumps(
            {
                "files": ["test_a.py"],
                "node_ids": ["test_b.py::test_3"],
                "deselect": ["test_a.py::test_2"],
                "paths_via_plugin": False,
                "info_out": str(info),
            }
        )
    )
    result = pytester.runpytest(
        "-p", "parallel_pytest_plugin.selection", f"--parallel-pytest-selection={sel}", "-v"
    )
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*test_b.py::test_3 PASSED*", "*test_a.py::test_1 PASSED*"])
    assert json.loads(info.read_text())["pytest"]
