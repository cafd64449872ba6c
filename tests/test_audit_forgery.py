"""Issue 18, the audit chain: a tombstone nobody can forge, and a chain that cannot vanish whole.

A tombstone keeps what it stands for checkably (the action and time of the pruned event and the
hash of the rest of its content), and verify_audit refuses one of an `audit.*` event or one that
no `audit.prune` event (action, cut-off, count) covers. Every existing deployment's chain has its
head and at least one event (its creation)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from environments import audit, services
from environments.models import AuditEvent, AuditTombstone

pytestmark = pytest.mark.django_db


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def verify_broken(*args: str) -> str:
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", *args, stdout=out)
    assert raised.value.returncode == 1 and "BROKEN" in str(raised.value)
    return out.getvalue()


def sql(statement: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def tombstone_fields() -> set[str]:
    return {f.name for f in AuditTombstone._meta.concrete_fields}


def forge(event: AuditEvent, **extra) -> None:
    """Replace `event` by a tombstone, as someone with write access to the database would: its
    (chain, seq, content_hash), and whatever else the tombstone table asks for (`extra`, those
    of its fields the table has), then delete the event."""
    fields = {"chain": event.chain, "seq": event.seq, "content_hash": event.content_hash}
    fields |= {k: v for k, v in extra.items() if k in tombstone_fields()}
    AuditTombstone.objects.create(**fields)
    sql("DELETE FROM environments_auditevent WHERE id = %s", [event.pk])


def honest_inputs(event: AuditEvent) -> dict:
    """The best a forger can do: the event's own action, time and rest-of-content hash."""
    if not hasattr(audit, "rest_hash"):
        return {}
    return {
        "content_version": event.content_version,
        "action": event.action,
        "created_at": event.created_at,
        "rest_hash": audit.rest_hash(event),
    }


@pytest.fixture
def erasable(deployment, staging, actor):
    """An event of each kind the issue erased, between two other events of shop's chain."""
    services.set_variable(environment=staging, key="A", value="v", is_secret=False, actor=actor)
    revoke = audit.record("runtime_token.revoke", actor=actor, deployment=deployment, target="web")
    export = audit.record_export(deployment=deployment, fmt="csv", filters={}, actor=actor)
    services.set_variable(environment=staging, key="B", value="v", is_secret=False, actor=actor)
    return {"runtime_token.revoke": revoke, "audit.export": export}


@pytest.mark.parametrize("action", ["runtime_token.revoke", "audit.export"])
@pytest.mark.parametrize("how", ["bare", "legacy", "honest"])
def test_a_forged_tombstone_erases_no_event(erasable, deployment, action, how):
    event = AuditEvent.objects.get(pk=erasable[action].pk)
    if how == "bare":
        forge(event)
    elif how == "legacy":  # as if it had been pruned before tombstones kept their inputs
        forge(event, content_version=1)
    else:  # every input true, but no audit.prune event covers it
        forge(event, **honest_inputs(event))
    output = verify_broken()
    assert f"BROKEN chain {deployment.pk} (shop) at seq {event.seq}" in output
    assert f"BROKEN chain {deployment.pk} (shop) at seq {event.seq}" in verify_broken(
        "--deployment", "shop"
    )


def test_a_tombstone_covered_by_another_action_s_prune_is_refused(deployment, staging, actor):
    revoke = audit.record("runtime_token.revoke", actor=actor, deployment=deployment, target="w")
    audit.record("tests.after", actor=actor, deployment=deployment)
    fetch = audit.record("runtime.fetch", actor=actor, deployment=deployment)
    audit.record("tests.after", actor=actor, deployment=deployment)
    # A real prune of runtime.fetch, with a cut-off after both events.
    audit.prune(action="runtime.fetch", before=audit.now() + timedelta(seconds=1), actor=actor)
    verify()  # the real one verifies
    pruned = AuditTombstone.objects.get(seq=fetch.seq, chain=deployment.pk)
    event = AuditEvent.objects.get(pk=revoke.pk)
    extra = honest_inputs(event)
    if "prune" in tombstone_fields():
        extra["prune"] = pruned.prune
    forge(event, **extra)
    output = verify_broken()
    assert f"BROKEN chain {deployment.pk} (shop) at seq {event.seq}" in output


def test_a_tombstone_beyond_its_prune_s_count_is_refused(deployment, actor):
    """Two events of the pruned action and its cut-off: one is pruned, the other (written since
    the prune, but back-dated) is replaced by a tombstone pointing to the same prune."""
    first = audit.record("runtime.fetch", actor=actor, deployment=deployment)
    audit.record("tests.after", actor=actor, deployment=deployment)
    before = audit.now() + timedelta(seconds=1)
    assert audit.prune(action="runtime.fetch", before=before, actor=actor) == 1
    second = audit.record("runtime.fetch", actor=actor, deployment=deployment)
    audit.record("tests.after", actor=actor, deployment=deployment)
    verify()
    event = AuditEvent.objects.get(pk=second.pk)
    extra = honest_inputs(event)
    if "prune" in tombstone_fields():
        extra["prune"] = AuditTombstone.objects.get(seq=first.seq, chain=deployment.pk).prune
    forge(event, **extra)
    # The chain breaks at the first tombstone of that prune: which one is made up, only the
    # count says.
    assert "removed 1 events, but 2 tombstones name it" in verify_broken()


def test_audit_events_are_never_pruned_even_by_a_prune_that_says_so(deployment, actor):
    export = audit.record_export(deployment=deployment, fmt="csv", filters={}, actor=actor)
    audit.record("tests.after", actor=actor, deployment=deployment)
    with pytest.raises(ValueError, match="never pruned"):
        audit.prune(action="audit.export", before=audit.now(), actor=actor)
    event = AuditEvent.objects.get(pk=export.pk)
    forge(event, **honest_inputs(event))
    assert f"at seq {event.seq}" in verify_broken()


# A whole chain --------------------------------------------------------------------------------


def test_a_deployment_whose_events_and_head_were_deleted_is_named(deployment, staging, actor):
    services.set_variable(environment=staging, key="A", value="v", is_secret=False, actor=actor)
    other = services.create_deployment(name="other", actor=actor)
    verify()
    sql("DELETE FROM environments_auditevent WHERE chain = %s", [other.pk])
    sql("DELETE FROM environments_auditchainhead WHERE chain = %s", [other.pk])
    assert f"BROKEN chain {other.pk} (other)" in verify_broken()
    assert f"BROKEN chain {other.pk} (other)" in verify_broken("--deployment", "other")
    assert f"OK chain {deployment.pk} (shop)" in verify("--deployment", "shop")


def test_a_deployment_whose_events_were_deleted_and_head_rewound_is_named(deployment, actor):
    sql("DELETE FROM environments_auditevent WHERE chain = %s", [deployment.pk])
    sql(
        "UPDATE environments_auditchainhead SET seq = 0, hash = %s WHERE chain = %s",
        [audit.GENESIS, deployment.pk],
    )
    assert f"BROKEN chain {deployment.pk} (shop)" in verify_broken()
    assert f"BROKEN chain {deployment.pk} (shop)" in verify_broken("--deployment", "shop")
