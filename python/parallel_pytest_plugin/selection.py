"""parallel-pytest selection plugin (written by `parallel-pytest run`; safe to delete).

Loaded with `-p _parallel_pytest_selection` and given `--parallel-pytest-selection=PATH`.

Reads (Rust: `python::SelectionFile`), paths and node ids relative to pytest's rootdir:
`{"files": [str], "node_ids": [str], "deselect": [str], "paths_via_plugin": bool,
"info_out": str | null, "collected_out": str | null, "outcomes_out": str | null,
"costs_out": str | null}`

Writes to `info_out` (Rust: `python::PythonInfo`), from the controller only:
`{"executable": str, "version": str, "pytest": str | null, "xdist": str | null}`
so `parallel-pytest` never spends a Python start of its own finding the versions out.

Writes to `collected_out` (Rust: `python::Collected`), from the process that collects (a plain
run, or xdist's first worker), once collection is done:
`{"files": {path: {"collected": int, "deselected": int}}, "deselected": int,
"not_found": [str], "deselected_ids": [str], "twins": {nodeid: int}}`
per planned file, the items pytest collected for this shard and how many of them the user's
own filters (`-k`, `-m`, `--deselect`, a suite's hook) deselected; `not_found`: planned node
ids and `deselect` entries that matched no collected item (renamed or deleted since the
timings were recorded); `deselected_ids`: planned node ids whose every item the user's filters
deselected; `twins`: node ids that more than one item of the shard share (pytest runs each),
with their item count, so `report` does not take them for reruns of one test.

Appends to `costs_out` (Rust: `python::CostRecord`), one JSON line per process, the fixed
costs of the shard as wall-clock timestamps (`time.time()`, seconds since the epoch):
- each process that collects (a plain run, or every xdist worker), once collection is done:
  `{"role": "collector", "worker": str | null, "session_start": float, "collect_start": float,
  "collect_end": float, "files": {path: seconds}}`, `files` being the wall seconds
  `pytest_make_collect_report` took for the file's module and the classes in it (importing the
  module and building its items) as that process saw it;
- the controller (or a plain run), at the end of the session:
  `{"role": "controller", "imported": float, "session_start": float, "workers_ready":
  {gwN: float}, "first_test": float | null, "last_test_end": float | null, "end": float}`.
Line-based and appended, so every process writes its own line and a killed run keeps what it
wrote.

Appends to `outcomes_out` (Rust: `python::Outcomes`), from the controller, one line per test
whose outcome JUnit cannot tell: `xpassed <nodeid>` for a non-strict XPASS (JUnit calls it a
pass). Line-based so both phases of a shard append and a killed run keeps what it wrote.

Why a plugin rather than node ids on the command line:
- the node ids never touch argv, so 100,000 of them cannot hit the kernel's argument limit,
  on every pytest version (`@argsfile` exists only since pytest 8.2);
- a node id that no longer exists (a test renamed since the timings were recorded) is simply
  not selected (and reported in `not_found`), where `pytest file.py::gone` would stop the
  whole shard with exit code 4;
- an id selects exactly what pytest would select for it: an item id selects the items with
  that id (two items may share one: both run), a collector id (module, class) or a
  parametrized function's name everything below it, and nothing else: an item named
  `f.py::ruff::format` is not below the item `f.py::ruff`;
- `deselect` entries are ids of the same kinds (a trailing `::` names a class, a trailing
  `[` every case of a parametrized function), skipped exactly in a file the shard runs whole;
- items stay in pytest's own collection order (the hook runs first and only filters), so the
  suite's own `pytest_collection_modifyitems` hooks, `-p randomly` or `pytest-order` still
  apply and order-dependent suites behave as under plain pytest.

Works on pytest 7.0+ (uses `collection_path`) and pytest-xdist workers, which load `-p`
plugins from the controller's options and inherit PYTHONPATH.
"""

