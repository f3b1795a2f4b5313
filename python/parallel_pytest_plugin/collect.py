"""parallel-pytest collection plugin (written by `parallel-pytest plan --collect`; safe to delete).

Loaded with `-p _parallel_pytest_collect` and given `--parallel-pytest-collect-out=PATH`.
When collection finishes (after `-m`, `-k` and every `pytest_collection_modifyitems` hook),
it writes what pytest collected, whatever the verbosity or output plugins say on the terminal.

Writes (Rust: `python::Collection`), items in pytest's order, paths rootdir-relative:
`{"items": [{"nodeid": str, "file": str, "markers": [str], "keywords": [str],
"xdist_group": str | null}]}`
`file` is the node id's path part; `markers` are the names of every marker that applies
(closest first, each once); `keywords` the names `-k` matches against, sorted.

Works on pytest 7.0+.
"""

import json
import os

_OPTION = "parallel_pytest_collect_out"


def pytest_addoption(parser):
    group = parser.getgroup("parallel-pytest")
    group.addoption(
        "--parallel-pytest-collect-out",
        dest=_OPTION,
        default=None,
        metavar="PATH",
        help="Write every collected test with its markers and keywords as JSON.",
    )


def xdist_group(item):
    """The item's `xdist_group` name, or None."""
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    if mark.args:
        return str(mark.args[0])
    return str(mark.kwargs.get("name", "default"))


def describe(nodeid, markers, keywords, group):
    """One item of the output document."""
    if group is not None and nodeid.endswith("@" + group):
        # `--dist loadgroup` renames items on xdist workers; the plan knows the plain id.
        nodeid = nodeid[: -len(group) - 1]
    unique = []
    for name in markers:
        if name not in unique:
            unique.append(name)
    return {
        "nodeid": nodeid,
        "file": nodeid.split("::", 1)[0],
        "markers": unique,
        "keywords": sorted({str(k) for k in keywords}),
        "xdist_group": group,
    }


def document(items):
    """The output document for pytest items."""
    return {
        "items": [
            describe(
                item.nodeid,
                [m.name for m in item.iter_markers()],
                item.keywords,
                xdist_group(item),
            )
            for item in items
        ]
    }


def pytest_collection_finish(session):
    path = session.config.getoption(_OPTION)
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(document(session.items), fh)
    os.replace(tmp, path)
