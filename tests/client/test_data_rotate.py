"""`miosa data rotate SERVICE_ID [--wait]` (SPEC §14) with a personal API token, against the live
test server and the real Redis: it prints the progress and exits 0 once the old credential is
revoked, 1 when the rotation is stuck (or failed, or cancelled)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from django_tasks_db.models import DBTaskResult

from environments import services
from environments.models import DataService, Rotation

from .conftest import client_command, client_environment, wait_for

pytest_plugins = ["tests.data_services_support"]


@pytest.fixture
def one_at_a_time(monkeypatch):
    """The live server's requests and the test's own database work take turns (SQLite's test
    database is one connection shared by every thread; see test_rotation_e2e)."""
    lock = threading.RLock()
    original = WSGIHandler.__call__

    def call(self, environ, start_response):
        with lock:
            return original(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", call)
    return lock


@pytest.fixture
def cache(shop_staging, redis_server, worker, actor) -> DataService:
    service = worker(
        services.create_data_service, environment=shop_staging, kind="redis", actor=actor
    )
    assert worker.run() == ["ready"]
    service.refresh_from_db()
    return service


def start(server, token, tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        client_command("data", *args),
        env=client_environment(server, token),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_worker_until(lock, worker, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with lock:
            worker.run()
        time.sleep(0.1)


def test_rotate_waits_until_revoked_and_prints_the_progress(
    server, shop, cache, worker, personal_token, tmp_path, settings, one_at_a_time
):
    settings.ROTATION_CHECK_SECONDS = 0.2
    process = start(
        server,
        personal_token,
        tmp_path,
        "rotate",
        "--deployment",
        shop.name,
        str(cache.pk),
        "--wait",
    )
    wait_for(DBTaskResult.objects.exists, what="the rotation's task")
    run_worker_until(one_at_a_time, worker, process)
    stdout, stderr = process.communicate(timeout=30)
    assert (process.returncode, stderr) == (0, ""), (stdout, stderr)
    rotation = Rotation.objects.get()
    lines = stdout.splitlines()
    assert lines[0].startswith(f"rotation {rotation.pk}  creating  0 of 0 instances")
    assert lines[-1].startswith(f"rotation {rotation.pk}  revoked  ")
    assert rotation.unseal("old_url").split("@")[0] not in stdout


def test_rotate_exits_1_when_the_rotation_is_stuck(
    server, shop, shop_staging, cache, worker, personal_token, tmp_path, settings, one_at_a_time,
    actor,
):  # fmt: skip
    settings.ROTATION_CHECK_SECONDS = 0.2
    settings.ROTATION_REVOKE_AFTER_HOURS = 0.5 / 3600
    _, raw = services.create_runtime_token(environment=shop_staging, name="web", actor=actor)
    # An instance on the old credential that never restarts (it fetched once, at boot).
    with one_at_a_time:
        booted = Client().get(
            "/api/v1/runtime/env",
            headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": "web-3"},
        )
    assert booted.status_code == 200
    process = start(
        server,
        personal_token,
        tmp_path,
        "rotate",
        "--deployment",
        shop.name,
        str(cache.pk),
        "--wait",
    )
    wait_for(DBTaskResult.objects.exists, what="the rotation's task")
    run_worker_until(one_at_a_time, worker, process)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 1, (stdout, stderr)
    assert f"web-3 (release {booted.json()['release']})" in stdout
    assert stderr.startswith(f"miosa: rotation {Rotation.objects.get().pk} is stuck")


def test_a_second_rotation_is_refused_with_exit_1(
    miosa, shop, cache, worker, personal_token, actor
):
    worker(services.start_rotation, service=cache, actor=actor)
    done = miosa("data", "rotate", "--deployment", shop.name, str(cache.pk), token=personal_token)
    assert done.returncode == 1
    assert "(rotation_in_progress, HTTP 409)" in done.stderr
