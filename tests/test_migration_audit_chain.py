"""Migration 0005 (SPEC §12): the events of an existing database are chained in the order they
were written, per deployment (events of a deployment deleted before it, and events without
one, form the global chain), so that verify_audit passes right after migrating."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("environments", "0004_token_expiry")]
AFTER = [("environments", "0005_audit_chain")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_events_are_chained_and_verify():
    apps = migrate(BEFORE)
    Deployment = apps.get_model("environments", "Deployment")
    AuditEvent = apps.get_model("environments", "AuditEvent")
    shop = Deployment.objects.create(name="shop")
    blog = Deployment.objects.create(name="blog")
    t0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def event(i, action, deployment=None, **kwargs):
        row = AuditEvent.objects.create(
            action=action,
            actor_label="olivia",
            deployment=deployment,
            deployment_name=deployment.name if deployment else "",
            **kwargs,
        )
        # created_at was auto_now_add before 0005: set it afterwards, out of id order.
        AuditEvent.objects.filter(pk=row.pk).update(created_at=t0 + timedelta(seconds=i))
        return row

    late = event(9, "variable.update", shop, target="A", detail={"key": "A"})
    early = event(1, "deployment.create", shop, ip="2001:db8::1", user_agent="curl/8")
    event(2, "deployment.create", blog)
    event(3, "login.failed", outcome="denied", detail={"username": "eve"})
    event(5, "variable.create", shop, environment_name="staging", target="A")

    apps = migrate(AFTER)
    AuditEvent = apps.get_model("environments", "AuditEvent")
    AuditChainHead = apps.get_model("environments", "AuditChainHead")
    rows = list(AuditEvent.objects.filter(chain=shop.pk).order_by("seq"))
    assert [(r.seq, r.action) for r in rows] == [
        (1, "deployment.create"),
        (2, "variable.create"),
        (3, "variable.update"),
    ]
    assert rows[0].pk == early.pk and rows[2].pk == late.pk
    assert {h.chain: h.seq for h in AuditChainHead.objects.all()} == {0: 1, shop.pk: 3, blog.pk: 1}

    # the real models from here on, which match the newest migration
    migrate(MigrationLoader(None).graph.leaf_nodes("environments"))
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().splitlines()[-1] == "OK 3 chains, 5 events, 0 pruned"

    # New events continue the chains.
    from environments import audit
    from environments.actors import Actor
    from environments.models import Deployment as LiveDeployment

    audit.record(
        "member.add", actor=Actor.system(), deployment=LiveDeployment.objects.get(name="shop")
    )
    out = io.StringIO()
    call_command("verify_audit", "--deployment", "shop", stdout=out)
    assert f"OK chain {shop.pk} (shop): 4 events" in out.getvalue()


def test_an_empty_database_migrates():
    migrate(BEFORE)
    apps = migrate(AFTER)
    assert not apps.get_model("environments", "AuditChainHead").objects.exists()


def test_0006_starts_every_chain_without_a_head():
    """The global chain, and a deployment that had no event when 0005 chained the log."""
    apps = migrate(BEFORE)
    quiet = apps.get_model("environments", "Deployment").objects.create(name="quiet")
    apps = migrate(AFTER)
    assert not apps.get_model("environments", "AuditChainHead").objects.exists()
    apps = migrate([("environments", "0006_audit_chain_heads")])
    heads = apps.get_model("environments", "AuditChainHead").objects.order_by("chain")
    assert [(h.chain, h.seq, h.hash) for h in heads] == [(0, 0, "0" * 64), (quiet.pk, 0, "0" * 64)]

    migrate(MigrationLoader(None).graph.leaf_nodes("environments"))
    from environments import audit
    from environments.actors import Actor
    from environments.models import Deployment as LiveDeployment

    event = audit.record(
        "member.add", actor=Actor.system(), deployment=LiveDeployment.objects.get()
    )
    assert (event.seq, event.prev_hash) == (1, audit.GENESIS)
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().splitlines()[-1] == "OK 1 chains, 1 events, 0 pruned"
