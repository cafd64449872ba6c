"""Failure injection for the audit store: every way an event is written fails.

`AuditEvent.objects.create` writes the event on SQLite (audit.append's three statements); on
PostgreSQL one SQL statement appends it (the chain's head and the event, and any `also` step),
so the statement that inserts into the event table is refused too, before it is sent; and so is
the one that counts an attempt into an open coalesced event (`audit._count_into_open_event`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from environments.models import AuditEvent

EVENT_INSERT = f'INSERT INTO "{AuditEvent._meta.db_table}"'
EVENT_COUNT = f'UPDATE "{AuditEvent._meta.db_table}" SET "count"'


def refuse_audit_writes(monkeypatch, refuse: Callable[..., Any]) -> None:
    """Until `monkeypatch` undoes it, writing an audit event calls `refuse` (which raises)."""
    monkeypatch.setattr(AuditEvent.objects, "create", refuse)

    def refuse_the_statement(execute, sql, params, many, context):
        if EVENT_INSERT in sql or EVENT_COUNT in sql:
            refuse()
        return execute(sql, params, many, context)

    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's (not the proxy: undo must restore)
    monkeypatch.setattr(
        wrapper, "execute_wrappers", [*wrapper.execute_wrappers, refuse_the_statement]
    )
