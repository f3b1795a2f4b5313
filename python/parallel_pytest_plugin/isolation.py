"""parallel-pytest isolation plugin (written by `parallel-pytest`; safe to delete).

Loaded with `-p _parallel_pytest_isolation`. It does two small things, each switched on by an
option so the same file serves every pytest process parallel-pytest starts:

- `--parallel-pytest-serial-marker=NAME` (always given by parallel-pytest, which owns the
  default): registers the marker, so `--strict-markers` keeps working for projects that never
  declared it. Registering through `-o markers=` instead would *replace* the project's own
  marker list.
- `--parallel-pytest-phase=parallel`: leaves the serial tests out (reported as deselected)
  and writes their node ids to `--parallel-pytest-serial-out`;
  `--parallel-pytest-phase=serial`: keeps only the serial tests. The filter runs after `-m`,
  `-k` and the shard's selection (`trylast`), so the user's own filters still apply and the
  two phases together run exactly the tests one plain run would.

Writes to `--parallel-pytest-serial-out` (Rust: `python::SerialOut`): the plain node ids of
the serial tests the parallel phase left out, one per line, in pytest's order.

Under xdist the hooks run in each worker (the controller does not collect); every worker
computes the same lists, and files are replaced atomically, so the last writer wins harmlessly.
Works on pytest 7.0+.
"""

import contextlib
import os
import signal

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("parallel-pytest")
    group.addoption(
        "--parallel-pytest-serial-marker",
        dest="parallel_pytest_serial_marker",
        default=None,
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


def pytest_configure(config):
    interrupt_on_ctrl_break()
    marker = config.getoption("parallel_pytest_serial_marker")
    if not marker:
        if config.getoption("parallel_pytest_phase"):
            raise pytest.UsageError("--parallel-pytest-phase needs --parallel-pytest-serial-marker")
        return
    config.addinivalue_line("markers", marker_line(marker))


def interrupt_on_ctrl_break():
    """On Windows pytest runs in its own console process group, which ignores Ctrl-C, so
    parallel-pytest forwards cancellation as Ctrl-Break; without this Python would die of it
    on the spot instead of stopping with `KeyboardInterrupt` and writing its report."""
    if hasattr(signal, "SIGBREAK"):
        # Outside the main thread Python refuses; its default then stays.
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGBREAK, signal.default_int_handler)


def marker_line(marker):
    """The `markers` ini line that declares the serial marker."""
    return (
        f"{marker}: run this test outside pytest-xdist, alone, after the parallel tests "
        "(parallel-pytest)."
    )


def write_atomically(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def xdist_group(item):
    """The item's `xdist_group` name, or None."""
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    if mark.args:
        return str(mark.args[0])
    return str(mark.kwargs.get("name", "default"))


def plain_nodeid(nodeid, group):
    """The node id without the `@group` suffix `--dist loadgroup` adds on workers."""
    if group is not None and nodeid.endswith("@" + group):
        return nodeid[: -len(group) - 1]
    return nodeid


def split_serial(items, is_serial):
    """(serial, others), each in the given order."""
    serial, others = [], []
    for item in items:
        (serial if is_serial(item) else others).append(item)
    return serial, others


# `trylast`: after `-m`/`-k`, the shard's selection plugin and xdist's loadgroup renaming, so
# both lists describe exactly what this process would otherwise have run.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    phase = config.getoption("parallel_pytest_phase")
    if phase is None:
        return
    marker = config.getoption("parallel_pytest_serial_marker")
    serial, others = split_serial(items, lambda i: i.get_closest_marker(marker) is not None)
    if phase == "parallel":
        out = config.getoption("parallel_pytest_serial_out")
        if out:
            ids = [plain_nodeid(i.nodeid, xdist_group(i)) for i in serial]
            write_atomically(out, "".join(i + "\n" for i in ids))
        drop, keep = serial, others
    else:
        keep, drop = serial, others
    for item in drop:
        # The selection plugin counts these as neither the user's deselection nor lost.
        item._parallel_pytest_isolated = True
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