import json
import os
import time

import pytest

# When this plugin was imported: pytest and the plugins are loaded, conftests not yet.
_IMPORTED = time.time()

_KEY = "_parallel_pytest_selection"
# Set on an item the selection leaves out, so `pytest_deselected` can tell ours from the user's.
_OURS = "_parallel_pytest_not_selected"
# Set by the isolation plugin on the serial tests one phase leaves to the other.
_ISOLATED = "_parallel_pytest_isolated"


def pytest_addoption(parser):
    group = parser.getgroup("parallel-pytest")
    group.addoption(
        "--parallel-pytest-selection",
        dest="parallel_pytest_selection",
        default=None,
        metavar="PATH",
        help="JSON selection of this shard, written by `parallel-pytest run`.",
    )


def _selection(config):
    cached = getattr(config, _KEY, None)
    if cached is not None:
        return cached
    path = config.getoption("parallel_pytest_selection")
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:
        sel = parse_selection(json.load(fh))
    setattr(config, _KEY, sel)
    return sel


def _collector_id(entry):
    """The plan names a class as a whole `f.py::C::` and every case of a parametrized
    function `f.py::t[`: the collector `f.py::C` and the function's name `f.py::t`."""
    if entry.endswith("::"):
        return entry[:-2]
    if entry.endswith("["):
        return entry[:-1]
    return entry


def parse_selection(raw):
    """The selection document as the sets the hooks look things up in."""
    files = list(raw.get("files", []))
    node_ids = list(raw.get("node_ids", []))
    selected_files = set(files) | {n.split("::", 1)[0] for n in node_ids}
    # Every folder that holds a selected file, so traversal can skip the rest.
    dirs = set()
    for f in selected_files:
        parent = os.path.dirname(f)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    return {
        "files": set(files),
        "node_ids": set(node_ids),
        "deselect": {_collector_id(d) for d in raw.get("deselect", [])},
        "deselect_raw": list(raw.get("deselect", [])),
        "selected_files": selected_files,
        "dirs": dirs,
        "paths_via_plugin": bool(raw.get("paths_via_plugin", False)),
        "info_out": raw.get("info_out"),
        "collected_out": raw.get("collected_out"),
        "outcomes_out": raw.get("outcomes_out"),
        "costs_out": raw.get("costs_out"),
    }


def _version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def pytest_configure(config):
    sel = _selection(config)
    # xdist workers carry `workerinput`; only the controller (or a plain run) records.
    if sel is None or not sel["info_out"] or hasattr(config, "workerinput"):
        return
    with open(sel["info_out"], "w", encoding="utf-8") as fh:
        json.dump(python_info(), fh)


def python_info():
    """The interpreter and the versions of pytest and pytest-xdist, as the probe reports them."""
    import platform
    import sys

    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "pytest": _version("pytest"),
        "xdist": _version("pytest-xdist"),
    }


def selecting_ids(item):
    """Every id that selects `item` as pytest would select it from the command line: its
    own id, the id of each collector above it (module, class; not the session or folders),
    and for a parametrized test the function's name (`f.py::t` for `f.py::t[1]`)."""
    ids = [item.nodeid]
    parent = getattr(item, "parent", None)
    callspec = getattr(item, "callspec", None)
    original = getattr(item, "originalname", None)
    if callspec is not None and original and parent is not None:
        ids.append(f"{parent.nodeid}::{original}")
    for node in item.listchain()[1:-1]:
        if isinstance(node, pytest.File) or "::" in node.nodeid:
            ids.append(node.nodeid)
    return ids


def _match(item, ids):
    """The first of `ids` that selects `item`, or None."""
    for cand in selecting_ids(item):
        if cand in ids:
            return cand
    return None


