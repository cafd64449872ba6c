"""The one-statement append on PostgreSQL (audit.append) with the runtime fetch's instance upsert
as its `also` step: both are written together or neither, whether the chain's head exists or
not, in autocommit or inside a transaction; a failure inside the statement serves nothing."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import Client

from environments import audit, services
from environments.actors import Actor
from environments.models import AuditChainHead, AuditEvent, RuntimeInstance
from environments.services.disclosure import seen_in_statement
from tests.concurrently import run_concurrently, skip_unless_postgres
from tests.conftest import CANARY

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/runtime/env"


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


def _verified(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def _record_global_with_instance(production, instance: str) -> AuditEvent:
    """An event of the global chain (no deployment) whose statement also upserts an instance."""
    return audit.record(
        "tests.event",
        actor=Actor.system("tests"),
        also=seen_in_statement(production, instance, None, token="tests"),
    )


def test_the_first_event_of_a_chain_with_an_also_step_writes_both_once(production):
    """Autocommit: without a head the statement fails whole (its seq is NULL), the head is
    created, and the append runs again: one event, one instance, never the instance alone."""
    assert AuditChainHead.objects.get(chain=audit.GLOBAL_CHAIN).seq == 0
    first = _record_global_with_instance(production, "web-1")
    second = _record_global_with_instance(production, "web-1")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == audit.GENESIS and second.prev_hash == first.hash
    assert AuditEvent.objects.filter(action="tests.event").count() == 2
    assert RuntimeInstance.objects.filter(instance="web-1").count() == 1
    assert AuditChainHead.objects.get(chain=audit.GLOBAL_CHAIN).seq == 2
    assert "OK chain 0 (global): 2 events" in _verified("--global")


def test_inside_a_transaction_the_first_event_with_an_also_step_works_alike(production):
    with transaction.atomic():
        event = _record_global_with_instance(production, "web-2")
        assert connection.in_atomic_block
    assert event.seq == 1 and AuditEvent.objects.filter(pk=event.pk).exists()
    assert RuntimeInstance.objects.filter(instance="web-2").count() == 1
    assert "OK chain 0 (global): 1 events" in _verified("--global")


def test_a_rolled_back_transaction_takes_the_also_step_with_it(production):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _record_global_with_instance(production, "web-3")
        1 / 0  # noqa: B018
    assert not RuntimeInstance.objects.filter(instance="web-3").exists()
    assert not AuditEvent.objects.filter(action="tests.event").exists()


def test_the_returned_event_is_what_was_stored(deployment, actor):
    event = audit.record(
        "tests.event",
        actor=Actor(user=actor.user, label="olivia", ip="10.0.0.7", user_agent="curl"),
        deployment=deployment,
        target="t",
        detail={"b": [1, "ü", None], "a": {"x": True}},
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    for name in ("created_at", "actor_id", "ip", "detail", "chain", "seq", "prev_hash", "hash"):
        assert getattr(stored, name) == getattr(event, name), name
    assert audit.content_hash(stored) == stored.content_hash == event.content_hash
    assert event.hash == audit.link_hash(event.prev_hash, event.content_hash)
    assert not event._state.adding


def test_a_fetch_whose_statement_fails_in_the_database_serves_nothing_and_writes_nothing(
    production, actor, runtime_token, caplog
):
    """The chain's head row is gone (its events are not): the append restarts the chain at seq 1,
    which collides with the stored seq 1 inside the statement. The instance upsert of the same
    statement is rolled back with it, and no value leaves."""
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    raw = runtime_token(production)
    events = AuditEvent.objects.count()
    AuditChainHead.objects.filter(chain=production.deployment_id).delete()
    headers = {"Authorization": f"Bearer {raw}", "X-Miosa-Instance": "web-1"}
    with caplog.at_level(logging.ERROR):
        response = Client(raise_request_exception=False).get(URL, headers=headers)
    assert response.status_code == 500
    assert CANARY.encode() not in response.content
    assert "Unhandled IntegrityError" in caplog.text  # the statement's, not something else
    assert not RuntimeInstance.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_boot_storm_leaves_a_chain_that_verifies(production, actor, runtime_token):
    raw = runtime_token(production)

    def boot(n: int):
        def fetch():
            headers = {"Authorization": f"Bearer {raw}", "X-Miosa-Instance": f"web-{n % 6}"}
            return Client().get(URL, headers=headers).status_code

        return fetch

    assert run_concurrently([boot(n) for n in range(24)]) == [200] * 24
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == 24
    assert RuntimeInstance.objects.count() == 6
    events = AuditEvent.objects.filter(chain=production.deployment_id).count()
    assert f"(shop): {events} events" in _verified("--deployment", "shop")


def test_first_writers_of_a_chain_with_also_steps_each_write_both(production):
    """Chain 0 has no head: 24 threads in autocommit race to append its first event, each with
    an instance upsert; each statement without a head fails whole and is retried once the head
    exists. Every event and every instance is there once; the chain verifies."""
    assert AuditChainHead.objects.get(chain=audit.GLOBAL_CHAIN).seq == 0

    def append(i: int):
        return lambda: _record_global_with_instance(production, f"web-{i}").seq

    results = run_concurrently([append(i) for i in range(24)])
    assert sorted(results) == list(range(1, 25)), results
    assert RuntimeInstance.objects.count() == 24
    assert AuditEvent.objects.filter(chain=audit.GLOBAL_CHAIN).count() == 24
    assert "OK chain 0 (global): 24 events" in _verified("--global")


def test_an_append_that_waited_for_the_head_links_to_the_event_that_held_it(deployment):
    """READ COMMITTED: the statement's FOR UPDATE waits for the holder's commit, then reads the
    head's newest version, and its UPDATE moves that version (not the one of its snapshot):
    the waiting event links to the holder's event, whatever the snapshot said."""
    system = Actor.system("tests")
    waited: list[AuditEvent] = []
    backend: list[int] = []
    connected = threading.Event()

    def second() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
            connected.set()
            waited.append(audit.record("tests.second", actor=system, deployment=deployment))
        finally:
            connected.set()
            connections.close_all()

    with transaction.atomic():
        held = audit.record("tests.first", actor=system, deployment=deployment)
        thread = threading.Thread(target=second)
        thread.start()
        assert connected.wait(timeout=30) and backend
        _wait_for_a_lock(backend[0])
        assert thread.is_alive() and not waited  # blocked on the head's row lock
    thread.join(timeout=30)
    (event,) = waited
    assert (event.seq, event.prev_hash) == (held.seq + 1, held.hash)
    assert AuditChainHead.objects.get(chain=deployment.pk).hash == event.hash
    report = _verified("--deployment", "shop")
    assert "OK chain" in report and "(shop):" in report


def _wait_for_a_lock(pid: int, *, timeout: float = 30) -> None:
    """Return once the backend `pid` waits for a lock (a row of pg_locks not granted): the
    moment a sleep would only guess at."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
            if cursor.fetchone()[0]:
                return
    raise AssertionError(f"backend {pid} never waited for a lock")
