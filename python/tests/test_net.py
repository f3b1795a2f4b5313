import json

from parallel_pytest_plugin import net


def test_owner_is_stable_and_among_the_owners():
    owners = [1, 3, 4]
    picks = {net.owner(f"tests/test_{i}.yaml", owners) for i in range(50)}
    assert picks <= set(owners) and len(picks) == 3
    assert net.owner("tests/test_a.yaml", owners) == net.owner("tests/test_a.yaml", owners)


def _spec(pytester, own, planned, owners=(1,)):
    path = pytester.path / "net.json"
    out = pytester.path / "net-out.json"
    path.write_text(
        json.dumps(
            {
                "shard": 1,
                "owners": list(owners),
                "planned": planned,
                "own": own,
                "roots": [str(pytester.path)],
                "out": str(out),
            }
        )
    )
    return path, out


def test_missed_files_run_and_ignored_planned_files_are_left_out(pytester):
    pytester.makeconftest(
        "import pytest\n"
        "collect_ignore = ['old']\n"
        "def pytest_collect_file(parent, file_path):\n"
        "    if file_path.suffix == '.yaml':\n"
        "        return YamlFile.from_parent(parent, path=file_path)\n"
        "class YamlFile(pytest.File):\n"
        "    def collect(self):\n"
        "        yield YamlItem.from_parent(self, name='y')\n"
        "class YamlItem(pytest.Item):\n"
        "    def runtest(self):\n"
        "        pass\n"
    )
    pytester.makepyfile(test_a="def test_a(): pass\n")
    (pytester.path / "sub").mkdir()
    (pytester.path / "sub" / "test_y.yaml").write_text("x")
    (pytester.path / "old").mkdir()
    (pytester.path / "old" / "test_old.py").write_text("def test_old(): pass\n")
    path, out = _spec(pytester, ["test_a.py", "old/test_old.py"], ["test_a.py", "old/test_old.py"])
    result = pytester.runpytest(
        "-p",
        "parallel_pytest_plugin.net",
        f"--parallel-pytest-net={path}",
        "test_a.py",
        "old/test_old.py",
    )
    result.assert_outcomes(passed=2, deselected=1)
    found = json.loads(out.read_text())
    assert found["missed"] == [{"file": "sub/test_y.yaml", "shard": 1}]
    assert found["not_collected"] == ["old/test_old.py"]
    assert found["files_checked"] >= 2


def test_files_owned_by_another_shard_are_not_run_here(pytester):
    pytester.makepyfile(test_a="def test_a(): pass\n")
    (pytester.path / "test_b.txt").write_text(">>> 1\n1\n")
    other = 2 if net.owner("test_b.txt", [1, 2]) == 2 else None
    path, out = _spec(pytester, ["test_a.py"], ["test_a.py"], owners=[1, 2])
    result = pytester.runpytest(
        "-p", "parallel_pytest_plugin.net", f"--parallel-pytest-net={path}", "test_a.py"
    )
    missed = json.loads(out.read_text())["missed"]
    if other:
        result.assert_outcomes(passed=1)
        assert missed == []
    else:
        result.assert_outcomes(passed=2)
        assert missed == [{"file": "test_b.txt", "shard": 1}]
