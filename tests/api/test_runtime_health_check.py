"""The runtime fetch's first read stands in for the kept connection's health check:
no `SELECT 1` round trip before it, and a connection the database dropped is replaced, as the
check would have replaced it, without failing the fetch."""

from __future__ import annotations

import os

import psycopg
import pytest
from django.db import connections
from django.test import Client

from environments.models import AuditEvent, RuntimeInstance
from tests.concurrently import skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/runtime/env"


def _db():
    """The default connection itself (not the proxy), so that monkeypatch restores it."""
    return connections["default"]


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


@pytest.fixture
def kept_connection_due_a_check(monkeypatch):
    """The state Django leaves a kept connection in at a request's start with CONN_HEALTH_CHECKS
    (close_if_unusable_or_obsolete): health checks on, this request's not yet done. The test
    client keeps Django's own request_started handler out, so it is set before each request."""
    connection = _db()
    checks = []
    usable = connection.is_usable

    def counted():
        checks.append(1)
        return usable()

    monkeypatch.setattr(connection, "is_usable", counted)
    monkeypatch.setattr(connection, "health_check_enabled", True)

    def due() -> list:
        connection.ensure_connection()
        connection.health_check_done = False
        return checks

    return due


def _fetch(raw: str, instance: str = "web-1"):
    headers = {"Authorization": f"Bearer {raw}", "X-Miosa-Instance": instance}
    return Client().get(URL, headers=headers)


def test_the_fetch_sends_no_separate_health_check(
    production, runtime_token, kept_connection_due_a_check
):
    connection = _db()
    raw = runtime_token(production)
    assert _fetch(raw).status_code == 200  # the release's ciphertexts are now kept
    checks = kept_connection_due_a_check()
    statements = []
    with connection.execute_wrapper(lambda ex, sql, *a: statements.append(sql) or ex(sql, *a)):
        assert _fetch(raw).status_code == 200
    assert checks == [] and len(statements) == 2
    assert connection.health_check_done  # the read was the check: nothing else repeats it


@pytest.mark.skipif(
    os.environ.get("DATABASE_BEHIND_PGBOUNCER") == "true",
    reason="behind PgBouncer the client's connection is PgBouncer's, whose pid this is not; "
    "PgBouncer replaces a server connection PostgreSQL drops without the client seeing it",
)
def test_a_connection_dropped_by_the_database_is_replaced_and_the_fetch_served(
    production, runtime_token, kept_connection_due_a_check
):
    connection = _db()
    raw = runtime_token(production)
    assert _fetch(raw).status_code == 200
    kept_connection_due_a_check()
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    fetched = AuditEvent.objects.using("default")  # not evaluated: the connection is gone
    response = _fetch(raw, "web-2")
    assert response.status_code == 200 and response.json()["env"] is not None
    assert connection.connection.info.backend_pid != pid
    assert fetched.filter(action="runtime.fetch").count() == 2
    assert RuntimeInstance.objects.filter(instance="web-2").count() == 1


def test_without_health_checks_the_fetch_is_unchanged(production, runtime_token, monkeypatch):
    connection = _db()
    monkeypatch.setattr(connection, "health_check_enabled", False)
    raw = runtime_token(production)
    assert _fetch(raw).status_code == 200
    connection.health_check_done = False
    assert _fetch(raw, "web-3").status_code == 200
    assert not connection.health_check_done  # left alone
