"""Rotation end to end (SPEC §14) on the real PostgreSQL and Redis: `miosa run --watch` instances
hold connections with the old credential; a rotation releases a new one; they restart on it; only
then is the old credential revoked. An instance that never restarts keeps the rotation converging,
then stuck past revoke_after, until an admin forces it. The test runs the worker's queued tasks
itself, as `manage.py db_worker` would, while the live server answers the instances."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest
import redis as redis_py
from django.core.handlers.wsgi import WSGIHandler

from environments import services
from environments.dataservers import parse_url
from environments.models import DataService, Environment, Rotation
from tests.dataservers.servers import connect_as
from tests.runtime import runtime_env

from .conftest import client_command, client_environment, wait_for

pytest_plugins = ["tests.data_services_support"]

# Connects with DATABASE_URL and REDIS_URL, logs "<time> <instance> <release> <pg user>
# <redis password's last 6>" to argv[1], then keeps both connections busy.
CHILD = """
import os, sys, time
import psycopg, redis
db = psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1),
                     autocommit=True)
user = db.execute("SELECT session_user").fetchone()[0]
cache = redis.Redis.from_url(os.environ["REDIS_URL"])
cache.ping()
tail = os.environ["REDIS_URL"].split("@")[0][-6:]
with open(sys.argv[1], "a") as log:
    log.write(f"{time.time()} {sys.argv[2]} {os.environ['MIOSA_RELEASE']} {user} {tail}\\n")
for _ in range(1200):
    db.execute("SELECT 1")
    cache.ping()
    time.sleep(0.1)
"""


@pytest.fixture
def one_at_a_time(monkeypatch):
    """A lock the live server's requests and the test's own database work take in turn: on
    SQLite the test database is one in-memory connection that every thread shares, so a
    request must not run while the worker (in this thread) is inside a transaction."""
    lock = threading.RLock()
    original = WSGIHandler.__call__

    def call(self, environ, start_response):
        with lock:
            return original(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", call)
    return lock


@pytest.fixture
def instances(server, tmp_path):
    """instances(token, name, watch=True) starts `miosa run [--watch 0.2] --instance NAME`;
    starts() reads the log. Everything started is killed at the end."""
    started: list[subprocess.Popen] = []
    log = tmp_path / "starts.log"

    def starts() -> list[tuple[float, str, int, str, str]]:
        if not log.exists():
            return []
        rows = []
        for line in log.read_text().splitlines():
            at, name, release, user, tail = line.split()
            rows.append((float(at), name, int(release), user, tail))
        return rows

    def start(token: str, name: str, *, watch: bool = True):
        args = ["run", "--instance", name] + (["--watch", "0.2", "--grace", "2"] if watch else [])
        process = subprocess.Popen(
            client_command(*args, "--", sys.executable, "-c", CHILD, str(log), name),
            env=client_environment(server, token),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    start.starts = starts
    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def bound(shop_staging, pg_server, redis_server, worker, actor):
    """A Postgres and a Redis, ready and bound in staging (immediate)."""
    made = {}
    for kind in ("postgres", "redis"):
        made[kind] = worker(
            services.create_data_service, environment=shop_staging, kind=kind, actor=actor
        )
        assert worker.run() == ["ready"]
        made[kind].refresh_from_db()
    return made


def live(environment) -> dict[str, str]:
    return runtime_env(Environment.objects.get(pk=environment.pk))


def pg_refused(url: str) -> bool:
    try:
        connect_as(url).close()
    except psycopg.OperationalError:
        return True
    return False


def redis_refused(url: str) -> bool:
    parsed = parse_url(url, schemes=("redis",))
    client = redis_py.Redis(
        host=parsed.host, port=parsed.port, username=parsed.user, password=parsed.password
    )
    try:
        client.ping()
        return False
    except redis_py.AuthenticationError:
        return True
    finally:
        client.close()


def follow(lock, worker, rotations, *, until, timeout=45.0) -> list[tuple[int, int, int]]:
    """Run the worker's due tasks until `until()`; the (total, on_new, on_old) counts the
    rotation's page showed on the way, in order, without repeats."""
    from environments.api.rotations import rotation_row

    shown: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + timeout
    while True:
        with lock:
            if until():
                return shown
            worker.run()
            for rotation in rotations:
                fresh = Rotation.objects.select_related("service__environment").get(pk=rotation.pk)
                counts = rotation_row(fresh)["instances"]
                row = (counts["total"], counts["on_new"], counts["on_old"])
                if not shown or shown[-1] != row:
                    shown.append(row)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; counts so far {shown}")
        time.sleep(0.1)


