"""Interpreter probe (run by parallel-pytest as `python -c <this file>`).

Prints one JSON object on its last line of output:
`{"executable": str, "version": str, "pytest": str | null, "xdist": str | null}`
(Rust: `python::PythonInfo`).

`python -c` puts the current directory first on `sys.path`, where a project's own `json.py`
or `importlib/` could shadow the standard library, so it is removed before any other import.
`importlib.metadata` reads installed distributions without importing pytest itself (no
plugins, no conftest side effects).
"""

import sys

sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import json  # noqa: E402
import platform  # noqa: E402


def version(name):
    """Installed version of distribution `name`, or None."""
    try:
        from importlib import metadata
    except ImportError:
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


def info():
    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "pytest": version("pytest"),
        "xdist": version("pytest-xdist"),
    }


if __name__ == "__main__":
    print(json.dumps(info()))
