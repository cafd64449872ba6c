"""Migration 0005 (SPEC §12): the events of an existing database are chained in the order they
were written, per deployment (events of a deployment deleted before it, and events without
one, form the global chain), so that verify_audit passes right after migrating."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
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
    # 0009 (issue 18) recorded the upgrade in chain 0: one more event.
    assert out.getvalue().splitlines()[-1] == "OK 3 chains, 6 events, 0 pruned"
    upgrade = AuditEvent.objects.get(action="audit.upgrade")
    assert upgrade.detail == {"content_version": 2, "legacy_tombstones": 0}

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
    from environments.models import AuditEvent as LiveAuditEvent
    from environments.models import Deployment as LiveDeployment

    # 0009 (issue 18): every deployment's chain has an event, so quiet's starts with one.
    start = LiveAuditEvent.objects.get(chain=quiet.pk)
    assert (start.seq, start.prev_hash, start.action) == (1, audit.GENESIS, "audit.chain_start")
    event = audit.record(
        "member.add", actor=Actor.system(), deployment=LiveDeployment.objects.get()
    )
    assert (event.seq, event.prev_hash) == (2, start.hash)
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().splitlines()[-1] == "OK 2 chains, 3 events, 0 pruned"


def test_0009_keeps_version_1_chains_and_their_tombstones_verifying():
    """Events and a prune from before 0009 (content version 1, a tombstone without its inputs)
    verify after it; a version-1 tombstone made up afterwards does not."""
    from environments.audit import GENESIS, content_hash, link_hash

    apps = migrate([("environments", "0008_max_secret_age")])
    Deployment = apps.get_model("environments", "Deployment")
    AuditEvent = apps.get_model("environments", "AuditEvent")
    AuditChainHead = apps.get_model("environments", "AuditChainHead")
    AuditTombstone = apps.get_model("environments", "AuditTombstone")
    shop = Deployment.objects.create(name="shop")
    heads = {0: [0, GENESIS], shop.pk: [0, GENESIS]}
    t0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def append(chain, action, **kwargs):
        seq, prev = heads[chain]
        row = AuditEvent(
            created_at=t0 + timedelta(minutes=len(heads) + seq),
            actor_label="olivia",
            action=action,
            deployment_id=chain or None,
            deployment_name="shop" if chain else "",
            chain=chain,
            seq=seq + 1,
            prev_hash=prev,
            **kwargs,
        )
        row.content_hash = content_hash(row)  # version 1: the model has no content_version
        row.hash = link_hash(prev, row.content_hash)
        row.save()
        heads[chain] = [row.seq, row.hash]
        return row

    append(shop.pk, "deployment.create")
    fetches = [append(shop.pk, "runtime.fetch") for _ in range(3)]
    append(shop.pk, "member.add")
    # prune_audit as it was: a tombstone of (chain, seq, content_hash), an audit.prune event.
    AuditTombstone.objects.create(
        chain=shop.pk, seq=fetches[0].seq, content_hash=fetches[0].content_hash
    )
    fetches[0].delete()
    append(0, "audit.prune", detail={"action": "runtime.fetch", "before": "x", "count": 1})
    for chain, (seq, hash_) in heads.items():
        AuditChainHead.objects.update_or_create(chain=chain, defaults={"seq": seq, "hash": hash_})

    migrate(MigrationLoader(None).graph.leaf_nodes("environments"))
    from environments.models import AuditTombstone as LiveTombstone

    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().splitlines()[-1] == "OK 2 chains, 6 events, 1 pruned"

    # A version-1 tombstone made up now, for another version-1 event, breaks the count.
    forged = fetches[1]
    LiveTombstone.objects.create(
        chain=shop.pk, seq=forged.seq, content_hash=forged.content_hash, content_version=1
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM environments_auditevent WHERE id = %s", [forged.pk])
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=out)
    assert "2 tombstones from before content version 2, but 1 recorded" in out.getvalue()