def test_two_watching_instances_restart_then_the_old_credentials_are_revoked(
    settings, shop_staging, bound, worker, actor, runtime_token, instances, one_at_a_time
):
    settings.ROTATION_CHECK_SECONDS = 0.2
    settings.ROTATION_DRAIN_SECONDS = 1
    token = runtime_token(shop_staging)
    old = live(shop_staging)
    instances(token, "web-1")
    instances(token, "web-2")
    first = wait_for(lambda: len(instances.starts()) == 2 and instances.starts(), what="2 starts")
    names = {s.kind: s for s in DataService.objects.all()}
    pg_old_user = parse_url(old["DATABASE_URL"], schemes=("postgres",)).user
    assert {row[3] for row in first} == {pg_old_user}

    started_at = time.monotonic()
    with one_at_a_time:
        pg = worker(services.start_rotation, service=names["postgres"], actor=actor)
    shown = follow(
        one_at_a_time,
        worker,
        [pg],
        until=lambda: Rotation.objects.get(pk=pg.pk).state == "revoked",
    )
    pg_seconds = time.monotonic() - started_at
    pg = Rotation.objects.get(pk=pg.pk)
    new = live(shop_staging)
    pg_new_user = parse_url(new["DATABASE_URL"], schemes=("postgres",)).user
    assert pg_new_user != pg_old_user
    # Revoked once both had fetched the new release (the count the page showed reached 0, not
    # forced); each then restarted its command, which connects with the new login.
    assert pg.forced_at is None and pg.converged_at is not None
    restarts = wait_for(
        lambda: (
            sorted(row[1] for row in instances.starts() if row[3] == pg_new_user)
            == ["web-1", "web-2"]
        ),
        what="both restarts on the new login",
    )
    assert restarts
    assert pg_refused(old["DATABASE_URL"]) and not pg_refused(new["DATABASE_URL"])
    assert shown[0] == (2, 0, 2) and shown[-1] == (2, 2, 0)
    print(f"\npostgres rotate→revoked with 2 watching instances: {pg_seconds:.1f} s; "
          f"counts shown: {shown}")  # fmt: skip

    started_at = time.monotonic()
    with one_at_a_time:
        cache = worker(services.start_rotation, service=names["redis"], actor=actor)
    shown = follow(
        one_at_a_time,
        worker,
        [cache],
        until=lambda: Rotation.objects.get(pk=cache.pk).state == "revoked",
    )
    redis_seconds = time.monotonic() - started_at
    after = live(shop_staging)
    assert redis_refused(new["REDIS_URL"]) and not redis_refused(after["REDIS_URL"])
    tails = {row[4] for row in instances.starts()}
    assert after["REDIS_URL"].split("@")[0][-6:] in tails
    print(f"redis rotate→revoked with 2 watching instances: {redis_seconds:.1f} s; "
          f"counts shown: {shown}")  # fmt: skip
    # The old Postgres sessions were ended after the drain.
    follow(
        one_at_a_time, worker, [], until=lambda: Rotation.objects.get(pk=pg.pk).sessions_ended_at
    )


def test_an_instance_that_never_restarts_makes_the_rotation_stuck_until_forced(
    settings, shop_staging, bound, worker, actor, runtime_token, instances, one_at_a_time
):
    settings.ROTATION_CHECK_SECONDS = 0.2
    settings.ROTATION_DRAIN_SECONDS = 0
    settings.ROTATION_REVOKE_AFTER_HOURS = 8 / 3600  # stuck 8 s after the start
    token = runtime_token(shop_staging)
    old = live(shop_staging)
    for name, watch in (("web-1", True), ("web-2", True), ("web-3", False)):
        instances(token, name, watch=watch)
    wait_for(lambda: len(instances.starts()) == 3, what="3 starts")
    service = DataService.objects.get(kind="postgres")
    with one_at_a_time:
        rotation = worker(services.start_rotation, service=service, actor=actor)
    shown = follow(
        one_at_a_time,
        worker,
        [rotation],
        until=lambda: Rotation.objects.get(pk=rotation.pk).state == "stuck",
    )
    assert (3, 2, 1) in shown
    # Stuck: nothing revoked, web-3's connection keeps working.
    assert not pg_refused(old["DATABASE_URL"])
    with one_at_a_time:
        worker.run()
        assert Rotation.objects.get(pk=rotation.pk).state == "stuck"
        forced = worker(
            services.force_revoke,
            rotation=Rotation.objects.get(pk=rotation.pk),
            actor=actor,
            reason="web-3 is retired and will not restart",
        )
    assert forced.forced_at is not None
    follow(
        one_at_a_time,
        worker,
        [rotation],
        until=lambda: Rotation.objects.get(pk=rotation.pk).sessions_ended_at,
    )
    assert Rotation.objects.get(pk=rotation.pk).state == "revoked"
    assert pg_refused(old["DATABASE_URL"])
    print(f"\ncounts shown with a third instance that never restarts: {shown}")
