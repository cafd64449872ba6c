"""`miosa env pull`: the runtime environment to a file of mode 0600 (replaced atomically) or
to stdout, byte for byte what the server sends."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request

import pytest
from dotenv import dotenv_values

from environments import services

from .conftest import client_command, client_environment

VALUES = {
    "API_URL": "https://api.example.com",
    "MULTI": 'line one\nline "two"\\ $HOME `id` $(id)',
    "EMPTY": "",
    "UNICODE": "größe ✓",
}


@pytest.fixture
def token(shipped, staging, actor, runtime_token):
    for key, value in VALUES.items():
        services.set_variable(
            environment=staging, key=key, value=value, is_secret=key == "MULTI", actor=actor
        )
    return runtime_token(staging)


def served(server: str, token: str, fmt: str) -> bytes:
    request = urllib.request.Request(
        f"{server}/api/v1/runtime/env?format={fmt}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_pull_to_a_file_is_mode_0600_with_the_exact_content(miosa, server, token, tmp_path):
    umask = os.umask(0)  # inherited by the client: the mode must not come from the umask
    try:
        result = miosa("env", "pull", "-o", "app.env", token=token)
    finally:
        os.umask(umask)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    path = tmp_path / "app.env"
    assert mode(path) == 0o600
    assert path.read_bytes() == served(server, token, "dotenv")
    values = dotenv_values(path, interpolate=False)
    assert {key: values[key] for key in VALUES} == VALUES
    assert values["MIOSA_ENVIRONMENT"] == "staging"
    # Nothing left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.env"]


def test_pull_replaces_a_readable_file_with_a_private_one(miosa, token, tmp_path):
    path = tmp_path / "app.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    inode = path.stat().st_ino
    result = miosa("env", "pull", "--format", "json", "--output", str(path), token=token)
    assert result.returncode == 0, result.stderr
    assert mode(path) == 0o600
    assert path.stat().st_ino != inode  # a new file, renamed over the old one
    assert {k: json.loads(path.read_text())["env"][k] for k in VALUES} == VALUES


def test_pull_to_stdout(miosa, server, token):
    result = miosa("env", "pull", "--format", "json", token=token)
    assert result.returncode == 0
    assert result.stdout.encode() == served(server, token, "json")


def test_a_refused_pull_writes_nothing(miosa, shipped, tmp_path):
    path = tmp_path / "app.env"
    path.write_text("KEEP=1\n")
    result = miosa("env", "pull", "-o", str(path), token="mio_rt_nope")
    assert result.returncode == 1
    assert path.read_text() == "KEEP=1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.env"]


def test_a_pull_into_a_missing_directory_is_one_line(miosa, token, tmp_path):
    result = miosa("env", "pull", "-o", str(tmp_path / "no" / "app.env"), token=token)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"miosa: cannot write {tmp_path / 'no' / 'app.env'}:")


def test_pull_in_shell_format_sources_back_exactly(miosa, server, token, tmp_path):
    result = miosa("env", "pull", "--format", "shell", "-o", "env.sh", token=token)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "env.sh"
    assert mode(path) == 0o600
    assert path.read_bytes() == served(server, token, "shell")
    script = (
        "set -a; . ./env.sh; exec " + sys.executable + " -c "
        "'import os, json; print(json.dumps({k: os.environ[k] for k in "
        + repr(sorted(VALUES)).replace("'", '"')
        + "}))'"
    )
    sourced = subprocess.run(
        ["sh", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"},
    )
    assert sourced.returncode == 0, sourced.stderr
    assert json.loads(sourced.stdout) == VALUES


def test_a_closed_stdout_ends_the_pull_quietly(server, token, tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the first write fails with EPIPE
    try:
        result = subprocess.run(
            client_command("env", "pull"),
            env=client_environment(server, token),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (128 + 13, "")