def pytest_ignore_collect(collection_path, config):
    """Only used when the selected files did not fit on argv (pytest < 8.2): pytest walks
    the top folders and this keeps it to the selected files."""
    sel = _selection(config)
    if sel is None or not sel["paths_via_plugin"]:
        return None
    try:
        rel = os.path.relpath(str(collection_path), str(config.rootpath))
    except ValueError:
        return None
    rel = rel.replace(os.sep, "/")
    if collection_path.is_dir():
        return None if rel in sel["dirs"] or rel == "." else True
    name = rel.rsplit("/", 1)[-1]
    if name in ("__init__.py", "conftest.py"):
        # Packages and conftests shape node ids and fixtures; never hide them.
        return None
    if rel.endswith(".py") and rel not in sel["selected_files"]:
        return True
    return None


def _collected_twice(item, parents):
    """Whether `item` repeats one collected before through another collector object with
    the same id: pytest 7 collects a file twice when a user path after `--` overlaps the
    shard's file arguments. Two items with one id under the *same* collector (a plugin's
    item per project file, like pytest-checkdocs' `.::project`) are two tests."""
    parent = getattr(item, "parent", None)
    key = (item.nodeid, getattr(parent, "nodeid", None))
    first = parents.setdefault(key, parent)
    return first is not parent


def split(items, sel, keep_duplicates=False):
    """(keep, drop, used): the shard's items in pytest's order, the rest, and the planned
    ids and deselect entries that selected or skipped at least one item."""
    keep, drop, used = [], [], set()
    parents = {}
    for item in items:
        if not keep_duplicates and _collected_twice(item, parents):
            drop.append(item)
            continue
        path = item.nodeid.split("::", 1)[0]
        chosen = False
        if path in sel["files"]:
            skipped = _match(item, sel["deselect"])
            if skipped is None:
                chosen = True
            else:
                used.add(skipped)
        if not chosen:
            entry = _match(item, sel["node_ids"])
            if entry is not None:
                used.add(entry)
                chosen = True
        (keep if chosen else drop).append(item)
    return keep, drop, used


# `tryfirst`: filter before the suite's own hooks and `-k`/`-m` run, and never reorder, so
# what they do (pytest-randomly, pytest-order, a conftest's sort) still decides the order.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    sel = _selection(config)
    if sel is None:
        return
    keep_duplicates = bool(config.getoption("keepduplicates", False))
    keep, drop, used = split(items, sel, keep_duplicates)
    for item in drop:
        setattr(item, _OURS, True)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    setattr(config, _KEY + "_used", used)


def pytest_deselected(items):
    """Sorts deselected items into the user's (`-k`, `-m`, `--deselect`, a suite's hook) and
    the serial tests one phase leaves to the other; ours are neither."""
    for item in items:
        if getattr(item, _OURS, False):
            continue
        kind = "_isolated" if getattr(item, _ISOLATED, False) else "_user"
        seen = getattr(item.config, _KEY + kind, None)
        if seen is None:
            seen = []
            setattr(item.config, _KEY + kind, seen)
        seen.append(item)


def collected_counts(sel, kept, user_deselected, used):
    """The `collected_out` document (see the module's docstring). `kept`: every item the
    shard selected, `user_deselected` among them."""
    empty = {"collected": 0, "deselected": 0}
    files = {f: dict(empty) for f in sorted(sel["selected_files"])}
    per_id = {}
    for item in kept:
        files.setdefault(item.nodeid.split("::", 1)[0], dict(empty))["collected"] += 1
        per_id[item.nodeid] = per_id.get(item.nodeid, 0) + 1
    user_ids = {id(item) for item in user_deselected}
    ran_entries, filtered_entries = set(), set()
    for item in kept:
        deselected = id(item) in user_ids
        if deselected:
            files[item.nodeid.split("::", 1)[0]]["deselected"] += 1
        entry = _match(item, sel["node_ids"]) if sel["node_ids"] else None
        if entry is not None:
            (filtered_entries if deselected else ran_entries).add(entry)
    planned = sorted(sel["node_ids"]) + [d for d in sel["deselect_raw"] if d]
    return {
        "files": files,
        "deselected": len(user_ids),
        "not_found": [n for n in planned if _collector_id(n) not in used],
        "deselected_ids": sorted(filtered_entries - ran_entries),
        "twins": {n: c for n, c in sorted(per_id.items()) if c > 1},
    }


