"""The lock order (environments/services/environment_writes.py) where a deployment is deleted
(PostgreSQL): the delete takes the deployment's row before the chain's head, as every write
that locks that row does, so a version registered meanwhile waits for the delete (or the
delete for it) instead of deadlocking with it."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from environments import audit, services
from environments.errors import NotFound
from environments.models import Deployment
from tests.concurrently import skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _until_waiting(count: int) -> None:
    for _ in range(500):
        if _waiting_on_a_lock() >= count:
            return
        time.sleep(0.01)


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_version_registered_while_the_deployment_is_deleted_does_not_deadlock(deployment, actor):
    """The chain's head is held (a deployment-wide event under way) while a delete and then a
    version registration queue for it: the delete gets the head first. Had the registration
    locked the deployment's row and the delete not, the delete would then wait for that row
    and the registration for the head, a deadlock."""
    skip_unless_postgres()
    results: dict[str, object] = {}
    holding, go_on = threading.Event(), threading.Event()

    def run(name, job):
        def target():
            try:
                results[name] = job()
            except Exception as exc:
                results[name] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    def hold_the_head():
        with transaction.atomic():
            audit.record("tests.hold", actor=actor, deployment=deployment)
            holding.set()
            go_on.wait(30)
        return "ok"

    before = _deadlocks()
    holder = run("hold", hold_the_head)
    assert holding.wait(30)
    deleter = run("delete", lambda: services.delete_deployment(deployment=deployment, actor=actor))
    _until_waiting(1)
    registrar = run(
        "version", lambda: services.create_version(deployment=deployment, label="x", actor=actor)
    )
    _until_waiting(2)
    assert _waiting_on_a_lock() == 2
    go_on.set()
    for thread in (holder, deleter, registrar):
        thread.join(60)
    assert results["hold"] == "ok"
    assert results["delete"] is None, results["delete"]
    # The registration waited for the delete, then found the deployment gone: a 404.
    assert isinstance(results["version"], NotFound), results["version"]
    assert not Deployment.objects.filter(pk=deployment.pk).exists()
    connections.close_all()  # the threads' backends report their statistics as they exit
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                break
        time.sleep(0.02)
    assert _deadlocks() == before
