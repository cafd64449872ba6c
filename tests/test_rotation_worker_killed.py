"""A real `manage.py db_worker` killed (SIGKILL) in the middle of a rotation, between its steps:
the second login is made and tested, and the worker dies inside the release's transaction (held
there by a lock this test takes on the environment's row). The periodic command then restarts the
chain and a new worker finishes it: one release, one second login, the old one revoked. PostgreSQL
only (the worker is another process sharing the test database)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from environments import services
from environments.models import AuditEvent, Environment, Rotation
from tests.concurrently import skip_unless_postgres
from tests.dataservers.servers import connect_as
from tests.runtime import runtime_env
from tests.test_tasks_workers import ROOT, wait

pytest_plugins = ["tests.data_services_support"]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _app_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _worker(name: str, *, batch: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _app_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ROTATION_DRAIN_SECONDS": "0",
        "ROTATION_CHECK_SECONDS": "0.1",
    }
    args = [
        *(["--batch"] if batch else []),
        "--no-startup-delay",
        "--interval=0" if batch else "--interval=0.05",
        f"--worker-id={name}",
        "--verbosity=0",
    ]
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _can_login(url: str) -> bool:
    try:
        with connect_as(url) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def _waiting_on_lock(app: psycopg.Connection) -> bool:
    """Whether another session of the test database waits on a lock (the worker, held)."""
    row = app.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchone()
    return row[0] > 0


def test_a_worker_killed_between_steps_resumes_where_it_was(shop_staging, pg_server, actor):
    skip_unless_postgres()
    service = services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    wait(_worker("provision", batch=True))
    service.refresh_from_db()
    assert service.state == "ready"
    old_url = runtime_env(Environment.objects.get(pk=shop_staging.pk))["DATABASE_URL"]
    releases_before = shop_staging.releases.count()

    # Started before the lock below (starting takes the environment's row too); no worker runs yet.
    rotation = services.start_rotation(service=service, actor=actor)
    worker = None
    with psycopg.connect(_app_url(), autocommit=False) as holder:
        # Hold the environment's row: the worker's release step waits on it.
        holder.execute(
            "SELECT 1 FROM environments_environment WHERE id = %s FOR UPDATE", [shop_staging.pk]
        )
        try:
            worker = _worker("doomed", batch=False)
            with psycopg.connect(_app_url(), autocommit=True) as watch:
                deadline = time.monotonic() + 60
                while not _waiting_on_lock(watch):
                    assert time.monotonic() < deadline, "the worker never reached the release"
                    assert worker.poll() is None, worker.stdout.read().decode()
                    time.sleep(0.05)
            # Between steps: the second login exists and works, nothing is released yet.
            row = Rotation.objects.get(pk=rotation.pk)
            assert row.state == Rotation.State.CREATING and row.released_at is None
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
            holder.rollback()

    # The dead run's lease runs out; the periodic command restarts the chain; a worker resumes.
    Rotation.objects.filter(pk=rotation.pk).update(lease_until=timezone.now() - timedelta(1))
    call_command("rotate_due_data_services", stdout=io.StringIO())
    deadline = time.monotonic() + 60
    while Rotation.objects.get(pk=rotation.pk).state != Rotation.State.REVOKED:
        assert time.monotonic() < deadline, Rotation.objects.get(pk=rotation.pk).state
        wait(_worker("resumed", batch=True))
        time.sleep(0.1)

    staging = Environment.objects.get(pk=shop_staging.pk)
    new_url = runtime_env(staging)["DATABASE_URL"]
    assert new_url != old_url
    assert _can_login(new_url)
    assert not _can_login(old_url)  # revoked only after the resumed run converged
    assert staging.releases.count() == releases_before + 1  # released once, not twice
    releases = list(
        AuditEvent.objects.filter(action="rotation.release").values_list("action", flat=True)
    )
    assert releases == ["rotation.release"]