def _write_atomically(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# This process's fixed costs (see the module's docstring); one process, one record.
_COSTS = {
    "session_start": None,
    "collect_start": None,
    "files": {},
    "workers_ready": {},
    "first_test": None,
    "last_test_end": None,
}


def _append_line(path, doc):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(doc) + "\n")


def _file_of(collector):
    """The test file a collector belongs to (a module or a class in it), else None."""
    nodeid = getattr(collector, "nodeid", "")
    if isinstance(collector, pytest.File) or "::" in nodeid:
        return nodeid.split("::", 1)[0]
    return None


def pytest_collectstart(collector):
    if _COSTS["collect_start"] is None:
        _COSTS["collect_start"] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    start = time.perf_counter()
    yield
    path = _file_of(collector)
    if path:
        files = _COSTS["files"]
        files[path] = files.get(path, 0.0) + (time.perf_counter() - start)


def pytest_runtest_logstart(nodeid, location):
    if _COSTS["first_test"] is None:
        _COSTS["first_test"] = time.time()


def pytest_runtest_logfinish(nodeid, location):
    _COSTS["last_test_end"] = time.time()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node):
    """xdist: a worker is up and about to collect (controller only)."""
    gateway = getattr(node, "gateway", None)
    _COSTS["workers_ready"][str(getattr(gateway, "id", "?"))] = time.time()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    config = session.config
    sel = _selection(config)
    if sel is None or not sel["costs_out"] or hasattr(config, "workerinput"):
        return
    _append_line(
        sel["costs_out"],
        {
            "role": "controller",
            "imported": _IMPORTED,
            "session_start": _COSTS["session_start"],
            "workers_ready": _COSTS["workers_ready"],
            "first_test": _COSTS["first_test"],
            "last_test_end": _COSTS["last_test_end"],
            "end": time.time(),
        },
    )


def _record_collection(config, sel):
    if not sel["costs_out"]:
        return
    workerinput = getattr(config, "workerinput", None)
    _append_line(
        sel["costs_out"],
        {
            "role": "collector",
            "worker": None if workerinput is None else workerinput.get("workerid"),
            "session_start": _COSTS["session_start"],
            "collect_start": _COSTS["collect_start"],
            "collect_end": time.time(),
            "files": _COSTS["files"],
        },
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    config = session.config
    sel = _selection(config)
    if sel is not None:
        _record_collection(config, sel)
    if sel is None or not sel["collected_out"]:
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get("workerid") != "gw0":
        return
    user = getattr(config, _KEY + "_user", [])
    # What the shard kept before the user's filters: what runs in this phase, what the
    # other phase runs, and what the user's filters deselected.
    kept = list(session.items) + getattr(config, _KEY + "_isolated", []) + user
    doc = collected_counts(sel, kept, user, getattr(config, _KEY + "_used", set()))
    _write_atomically(sel["collected_out"], json.dumps(doc))


def pytest_runtest_logreport(report):
    """Non-strict XPASS: pytest says `xpassed`, JUnit says passed; record it for `report`."""
    if report.when != "call" or not report.passed or not hasattr(report, "wasxfail"):
        return
    out = _OUTCOMES_OUT[0]
    if out is None:
        return
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(f"xpassed {report.nodeid}\n")


_OUTCOMES_OUT = [None]


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    _COSTS["session_start"] = time.time()
    config = session.config
    sel = _selection(config)
    if sel is None or hasattr(config, "workerinput"):
        return
    _OUTCOMES_OUT[0] = sel["outcomes_out"]
