"""`miosa run --watch N -- CMD`: CMD runs as a child; polls carry If-None-Match; a new live
release restarts CMD (SIGTERM, then SIGKILL after --grace); signals reach CMD; miosa exits
with CMD's code."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest
from django.utils import timezone

from environments import services
from environments.models import AuditEvent, RuntimeToken

from .conftest import client_command, client_environment, wait_for

# Each start appends "<pid> <MIOSA_RELEASE>" to the file named by argv[1], then waits.
CHILD = """
import os, signal, sys, time
if len(sys.argv) > 2 and sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if len(sys.argv) > 2 and sys.argv[2] == "note-hup":
    signal.signal(signal.SIGHUP, lambda *_: open(sys.argv[1] + ".hup", "a").write("hup\\n"))
with open(sys.argv[1], "a") as log:
    log.write(f"{os.getpid()} {os.environ['MIOSA_RELEASE']}\\n")
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def watch(server, tmp_path, shipped):
    """watch(token, *miosa_args, child_args=[]) -> (process, read_starts)."""
    started: list[subprocess.Popen] = []
    log = tmp_path / "starts.log"

    def starts() -> list[tuple[int, str]]:
        if not log.exists():
            return []
        return [
            (int(pid), release)
            for pid, release in (line.split() for line in log.read_text().splitlines())
        ]

    def start(token: str, *args: str, child_args: tuple[str, ...] = ()):
        process = subprocess.Popen(
            client_command("run", *args, "--", sys.executable, "-c", CHILD, str(log), *child_args),
            env=client_environment(server, token),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process, starts

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    for pid, _ in starts():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def not_modified_fetches() -> int:
    return sum(
        1
        for detail in AuditEvent.objects.filter(action="runtime.fetch").values_list(
            "detail", flat=True
        )
        if detail.get("not_modified")
    )


def test_watch_restarts_the_command_when_an_apply_makes_a_new_release(
    watch, production, runtime_token, actor
):
    process, starts = watch(runtime_token(production), "--watch", "0.2", "--grace", "5")
    [(first, release)] = wait_for(starts, what="the first start")
    assert release == "1"

    # A pending change (production is staged) is not live: polls answer 304, no restart.
    services.set_variable(
        environment=production, key="FEATURE", value="on", is_secret=False, actor=actor
    )
    seen = not_modified_fetches()
    wait_for(lambda: not_modified_fetches() >= seen + 3, what="three polls answered 304")
    assert starts() == [(first, "1")]
    assert process.poll() is None

    services.apply_changes(environment=production, actor=actor)
    wait_for(lambda: len(starts()) == 2, what="the restart")
    [_, (second, release)] = starts()
    assert release == "2"
    assert second != first
    assert not alive(first)

    # SIGTERM to miosa reaches the command; miosa exits with its status (128 + 15).
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 128 + signal.SIGTERM
    assert not alive(second)
    assert "release 2 is live: restarting" in process.stderr.read()
    assert len(starts()) == 2


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period(
    watch, staging, runtime_token, actor
):
    process, starts = watch(
        runtime_token(staging), "--watch", "0.2", "--grace", "0.5", child_args=("ignore-term",)
    )
    [(first, _)] = wait_for(starts, what="the first start")
    services.set_variable(environment=staging, key="X", value="1", is_secret=False, actor=actor)
    wait_for(lambda: len(starts()) == 2, what="the restart")
    assert starts()[1][1] == "2"
    assert not alive(first)
    # SIGINT (a terminal's Ctrl-C) is passed on too: the command ignores only SIGTERM.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 128 + signal.SIGINT


def test_when_the_command_exits_by_itself_miosa_exits_with_its_code(
    miosa, shipped, staging, runtime_token
):
    result = miosa(
        "run",
        "--watch",
        "30",
        "--",
        sys.executable,
        "-c",
        "raise SystemExit(5)",
        token=runtime_token(staging),
    )
    assert result.returncode == 5


def test_a_failing_poll_keeps_the_command_running(watch, staging, runtime_token):
    token = runtime_token(staging)
    process, starts = watch(token, "--watch", "0.2")
    wait_for(starts, what="the first start")
    RuntimeToken.objects.filter(environment=staging).update(revoked_at=timezone.now())
    # Two refused polls, each one line on stderr; the command keeps running.
    lines = [process.stderr.readline(), process.stderr.readline()]
    assert all("CMD keeps running, next try in 0.2 s" in line for line in lines), lines
    assert all("HTTP 401" in line for line in lines), lines
    assert process.poll() is None
    assert len(starts()) == 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 128 + signal.SIGTERM


def test_watch_does_not_start_the_command_when_the_first_fetch_fails(miosa, shipped, tmp_path):
    result = miosa("run", "--watch", "1", "--", "touch", "started", token="mio_rt_nope")
    assert result.returncode == 1
    assert not (tmp_path / "started").exists()


def test_sighup_is_passed_on_without_stopping_anything(watch, staging, runtime_token, tmp_path):
    process, starts = watch(runtime_token(staging), "--watch", "0.2", child_args=("note-hup",))
    wait_for(starts, what="the first start")
    process.send_signal(signal.SIGHUP)
    hup = tmp_path / "starts.log.hup"
    wait_for(lambda: hup.exists() and hup.read_text() == "hup\n", what="the command's SIGHUP")
    assert process.poll() is None
    assert len(starts()) == 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 128 + signal.SIGTERM
