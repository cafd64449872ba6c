"""Every wait of `miosa run` ends at once on SIGTERM/SIGINT (SPEC §18): the boot's backoff
and Retry-After, a watch poll's Retry-After and the watch interval. miosa passes the signal on
and exits with the command's status; before any command runs SIGTERM exits 143. On Linux the
command gets SIGTERM when miosa itself dies, even by SIGKILL."""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import client_command, client_environment, closed_port, wait_for

# Writes its pid to argv[1] once it runs, then waits.
CHILD = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"

RUNTIME = {
    "deployment": "shop",
    "environment": "production",
    "version": 1,
    "release": 1,
    "config_revision": 1,
    "env": {"A": "1", "MIOSA_RELEASE": "1"},
}


class Scripted(http.server.BaseHTTPRequestHandler):
    """The runtime answer for the first `answers` requests, then 429 with `retry_after`."""

    answers = 0
    retry_after = "60"
    seen: list = []

    def do_GET(self):
        cls = type(self)
        cls.seen.append(time.monotonic())
        if len(cls.seen) <= cls.answers:
            status, body = 200, json.dumps(RUNTIME).encode()
        else:
            status = 429
            body = json.dumps({"error": {"code": "rate_limited", "message": "Slow down."}}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", cls.retry_after)
        else:
            self.send_header("ETag", '"r1"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr(Scripted, "seen", [])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def alive(pid: int) -> bool:
    """Running: not gone, and not a zombie nobody reaped (PID 1 may not reap here)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.fixture
def start(tmp_path):
    """start(url, *run_args, child=True) -> (miosa process, path of the child's pid file)."""
    started: list[subprocess.Popen] = []
    pid_file = tmp_path / "child.pid"

    def run(url: str, *args: str, child: bool = True):
        command = [sys.executable, "-c", CHILD, str(pid_file)] if child else ["true"]
        process = subprocess.Popen(
            client_command("run", *args, "--", *command),
            env=client_environment(url, "mio_rt_signals-test-token"),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process, pid_file

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def stops_within(process: subprocess.Popen, seconds: float) -> tuple[int, float]:
    """(exit code, seconds it took): the wait is bounded, it raises if miosa hangs on."""
    started = time.monotonic()
    code = process.wait(timeout=seconds)
    return code, time.monotonic() - started


def stderr_line(process: subprocess.Popen, timeout: float = 20) -> str:
    """miosa's next line on stderr; miosa is killed if none comes within `timeout`."""
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        return process.stderr.readline()
    finally:
        timer.cancel()


def child_pid(pid_file: Path) -> int:
    return int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the command"))


def test_sigterm_during_a_60_s_retry_after_at_boot_exits_143_at_once(scripted, start):
    process, _ = start(scripted, "--boot-timeout", "120", "--no-fallback", child=False)
    line = stderr_line(process)
    assert "Slow down. (rate_limited, HTTP 429); retrying in 60.0 s" in line
    process.send_signal(signal.SIGTERM)
    code, took = stops_within(process, 2)
    assert code == 128 + signal.SIGTERM
    assert took < 2
    assert len(Scripted.seen) == 1


def test_sigint_during_the_boot_backoff_exits_130(start):
    process, _ = start(f"http://127.0.0.1:{closed_port()}", "--no-fallback", child=False)
    line = stderr_line(process)
    assert "Connection refused; retrying in" in line
    process.send_signal(signal.SIGINT)
    code, took = stops_within(process, 2)
    assert code == 128 + signal.SIGINT
    assert took < 2


def test_sigterm_during_a_watch_polls_retry_after_stops_the_command_and_exits_at_once(
    scripted, start, monkeypatch
):
    monkeypatch.setattr(Scripted, "answers", 1)
    process, pid_file = start(scripted, "--watch", "0.2", "--no-fallback")
    pid = child_pid(pid_file)
    line = stderr_line(process)
    assert "Slow down. (rate_limited, HTTP 429); CMD keeps running, next try in 60 s" in line
    process.send_signal(signal.SIGTERM)
    code, took = stops_within(process, 2)
    assert code == 128 + signal.SIGTERM  # the command's status: it was passed SIGTERM
    assert took < 2
    assert not alive(pid)
    assert len(Scripted.seen) == 2


def test_a_watch_poll_honours_retry_after(scripted, start, monkeypatch):
    monkeypatch.setattr(Scripted, "answers", 1)
    monkeypatch.setattr(Scripted, "retry_after", "1")
    process, pid_file = start(scripted, "--watch", "0.1", "--no-fallback")
    child_pid(pid_file)
    wait_for(lambda: len(Scripted.seen) >= 4, what="three polls answered 429")
    polls = Scripted.seen[1:4]
    # After a 429 the next poll waits Retry-After (1 s), not the watch interval (0.1 s).
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(polls))
    process.send_signal(signal.SIGTERM)
    assert stops_within(process, 5)[0] == 128 + signal.SIGTERM


def test_sigterm_during_a_long_watch_interval_exits_with_the_commands_status(
    scripted, start, monkeypatch
):
    monkeypatch.setattr(Scripted, "answers", 100)
    process, pid_file = start(scripted, "--watch", "60", "--no-fallback")
    pid = child_pid(pid_file)
    process.send_signal(signal.SIGTERM)
    code, took = stops_within(process, 2)
    assert code == 128 + signal.SIGTERM
    assert took < 2
    assert not alive(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_miosa_ends_the_command(scripted, start, monkeypatch):
    monkeypatch.setattr(Scripted, "answers", 100)
    process, pid_file = start(scripted, "--watch", "30", "--no-fallback")
    pid = child_pid(pid_file)
    assert alive(pid)
    process.kill()
    process.wait(timeout=10)
    wait_for(lambda: not alive(pid), timeout=5, what="the command to end with miosa")
