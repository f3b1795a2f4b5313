"""parallel-pytest's Python side: the pytest plugins and the interpreter probe.

parallel-pytest (a Rust binary) embeds each module of this package and writes it, as a
standalone module, to `<out-dir>/plugin/` (or a private temporary folder for `plan --collect`),
then loads it with `-p <module>` through `PYTHONPATH`:

- `selection.py` -> `_parallel_pytest_selection`: keeps the shard's tests;
- `isolation.py` -> `_parallel_pytest_isolation`: serial marker and the two phases;
- `collect.py` -> `_parallel_pytest_collect`: writes what pytest collected as JSON;
- `probe.py`: run with `python -c`, prints the interpreter's versions as JSON.

Each module therefore imports nothing from this package; each documents the JSON it reads or
writes, and the Rust side (`src/python/handoff.rs`) holds one typed struct per document.
"""
