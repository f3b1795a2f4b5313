"""parallel-pytest isolation plugin (written by `parallel-pytest`; safe to delete).

Loaded with `-p _parallel_pytest_isolation`. It does three small things, each switched on by
an option so the same file serves every pytest process parallel-pytest starts:

- always: registers the serial marker (`--parallel-pytest-serial-marker`, default `serial`),
  so `--strict-markers` keeps working for projects that never declared it. Registering through
  `-o markers=` instead would *replace* the project's own marker list.
- `--parallel-pytest-phase=parallel`: leaves the serial tests out (reported as deselected)
  and writes their node ids, one per line, to `--parallel-pytest-serial-out`;
  `--parallel-pytest-phase=serial`: keeps only the serial tests. The filter runs after `-m`,
  `-k` and the shard's selection (`trylast`), so the user's own filters still apply and the
  two phases together run exactly the tests one plain run would.
- `--parallel-pytest-collect-out=PATH`: writes every collected test with its markers and
  xdist group as JSON (used by `--collect` at planning time).

Under xdist the hooks run in each worker (the controller does not collect); every worker
computes the same lists, and files are replaced atomically, so the last writer wins harmlessly.
Works on pytest 7.0+.
"""

import json
import os

import pytest

DEFAULT_MARKER = "serial"


def pytest_addoption(parser):
    group = parser.getgroup("parallel-pytest")
    group.addoption(
        "--parallel-pytest-serial-marker",
        dest="parallel_pytest_serial_marker",
        default=DEFAULT_MARKER,
        metavar="NAME",
        help="Marker of tests that run outside xdist, after the parallel phase.",
    )
    group.addoption(
        "--parallel-pytest-phase",
        dest="parallel_pytest_phase",
        default=None,
        choices=("parallel", "serial"),
        help="Which tests this process runs: all but the serial ones, or only them.",
    )
    group.addoption(
        "--parallel-pytest-serial-out",
        dest="parallel_pytest_serial_out",
        default=None,
        metavar="PATH",
        help="Where the parallel phase lists the serial tests it left out.",
    )
    group.addoption(
        "--parallel-pytest-collect-out",
        dest="parallel_pytest_collect_out",
        default=None,
        metavar="PATH",
        help="Write every collected test with its markers as JSON.",
    )


def pytest_configure(config):
    marker = config.getoption("parallel_pytest_serial_marker")
    config.addinivalue_line(
        "markers",
        f"{marker}: run this test outside pytest-xdist, alone, after the parallel tests "
        "(parallel-pytest).",
    )


def _write_atomically(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _group(item):
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    if mark.args:
        return str(mark.args[0])
    return str(mark.kwargs.get("name", "default"))


def _plain_nodeid(item):
    """The node id without the `@group` suffix `--dist loadgroup` adds on workers."""
    nodeid = item.nodeid
    group = _group(item)
    if group is not None and nodeid.endswith("@" + group):
        return nodeid[: -len(group) - 1]
    return nodeid


# `trylast`: after `-m`/`-k`, the shard's selection plugin and xdist's loadgroup renaming, so
# both lists describe exactly what this process would otherwise have run.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    marker = config.getoption("parallel_pytest_serial_marker")
    collect_out = config.getoption("parallel_pytest_collect_out")
    if collect_out:
        tests = [
            {
                "nodeid": _plain_nodeid(item),
                "markers": sorted({m.name for m in item.iter_markers()}),
                "xdist_group": _group(item),
            }
            for item in items
        ]
        _write_atomically(
            collect_out, json.dumps({"serial_marker": marker, "tests": tests}, indent=1)
        )
    phase = config.getoption("parallel_pytest_phase")
    if phase is None:
        return
    serial = [item for item in items if item.get_closest_marker(marker) is not None]
    serial_ids = {id(item) for item in serial}
    if phase == "parallel":
        out = config.getoption("parallel_pytest_serial_out")
        if out:
            _write_atomically(out, "".join(_plain_nodeid(i) + "\n" for i in serial))
        drop, keep = serial, [i for i in items if id(i) not in serial_ids]
    else:
        keep, drop = serial, [i for i in items if id(i) not in serial_ids]
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep

