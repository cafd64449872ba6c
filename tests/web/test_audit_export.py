"""Exporting the audit log (SPEC §12): the page's filtered events as CSV or JSON Lines, streamed,
audited before the first row leaves, with spreadsheet formulas neutralised and no value."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import actors, audit, selectors, services
from environments.actors import Actor
from environments.models import AuditEvent, Role
from tests.conftest import CANARY
from tests.refuse_audit import refuse_audit_writes

from .conftest import HX


def url(deployment, fmt: str) -> str:
    return reverse(f"audit_export_{fmt}", kwargs={"deployment_id": deployment.pk})


def body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body(response))))


def jsonl_rows(response) -> list[dict]:
    return [json.loads(line) for line in body(response).splitlines()]


@pytest.fixture
def events(staging, production, actor, system_actor):
    services.set_variable(
        environment=staging, key="A", value="secret-value-x", is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="B", value="1", is_secret=False, actor=system_actor
    )


# Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize(
    "role, status",
    [
        ("outsider", 404),
        (Role.VIEWER, 403),
        (Role.DEVELOPER, 403),
        (Role.ADMIN, 200),
        (Role.OWNER, 200),
    ],
)
def test_only_those_who_read_the_audit_log_export_it(
    as_role, deployment, events, fmt, role, status
):
    client = as_role(role)
    count = AuditEvent.objects.filter(action="audit.export").count()
    response = client.get(url(deployment, fmt))
    assert response.status_code == status
    assert AuditEvent.objects.filter(action="audit.export").count() == count + (status == 200)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_anonymous_is_sent_to_log_in_and_post_is_refused(as_role, deployment, fmt):
    response = as_role("anonymous").get(url(deployment, fmt))
    assert response.status_code == 302 and "/login" in response["Location"]
    assert as_role(Role.ADMIN).post(url(deployment, fmt)).status_code == 405


# Content --------------------------------------------------------------------------------------


def test_the_csv_export_has_every_event_newest_first(as_role, deployment, events):
    response = as_role(Role.ADMIN).get(url(deployment, "csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="shop-audit-')
    assert response["Content-Disposition"].endswith('.csv"')
    assert "no-store" in response["Cache-Control"]
    rows = csv_rows(response)
    stored = list(AuditEvent.objects.filter(deployment=deployment).order_by("-id"))
    assert [int(r["id"]) for r in rows] == [e.pk for e in stored]
    assert rows[0]["action"] == "audit.export"  # on record before the rows were read
    created = next(r for r in rows if r["action"] == "variable.create" and r["target"] == "A")
    assert created["environment"] == "staging" and created["actor"] == "olivia"
    assert json.loads(created["detail"])["is_secret"] is True
    assert "secret-value-x" not in body(response)


def test_the_export_keeps_the_page_s_filters_and_records_them(as_role, deployment, events):
    client = as_role(Role.ADMIN)
    rows = jsonl_rows(client.get(url(deployment, "jsonl"), {"environment": "staging"}))
    assert {r["environment"] for r in rows} == {"staging"}
    assert {r["target"] for r in rows} >= {"A"} and "B" not in {r["target"] for r in rows}
    rows = jsonl_rows(client.get(url(deployment, "jsonl"), {"actor": "tests"}))
    assert [r["target"] for r in rows] == ["B"]
    rows = csv_rows(client.get(url(deployment, "csv"), {"action": "member.add"}))
    assert {r["action"] for r in rows} == {"member.add"}
    event = AuditEvent.objects.filter(action="audit.export").latest("id")
    assert event.detail == {"format": "csv", "filters": {"action": "member.add"}}
    assert event.target == "csv" and event.actor_label.endswith("user")


def test_a_bad_filter_is_refused_and_exports_nothing(as_role, deployment, events):
    client = as_role(Role.ADMIN)
    response = client.get(url(deployment, "csv"), {"action": "no.such.action"})
    assert response.status_code == 400
    assert "Invalid filter (action)" in response.content.decode()
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_a_json_lines_row_verifies_against_its_content_hash(as_role, deployment, events):
    rows = jsonl_rows(as_role(Role.ADMIN).get(url(deployment, "jsonl")))
    assert len(rows) >= 4
    for row in rows:
        event = SimpleNamespace(
            **row
            | {
                "actor_label": row["actor"],
                "deployment_name": row["deployment"],
                "environment_name": row["environment"],
                "created_at": datetime.fromisoformat(row["created_at"]),
            }
        )
        assert audit.content_hash(event) == row["content_hash"]
        assert audit.link_hash(row["prev_hash"], row["content_hash"]) == row["hash"]


@pytest.mark.parametrize(
    "dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
)
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(as_role, deployment, dangerous):
    audit.record(
        "tests.event",
        actor=Actor(user=None, label=dangerous, user_agent=dangerous),
        deployment=deployment,
        target=dangerous,
    )
    client = as_role(Role.ADMIN)
    rows = csv_rows(client.get(url(deployment, "csv"), {"action": "tests.event"}))
    assert len(rows) == 1
    for column in ("actor", "target", "user_agent"):
        assert rows[0][column] == "'" + actors.printable(dangerous)
    # JSON Lines keeps the exact text (no spreadsheet reads it).
    rows = jsonl_rows(client.get(url(deployment, "jsonl"), {"action": "tests.event"}))
    assert rows[0]["target"] == actors.printable(dangerous)


# Audited first, fail-closed -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_no_export_leaves_when_it_cannot_be_audited(deployment, member, events, monkeypatch, fmt):
    client = Client(raise_request_exception=False)
    client.force_login(member(Role.ADMIN))

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    refuse_audit_writes(monkeypatch, refuse)
    response = client.get(url(deployment, fmt))
    assert response.status_code == 500
    assert not response.streaming and "variable.create" not in response.content.decode()


# Streaming, constant queries ------------------------------------------------------------------


def test_the_export_streams_in_chunks_with_a_constant_number_of_queries(
    as_role, deployment, monkeypatch
):
    monkeypatch.setattr(selectors.audit, "AUDIT_CHUNK", 25)
    client = as_role(Role.ADMIN)
    actor = Actor.system("tests")
    counts = []
    for total in (10, 260):
        while AuditEvent.objects.filter(action="tests.event").count() < total:
            audit.record("tests.event", actor=actor, deployment=deployment)
        for fmt in ("csv", "jsonl"):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url(deployment, fmt), {"action": "tests.event"})
                assert response.streaming
                lines = body(response).splitlines()
            assert len(lines) == total + (fmt == "csv")
            counts.append(len(queries))
    # session, user, membership, actions, environments, the export's event in its own
    # transaction (a savepoint under the test's transaction: savepoint, lock the chain's head,
    # insert, move the head, release; on PostgreSQL one statement for those three), the events
    # (one query, fetched in chunks)
    assert counts == [9 if connection.vendor == "postgresql" else 11] * 4


def test_a_large_export_streams_every_row(as_role, deployment):
    actor = Actor.system("tests")
    for i in range(2100):  # more than one chunk (selectors.AUDIT_CHUNK)
        audit.record("tests.event", actor=actor, deployment=deployment, target=f"T{i}")
    response = as_role(Role.ADMIN).get(url(deployment, "jsonl"), {"action": "tests.event"})
    assert response.streaming
    seen = 0
    for chunk in response.streaming_content:  # row by row, never the whole body at once
        seen += chunk.count(b"\n")
    assert seen == 2100


# The audit page links to the export with its filters --------------------------------------------


def test_the_page_links_to_the_filtered_export(as_role, deployment, events):
    client = as_role(Role.ADMIN)
    page = client.get(reverse("audit_log", args=[deployment.pk]), {"environment": "staging"})
    html = page.content.decode()
    assert f'href="{url(deployment, "csv")}?environment=staging"' in html
    assert f'href="{url(deployment, "jsonl")}?environment=staging"' in html
    partial = client.get(
        reverse("audit_log", args=[deployment.pk]), {"actor": "tests", "before": 99999}, **HX
    ).content.decode()
    assert f'href="{url(deployment, "csv")}?actor=tests"' in partial


# No value leaves ------------------------------------------------------------------------------


def test_no_canary_value_or_ciphertext_in_either_export_or_the_log(
    as_role, deployment, production, actor, caplog
):
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="PLAIN", value="plain-" + CANARY, is_secret=False, actor=actor
    )
    services.create_binding(
        environment=production,
        kind="postgres",
        name="db",
        url=f"postgres://app:bind-{CANARY}@db.internal:5432/shop",
        actor=actor,
    )
    services.reveal_plain_values(
        deployment=deployment, environments=[production], keys=["PLAIN"], actor=actor
    )
    _, raw = services.create_runtime_token(environment=production, name="web", actor=actor)
    fetched = Client().get("/api/v1/runtime/env", headers={"Authorization": f"Bearer {raw}"})
    assert fetched.status_code == 200
    ciphertexts = [bytes(v.ciphertext) for v in production.variables.all()]
    client = as_role(Role.ADMIN)
    for name in ("", "django", "django.request", "django.db.backends", "environments"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    was, connection.force_debug_cursor = connection.force_debug_cursor, True  # SQL logged too
    try:
        for fmt in ("csv", "jsonl"):
            text = body(client.get(url(deployment, fmt)))
            assert "STRIPE_KEY" in text and "runtime.fetch" in text  # the events are there
            assert CANARY not in text
            for blob in ciphertexts:
                assert blob.hex()[:24] not in text
    finally:
        connection.force_debug_cursor = was
    assert "environments_auditevent" in caplog.text  # the SQL log was captured
    assert CANARY not in caplog.text
