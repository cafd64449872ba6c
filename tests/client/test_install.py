"""`miosa` is a console script of the project (pyproject) and runs as `python miosa.py`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import MIOSA

ROOT = MIOSA.parent


def test_the_console_script_is_declared_and_packages_miosa_py_alone():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"miosa": "miosa:main"}
    assert project["tool"]["setuptools"]["py-modules"] == ["miosa"]
    assert project["tool"]["uv"]["package"] is True
    # The entry point exists and is the one `python miosa.py` runs.
    assert "def main(argv" in MIOSA.read_text()
    assert MIOSA.read_text().rstrip().endswith('if __name__ == "__main__":\n    sys.exit(main())')


def test_the_installed_console_script_runs():
    """`make install` (uv sync) puts .venv/bin/miosa beside the interpreter running the tests.
    An older virtualenv, synced before the script existed, lacks it: required under CI."""
    script = Path(sys.executable).parent / "miosa"
    if not script.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{script} is missing: `make install` did not install the console script")
        pytest.skip(f"{script} is not installed in this virtualenv (run make install)")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert (result.returncode, result.stdout) == (0, "miosa 1.0\n")
    # It is this checkout's miosa.py, not a copy.
    result = subprocess.run(
        [sys.executable, "-c", "import miosa; print(miosa.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.stdout.strip() == str(MIOSA)
