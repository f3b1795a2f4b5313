"""parallel-pytest net plugin (written by `parallel-pytest run`; safe to delete).

Loaded with `-p _parallel_pytest_net` and given `--parallel-pytest-net=PATH`.

Reads (Rust: `python::NetFile`), paths relative to pytest's rootdir unless noted:
`{"shard": int, "owners": [int], "planned": [str], "own": [str], "roots": [absolute str],
"out": str}` (`planned`: every file of the plan; `own`: this shard's)

Writes to `out` (Rust: `python::NetOut`), from the controller (or a plain run) only:
`{"missed": [{"file": str, "shard": int}], "not_collected": [str], "files_checked": int,
"walk_seconds": float}`

Why: the plan comes from a discovery without Python, which cannot see what plugins, hooks and
`collect_ignore` in a `conftest.py` decide. Here pytest itself decides, for every file under the
suite's arguments, whether it would collect it: `pytest_ignore_collect` and
`pytest_collect_file`, the hooks pytest's own directory walk calls. Neither imports a test
module (conftests along the walk are imported, as a plain run imports them).

A file the plan does not know is checked by exactly one shard, its owner: a stable hash of its
rootdir-relative path over the shards that run pytest (`owners`). If pytest would collect it, it
is added to the owner's collection, so it runs exactly once over all shards. A planned file is
checked by the shard that has it: if pytest would not collect it in a plain run (a
`collect_ignore`, a hook), its tests are deselected there and it is reported. Every xdist
worker walks the same tree with the same answer, so the workers' collections agree.

Works on pytest 7.0+ and pytest-xdist workers.
"""

import contextlib
import hashlib
import json
import os
import time

import pytest

_KEY = "_parallel_pytest_net"
# The selection plugin's `-p` name (Rust: `python::SELECTION_MODULE`).
_SELECTION = "_parallel_pytest_selection"


def pytest_addoption(parser):
    group = parser.getgroup("parallel-pytest")
    group.addoption(
        "--parallel-pytest-net",
        dest="parallel_pytest_net",
        default=None,
        metavar="PATH",
        help="JSON input of the net for files discovery missed, written by `parallel-pytest run`.",
    )


def owner(rel, owners):
    """The shard that checks (and, if missed, runs) the file `rel`: the same on every machine."""
    digest = hashlib.sha256(rel.encode("utf-8")).digest()
    return owners[int.from_bytes(digest[:8], "big") % len(owners)]


def _rel(path, rootpath):
    try:
        rel = os.path.relpath(str(path), str(rootpath))
    except ValueError:
        return None
    return rel.replace(os.sep, "/")


def _ignored(session, path):
    ihook = session.gethookproxy(path)
    return bool(ihook.pytest_ignore_collect(collection_path=path, config=session.config))


def _collected(session, path):
    """Whether pytest would make a collector for this file (without collecting it)."""
    if _ignored(session, path):
        return False
    ihook = session.gethookproxy(path)
    try:
        found = ihook.pytest_collect_file(file_path=path, parent=session)
    except Exception:
        # pytest would report the error on this file; running it shows that error.
        return True
    return any(c for c in found if c and not _empty_doctest_module(c, path))


def _empty_doctest_module(collector, path):
    """A doctest module without `>>>` yields no item; discovery does not plan it either."""
    if type(collector).__name__ != "DoctestModule":
        return False
    try:
        return b">>>" not in path.read_bytes()
    except OSError:
        return False


def _load_conftests(session, directory):
    """Import the conftests of `directory` and above, as pytest's walk does on entering it:
    their hooks and `collect_ignore` decide below. The call is private and differs by pytest
    version; a conftest that fails to import is left for pytest to report when it collects."""
    config = session.config
    pm = config.pluginmanager
    kwargs = {"rootpath": config.rootpath}
    with contextlib.suppress(ValueError, KeyError):
        kwargs["consider_namespace_packages"] = config.getini("consider_namespace_packages")
    importmode = config.getoption("importmode")
    try:
        load = getattr(pm, "_loadconftestmodules", None)
        if load is None:
            kwargs.pop("consider_namespace_packages", None)
            pm._getconftestmodules(directory, importmode, **kwargs)
        else:
            load(directory, importmode, **kwargs)
    except Exception:
        pass


