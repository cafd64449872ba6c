"""`miosa env pull -o PATH` (SPEC §18): a regular file is replaced atomically; a device, a FIFO
or /dev/stdout is written through, never replaced; through a symbolic link its target is
replaced in its own directory and the link stays.

Run as root, a wrong decision would rename a file over /dev/null and break the machine: each
test of a system path first asserts what the client decides for it (in this process, nothing
written), and runs the client for real only after that."""

from __future__ import annotations

import glob
import importlib.util
import os
import stat

import pytest

from environments import services

from .conftest import MIOSA
from .test_env_pull import served


def load_client():
    spec = importlib.util.spec_from_file_location("miosa_under_test", MIOSA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def token(shipped, staging, actor, runtime_token):
    services.set_variable(
        environment=staging,
        key="API_URL",
        value="https://api.example",
        is_secret=False,
        actor=actor,
    )
    return runtime_token(staging)


def node(path: str) -> tuple:
    """What must not change about a node: its inode, type and mode, owner, device number."""
    found = os.lstat(path)
    return (found.st_ino, found.st_mode, found.st_uid, found.st_rdev)


def test_what_the_client_decides_for_each_kind_of_target(tmp_path):
    client = load_client()
    assert client.output_target("-") == ("stdout", "-")
    for own in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"):
        assert client.output_target(own) == ("stdout", "-"), own
    assert client.output_target("/dev/stderr") == ("fd", "2")
    assert client.output_target("/dev/fd/7") == ("fd", "7")
    for device in ("/dev/null", "/dev/zero", "/dev/no-such-device", "/proc/sys/kernel/x"):
        assert client.output_target(device) == ("through", device), device

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert client.output_target(str(fifo)) == ("through", str(fifo))
    to_null = tmp_path / "to-null"
    to_null.symlink_to("/dev/null")
    assert client.output_target(str(to_null)) == ("through", str(to_null))

    regular = tmp_path / "app.env"
    regular.write_text("OLD=1\n")
    assert client.output_target(str(regular)) == ("replace", str(regular))
    assert client.output_target(str(tmp_path / "new.env")) == ("replace", str(tmp_path / "new.env"))
    (tmp_path / "b").mkdir()
    link = tmp_path / "link"
    link.symlink_to("b/target.env")  # dangling: its target is where the file goes
    assert client.output_target(str(link)) == ("replace", str(tmp_path / "b" / "target.env"))
    (tmp_path / "b" / "target.env").write_text("OLD=1\n")
    assert client.output_target(str(link)) == ("replace", str(tmp_path / "b" / "target.env"))


def test_pull_to_dev_null_writes_through_and_leaves_the_device_alone(miosa, token):
    before = node("/dev/null")
    assert stat.S_ISCHR(before[1])
    # Decided first, in this process: only a write-through may run against /dev/null.
    assert load_client().output_target("/dev/null") == ("through", "/dev/null")

    result = miosa("env", "pull", "-o", "/dev/null", token=token)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert node("/dev/null") == before
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert glob.glob("/dev/.null.miosa-*") == []


def test_pull_to_a_fifo_writes_through_and_leaves_the_fifo(miosa, server, token, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    before = node(str(fifo))
    # The reader is open before the client runs (non-blocking: it opens at once), so the
    # client's open for writing does not wait, and nothing here can hang.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        result = miosa("env", "pull", "-o", str(fifo), token=token)
        assert result.returncode == 0, result.stderr
        received = b""
        while chunk := os.read(reader, 65536):
            received += chunk
    finally:
        os.close(reader)
    assert received == served(server, token, "dotenv")
    assert node(str(fifo)) == before
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert stat.S_IMODE(os.lstat(fifo).st_mode) == 0o644  # not made 0600: it is not ours
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_pull_to_dev_stdout_writes_to_stdout_and_leaves_the_link(miosa, server, token):
    before = node("/dev/stdout")
    assert load_client().output_target("/dev/stdout") == ("stdout", "-")

    result = miosa("env", "pull", "--format", "json", "-o", "/dev/stdout", token=token)
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == served(server, token, "json")
    assert node("/dev/stdout") == before
    assert glob.glob("/dev/.stdout.miosa-*") == []


def test_through_a_symlink_its_target_is_replaced_in_its_own_directory(
    miosa, server, token, tmp_path
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    target = tmp_path / "b" / "app.env"
    target.write_text("OLD=1\n")
    target.chmod(0o644)
    inode = target.stat().st_ino
    link = tmp_path / "a" / "app.env"
    link.symlink_to("../b/app.env")

    result = miosa("env", "pull", "-o", str(link), token=token)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == "../b/app.env"
    assert target.read_bytes() == served(server, token, "dotenv")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != inode  # replaced, by a rename in b/
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["app.env"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["app.env"]


def test_a_dangling_symlink_gets_its_target_written(miosa, server, token, tmp_path):
    link = tmp_path / "app.env"
    link.symlink_to("missing.env")
    result = miosa("env", "pull", "-o", str(link), token=token)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert (tmp_path / "missing.env").read_bytes() == served(server, token, "dotenv")
    assert stat.S_IMODE((tmp_path / "missing.env").stat().st_mode) == 0o600


def test_a_directory_is_not_replaced(miosa, token, tmp_path):
    (tmp_path / "app.env").mkdir()
    result = miosa("env", "pull", "-o", str(tmp_path / "app.env"), token=token)
    assert result.returncode == 2
    assert result.stderr.startswith(f"miosa: cannot write {tmp_path / 'app.env'}:")
    assert (tmp_path / "app.env").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.env"]
