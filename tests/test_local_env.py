"""`make run` writes .env once, readable by its owner only: it holds the keys."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from environments.crypto import Keyring
from project import local_env

ROOT = Path(__file__).resolve().parent.parent


def assert_valid_local_env(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dotenv_values(path)
    assert set(values) == {"DEBUG", "SECRET_KEY", "ENCRYPTION_KEYS"}
    assert values["DEBUG"] == "true"
    assert len(values["SECRET_KEY"]) >= 50
    assert Keyring.parse(values["ENCRYPTION_KEYS"]).ids == ("local1",)


def test_make_writes_env_with_mode_0600_even_under_a_permissive_umask(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("needs make")
    (tmp_path / "project").mkdir()
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "project" / "local_env.py", tmp_path / "project" / "local_env.py")
    result = subprocess.run(
        ["make", "--no-print-directory", ".env", f"PY={sys.executable}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        umask=0,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert_valid_local_env(tmp_path / ".env")
    assert "mode 0600" in result.stdout
    assert (tmp_path / ".env").read_text().split("SECRET_KEY=")[1][:20] not in result.stdout


def test_an_existing_env_is_never_overwritten(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=the-only-copy\n")
    with pytest.raises(FileExistsError):
        local_env.write(path)
    assert path.read_text() == "SECRET_KEY=the-only-copy\n"
    result = subprocess.run(
        [sys.executable, str(ROOT / "project" / "local_env.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "exists already" in result.stderr


def test_each_env_gets_its_own_keys(tmp_path):
    local_env.write(tmp_path / "a")
    local_env.write(tmp_path / "b")
    assert_valid_local_env(tmp_path / "a")
    assert dotenv_values(tmp_path / "a") != dotenv_values(tmp_path / "b")