def _files(session, root):
    """Files under `root` in pytest's walk: folders pytest would not enter are skipped."""
    if root.is_file():
        _load_conftests(session, root.parent)
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(str(root)):
        here = type(root)(dirpath)
        _load_conftests(session, here)
        dirnames[:] = sorted(
            d for d in dirnames if d != "__pycache__" and not _ignored(session, here / d)
        )
        for name in sorted(filenames):
            yield here / name


def walk(session, spec):
    """(missed files owned here, this shard's files pytest would not collect, files checked)."""
    rootpath = session.config.rootpath
    planned = set(spec["planned"])
    own = set(spec.get("own", []))
    owners = spec["owners"]
    me = spec["shard"]
    missed, not_collected, checked, seen = [], [], 0, set()
    roots = [type(rootpath)(r) for r in spec["roots"]]
    for root in roots:
        if not root.exists():
            continue
        for path in _files(session, root):
            rel = _rel(path, rootpath)
            if rel is None or rel in seen:
                continue
            seen.add(rel)
            mine = rel in own
            if not mine and (rel in planned or owner(rel, owners) != me):
                continue
            checked += 1
            collected = _collected(session, path)
            if collected and not mine:
                missed.append(rel)
            elif not collected and mine:
                not_collected.append(rel)
    # A file of this shard under a folder pytest would not enter was never reached.
    for rel in sorted(own - seen):
        path = rootpath / rel
        if any(_under(path, root) for root in roots):
            not_collected.append(rel)
    return missed, sorted(not_collected), checked


def _under(path, root):
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _spec(config):
    path = config.getoption("parallel_pytest_net", None)
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    spec = _spec(session.config)
    if spec is None or not spec.get("owners"):
        return
    started = time.perf_counter()
    missed, not_collected, checked = walk(session, spec)
    seconds = time.perf_counter() - started
    rootpath = session.config.rootpath
    setattr(session.config, _KEY, (set(missed), set(not_collected)))
    # Collection starts from `config.args`: the owner adds the missed files to it.
    session.config.args.extend(str(rootpath / rel) for rel in missed)
    if hasattr(session.config, "workerinput") or not spec.get("out"):
        return
    with open(spec["out"], "w", encoding="utf-8") as fh:
        json.dump(
            {
                "missed": [{"file": rel, "shard": spec["shard"]} for rel in missed],
                "not_collected": not_collected,
                "files_checked": checked,
                "walk_seconds": round(seconds, 4),
            },
            fh,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_ignore_collect(collection_path, config):
    """A missed file is collected whatever a selection plugin prunes."""
    missed, _ = getattr(config, _KEY, (None, None))
    if missed and _rel(collection_path, config.rootpath) in missed:
        return False
    return None


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """The selection plugin keeps only planned tests; its `pytest_collection_modifyitems` is
    wrapped so the missed files' items survive it, and only it (`-k`, `-m` and the suite's own
    hooks still apply to them)."""
    hook = config.hook.pytest_collection_modifyitems
    for impl in hook.get_hookimpls():
        if impl.plugin_name == _SELECTION:
            impl.function = _keeping_missed(impl.function)


def _keeping_missed(select):
    def wrapped(session, config, items):
        missed, _ = getattr(config, _KEY, (None, None))
        extra = [i for i in items if missed and _file(i) in missed]
        select(session=session, config=config, items=items)
        kept = {id(i) for i in items}
        back = [i for i in extra if id(i) not in kept]
        items.extend(back)
        _undeselect(config, {id(i) for i in back})

    return wrapped


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Items of planned files a plain run would not collect are left out."""
    _, not_collected = getattr(config, _KEY, (None, None))
    if not not_collected:
        return
    drop = [i for i in items if _file(i) in not_collected]
    if drop:
        items[:] = [i for i in items if _file(i) not in not_collected]
        config.hook.pytest_deselected(items=drop)


def _undeselect(config, ids):
    """The selection reported the missed files' items as deselected; they run, so the
    terminal summary must not count them."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", None)
    if ids and stats and stats.get("deselected"):
        stats["deselected"] = [i for i in stats["deselected"] if id(i) not in ids]
        if not stats["deselected"]:
            del stats["deselected"]


def _file(item):
    return item.nodeid.split("::", 1)[0]
