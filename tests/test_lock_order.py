"""The lock order (environments/services/environment_writes.py) where two writes meet
(PostgreSQL), made certain with events: every lock before the chain's head, so a write that
holds the head never waits for one that waits for it. PostgreSQL detects no deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from environments import audit, services
from environments.errors import NotFound
from environments.models import Deployment, Domain
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


def _until_waiting(count: int) -> None:
    for _ in range(500):
        if _waiting_on_a_lock() >= count:
            return
        time.sleep(0.01)


def _all_gone() -> None:
    """Until the threads' backends have exited: they report their statistics as they do."""
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.02)


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
    _all_gone()
    assert _deadlocks() == before


def test_an_apex_set_while_its_staging_host_is_being_attached_does_not_deadlock(
    deployment, staging, actor
):
    """A request attaching staging.example.com has inserted its row and not yet recorded its
    event when the apex example.com is set: the apex's insert of the same hostname waits for
    that request. The apex must not hold the chain's head then (its events come last), or
    the other request, recording next, would wait for it: a deadlock."""
    skip_unless_postgres()
    preview = services.create_environment(deployment=deployment, name="preview/a", actor=actor)
    results: dict[str, object] = {}
    inserted, go_on = threading.Event(), threading.Event()

    def attach():
        try:
            with transaction.atomic():
                environment = lock_environment(preview)
                Domain.objects.create(hostname="staging.example.com", environment=environment)
                inserted.set()
                go_on.wait(30)
                audit.record("domain.add", actor=actor, environment=environment, target="x")
            results["attach"] = "ok"
        except Exception as exc:
            results["attach"] = exc
        finally:
            connections.close_all()

    def set_apex():
        try:
            results["apex"] = services.set_apex_domain(
                deployment=deployment, apex="example.com", actor=actor
            )
        except Exception as exc:
            results["apex"] = exc
        finally:
            connections.close_all()

    before = _deadlocks()
    attacher = threading.Thread(target=attach)
    attacher.start()
    assert inserted.wait(30)
    apex = threading.Thread(target=set_apex)
    apex.start()
    _until_waiting(1)  # the apex waits for the other request's hostname
    go_on.set()
    attacher.join(60)
    apex.join(60)
    assert results["attach"] == "ok"
    assert results["apex"].attached == ["example.com"], results["apex"]
    assert results["apex"].skipped == ["staging.example.com"]
    _all_gone()
    assert _deadlocks() == before
