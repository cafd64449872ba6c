"""Deleting a deployment while a write to one of its environments is under way (PostgreSQL): the
delete takes the environments' rows before the audit chain's head, in the order every other
writer takes them, so it waits for the write instead of deadlocking with it."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from environments import audit, services
from environments.models import Deployment
from environments.services.environment_writes import lock_environment
from tests.concurrently import skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_a_delete_waits_for_a_write_that_holds_an_environment(deployment, production, actor):
    skip_unless_postgres()
    holding, results = threading.Event(), {}
    go_on = threading.Event()

    def write():
        try:
            with transaction.atomic():
                lock_environment(production)  # a write to production has begun…
                holding.set()
                go_on.wait(30)
                # …and records its event last, as the services do (the chain's head).
                audit.record("tests.write", actor=actor, environment=production)
            results["write"] = "ok"
        except Exception as exc:
            results["write"] = exc
        finally:
            connections.close_all()

    def delete():
        try:
            services.delete_deployment(deployment=deployment, actor=actor)
            results["delete"] = "ok"
        except Exception as exc:
            results["delete"] = exc
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    writer.start()
    assert holding.wait(30)
    deleter = threading.Thread(target=delete)
    deleter.start()
    for _ in range(300):  # until the delete waits on production's row
        if _waiting_on_a_lock():
            break
        time.sleep(0.01)
    assert _waiting_on_a_lock() == 1
    go_on.set()
    writer.join(60)
    deleter.join(60)
    # Recording first, the delete held the chain's head while waiting for production's row, and
    # the write then waited for the head: PostgreSQL broke the cycle by failing one of them.
    assert results == {"write": "ok", "delete": "ok"}
    assert not Deployment.objects.filter(pk=deployment.pk).exists()
