import json
import subprocess
import sys
from pathlib import Path

from parallel_pytest_plugin import probe

SOURCE = Path(probe.__file__).read_text(encoding="utf-8")


def test_info_reports_the_interpreter_and_pytest():
    info = probe.info()
    assert info["executable"] == sys.executable
    assert info["pytest"]
    assert probe.version("no-such-distribution-here") is None


def test_run_as_python_c_prints_one_json_line_despite_a_shadowing_json_module(tmp_path):
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed')\n")
    out = subprocess.run(
        [sys.executable, "-c", SOURCE], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) == {
        "executable",
        "version",
        "pytest",
        "xdist",
    }
