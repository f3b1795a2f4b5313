"""parallel-pytest selection plugin (written by `parallel-pytest run`; safe to delete).

Loaded with `-p _parallel_pytest_selection` and given `--parallel-pytest-selection=PATH`.

Reads (Rust: `python::SelectionFile`), paths and node ids relative to pytest's rootdir:
`{"files": [str], "node_ids": [str], "deselect": [str], "paths_via_plugin": bool,
"info_out": str | null}`

Writes to `info_out` (Rust: `python::PythonInfo`), from the controller only:
`{"executable": str, "version": str, "pytest": str | null, "xdist": str | null}`
so `parallel-pytest` never spends a Python start of its own finding the versions out.

Why a plugin rather than node ids on the command line:
- the node ids never touch argv, so 100,000 of them cannot hit the kernel's argument limit,
  on every pytest version (`@argsfile` exists only since pytest 8.2);
- a node id that no longer exists (a test renamed since the timings were recorded) is simply
  not selected, where `pytest file.py::gone` would stop the whole shard with exit code 4;
- `deselect` entries follow pytest's `--deselect` rule (node-id string prefixes), and
  `node_ids` pytest's argument rule (an id selects itself, and a class or an unparametrized
  function name selects everything below it);
- items are kept in the plan's order (slowest first), which is what xdist schedules from.

Works on pytest 7.0+ (uses `collection_path`) and pytest-xdist workers, which load `-p`
plugins from the controller's options and inherit PYTHONPATH.
"""

import bisect
import json
import os

_KEY = "_parallel_pytest_selection"


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


def parse_selection(raw):
    """The selection document as the sets and ranks the hooks look things up in."""
    files = list(raw.get("files", []))
    node_ids = list(raw.get("node_ids", []))
    # Plan order: each list is slowest first. Single node ids come first: a shard gets them
    # when a file was too heavy for one shard, so they tend to be its heaviest work.
    rank = {}
    for entry in node_ids + files:
        rank.setdefault(entry, len(rank))
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
        "deselect": _prefix_free(raw.get("deselect", [])),
        "rank": rank,
        "selected_files": selected_files,
        "dirs": dirs,
        "paths_via_plugin": bool(raw.get("paths_via_plugin", False)),
        "info_out": raw.get("info_out"),
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


def _prefix_free(prefixes):
    """Sorted prefixes with every entry that extends another one dropped (it is redundant)."""
    out = []
    for p in sorted(set(prefixes)):
        if not out or not p.startswith(out[-1]):
            out.append(p)
    return out


def _deselected(nodeid, prefixes):
    """pytest's own `--deselect` rule: a plain string-prefix match. In a sorted prefix-free
    list, the only candidate prefix of `nodeid` is the greatest entry <= `nodeid`."""
    i = bisect.bisect_right(prefixes, nodeid) - 1
    return i >= 0 and nodeid.startswith(prefixes[i])


def _candidates(nodeid):
    """The node id itself, then its parents: `f.py::C::t[1]` -> `f.py::C::t`, `f.py::C`."""
    yield nodeid
    base = nodeid
    sep = nodeid.find("::")
    bracket = nodeid.find("[", sep if sep >= 0 else 0)
    if sep >= 0 and bracket > sep:
        base = nodeid[:bracket]
        yield base
    parts = base.split("::")
    for i in range(len(parts) - 1, 1, -1):
        yield "::".join(parts[:i])


def _match(nodeid, ids):
    for cand in _candidates(nodeid):
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


def pytest_collection_modifyitems(session, config, items):
    sel = _selection(config)
    if sel is None:
        return
    rank = sel["rank"]
    keep = []
    drop = []
    # A path of the user's after `--` that overlaps ours (`-- tests`) makes pytest 7 collect a
    # file twice; each test must still run once.
    dedupe = not config.getoption("keepduplicates", False)
    seen = set()
    for index, item in enumerate(items):
        nodeid = item.nodeid
        if dedupe:
            if nodeid in seen:
                drop.append(item)
                continue
            seen.add(nodeid)
        path = nodeid.split("::", 1)[0]
        entry = None
        if path in sel["files"] and not _deselected(nodeid, sel["deselect"]):
            entry = path
        else:
            entry = _match(nodeid, sel["node_ids"])
        if entry is None:
            drop.append(item)
        else:
            keep.append((rank[entry], index, item))
    keep.sort(key=lambda t: (t[0], t[1]))
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = [item for _, _, item in keep]
