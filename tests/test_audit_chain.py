"""The tamper-evident audit log (SPEC §12): each deployment's events form a hash chain
(events without a deployment form chain 0), `verify_audit` names the first broken link, and
`prune_audit` removes old events while every link stays checkable."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from environments import audit, selectors, services
from environments.actors import Actor
from environments.audit import GENESIS
from environments.models import AuditChainHead, AuditEvent, AuditTombstone
from tests.refuse_audit import refuse_audit_writes

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


def chain_rows(chain: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=chain).order_by("seq"))


@pytest.fixture
def log(deployment, staging, production, actor):
    """Ten events in shop's chain, three in the global chain."""
    for i in range(4):
        services.set_variable(
            environment=staging, key=f"K{i}", value="v", is_secret=i == 0, actor=actor
        )
    services.set_variable(environment=production, key="P", value="p", is_secret=False, actor=actor)
    for username in ("mallory", "eve", "trent"):
        audit.record(
            "login.failed",
            actor=Actor(user=None, label=username, ip="203.0.113.9", user_agent="curl/8"),
            outcome=AuditEvent.Outcome.DENIED,
            detail={"username": username, "ünïcode": "☃"},
        )
    services.record_compare(left=staging, right=production, secrets_hidden=False, actor=actor)
    # (more compares within the minute are counted into that one: see test_audit_bounded)
    while AuditEvent.objects.filter(chain=deployment.pk).count() < 10:
        audit.record("tests.event", actor=actor, deployment=deployment)
    return deployment


# The chain ------------------------------------------------------------------------------------


def test_each_deployment_has_a_chain_and_events_without_one_share_chain_zero(log):
    shop = chain_rows(log.pk)
    assert [e.seq for e in shop] == list(range(1, 11))
    assert shop[0].prev_hash == GENESIS
    for before, event in pairwise(shop):
        assert event.prev_hash == before.hash
    for event in shop:
        assert event.content_hash == hashlib.sha256(audit.canonical_content(event)).hexdigest()
        assert (
            event.hash
            == hashlib.sha256((event.prev_hash + event.content_hash).encode()).hexdigest()
        )
    head = AuditChainHead.objects.get(chain=log.pk)
    assert (head.seq, head.hash) == (10, shop[-1].hash)
    logins = chain_rows(0)
    assert [(e.seq, e.deployment_id, e.actor_label) for e in logins] == [
        (1, None, "mallory"),
        (2, None, "eve"),
        (3, None, "trent"),
    ]


def test_the_canonical_content_is_a_fixed_json_array_in_utc_microseconds(log):
    """Content version 2 (issue 18): SHA-256(lead_hash + rest_hash), each the SHA-256 of a
    fixed JSON array, the lead being what a tombstone keeps in the clear."""
    event = AuditEvent.objects.get(chain=0, seq=1)
    assert event.content_version == audit.CONTENT_VERSION == 2
    created_at = event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lead = json.dumps([2, created_at, "login.failed"], separators=(",", ":")).encode()
    rest = [
        2,
        "mallory",
        "",
        "",
        "",
        "203.0.113.9",
        "curl/8",
        "denied",
        {"username": "mallory", "ünïcode": "☃"},
        None,
    ]
    rest_json = json.dumps(rest, separators=(",", ":"), sort_keys=True).encode()
    parts = hashlib.sha256(lead).hexdigest() + hashlib.sha256(rest_json).hexdigest()
    assert audit.canonical_content(event) == parts.encode()
    assert event.content_hash == hashlib.sha256(parts.encode()).hexdigest()
    assert audit.rest_hash(event) == hashlib.sha256(rest_json).hexdigest()
    assert len(created_at) == len("2026-11-27T11:15:24.123456Z")


def test_version_1_content_still_hashes_as_it_did(log):
    """Events written before migration 0008 keep verifying with the format they were hashed in."""
    event = AuditEvent.objects.get(chain=0, seq=1)
    event.content_version = 1
    content = json.loads(audit.canonical_content(event))
    assert content[:2] == [1, event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    assert content[2:] == [
        "mallory",
        "login.failed",
        "",
        "",
        "",
        "203.0.113.9",
        "curl/8",
        "denied",
        {"username": "mallory", "ünïcode": "☃"},
    ]
    assert audit.canonical_content(event).isascii()


def test_the_chain_survives_the_deletion_of_its_deployment(log, actor):
    shop = log.pk
    services.delete_deployment(deployment=log, actor=actor)
    assert AuditEvent.objects.filter(chain=shop, deployment__isnull=True).count() == 11
    output = verify("--deployment", "shop")
    assert f"OK chain {shop} (shop): 11 events" in output


# verify_audit ---------------------------------------------------------------------------------


def test_an_untouched_log_verifies(log):
    output = verify()
    assert f"OK chain {log.pk} (shop): 10 events" in output
    assert "OK chain 0 (global): 3 events" in output
    assert output.splitlines()[-1] == "OK 2 chains, 13 events, 0 pruned"
    assert verify("--deployment", "shop").splitlines()[-1] == "OK 1 chains, 10 events, 0 pruned"
    assert verify("--global").splitlines()[-1] == "OK 1 chains, 3 events, 0 pruned"


def test_an_unknown_deployment_is_a_clear_error(log):
    with pytest.raises(CommandError, match="No audit events for a deployment named 'nope'"):
        verify("--deployment", "nope")


@pytest.mark.parametrize(
    "column, value",
    [
        ("target", "K9"),
        ("actor_label", "someone-else"),
        ("outcome", "denied"),
        ("created_at", "2020-01-01 00:00:00"),
        ("environment_name", "production"),
        ("detail", '{"key": "K0", "secret": false}'),
    ],
)
def test_an_edited_event_is_named(log, column, value):
    event = chain_rows(log.pk)[3]
    sql(f"UPDATE environments_auditevent SET {column} = %s WHERE id = %s", [value, event.pk])
    output = verify_broken()
    assert (
        f"BROKEN chain {log.pk} (shop) at seq 4 (event id {event.pk}): content hash mismatch"
        in output
    )
    assert "OK chain 0 (global)" in output  # the other chain is checked all the same


def test_an_edit_that_recomputes_the_event_s_own_hashes_breaks_the_next_link(log):
    event = chain_rows(log.pk)[3]
    event.target = "forged"
    forged_content = audit.content_hash(event)
    forged_hash = audit.link_hash(event.prev_hash, forged_content)
    sql(
        "UPDATE environments_auditevent SET target = %s, content_hash = %s, hash = %s"
        " WHERE id = %s",
        ["forged", forged_content, forged_hash, event.pk],
    )
    output = verify_broken()
    following = chain_rows(log.pk)[4]
    assert f"at seq 5 (event id {following.pk}): broken link" in output


def test_an_edited_hash_is_named(log):
    event = chain_rows(log.pk)[3]
    sql("UPDATE environments_auditevent SET hash = %s WHERE id = %s", ["f" * 64, event.pk])
    assert f"at seq 4 (event id {event.pk}): hash mismatch" in verify_broken()


def test_a_deleted_event_shows_as_a_gap(log):
    events = chain_rows(log.pk)
    sql("DELETE FROM environments_auditevent WHERE id IN (%s, %s)", [events[4].pk, events[5].pk])
    output = verify_broken()
    assert f"at seq 7 (event id {events[6].pk}): gap: seq 5–6 missing" in output


def test_reordered_events_are_named(log):
    first, second = chain_rows(log.pk)[2:4]
    # Swap the two events' places in the chain, hashes and all.
    sql("UPDATE environments_auditevent SET seq = -1 WHERE id = %s", [first.pk])
    sql("UPDATE environments_auditevent SET seq = 3 WHERE id = %s", [second.pk])
    sql("UPDATE environments_auditevent SET seq = 4 WHERE id = %s", [first.pk])
    assert f"at seq 3 (event id {second.pk}): broken link" in verify_broken()


def test_an_event_moved_to_another_chain_is_named(log):
    event = chain_rows(log.pk)[-1]
    head = AuditChainHead.objects.get(chain=0)
    sql(
        "UPDATE environments_auditevent SET chain = 0, seq = %s WHERE id = %s",
        [head.seq + 1, event.pk],
    )
    sql("UPDATE environments_auditchainhead SET seq = seq + 1 WHERE chain = 0")
    output = verify_broken()
    assert f"BROKEN chain {log.pk} (shop) at seq 10: missing tail" in output
    assert f"BROKEN chain 0 (global) at seq 4 (event id {event.pk}): broken link" in output


def test_reordered_timestamps_are_named(log):
    first, second = chain_rows(log.pk)[2:4]
    sql(
        "UPDATE environments_auditevent SET created_at = %s WHERE id = %s",
        [second.created_at, first.pk],
    )
    sql(
        "UPDATE environments_auditevent SET created_at = %s WHERE id = %s",
        [first.created_at, second.pk],
    )
    assert f"at seq 3 (event id {first.pk}): content hash mismatch" in verify_broken()


def test_a_truncated_tail_is_named(log):
    events = chain_rows(log.pk)
    sql("DELETE FROM environments_auditevent WHERE id >= %s AND chain = %s", [events[7].pk, log.pk])
    assert (
        f"BROKEN chain {log.pk} (shop) at seq 8: missing tail: seq 8–10 deleted" in verify_broken()
    )


def test_a_chain_deleted_whole_is_named(log):
    sql("DELETE FROM environments_auditevent WHERE chain = 0")
    assert "BROKEN chain 0 (global) at seq 1: missing tail: seq 1–3 deleted" in verify_broken()


def test_a_truncated_tail_with_its_head_rewound_breaks_at_the_head_hash(log):
    events = chain_rows(log.pk)
    sql("DELETE FROM environments_auditevent WHERE id = %s", [events[-1].pk])
    sql("UPDATE environments_auditchainhead SET seq = 9 WHERE chain = %s", [log.pk])
    assert "at seq 9: the head's hash is not the last event's hash" in verify_broken()


def test_a_deleted_head_is_named(log):
    sql("DELETE FROM environments_auditchainhead WHERE chain = %s", [log.pk])
    assert "at seq 10: the chain's head row is missing" in verify_broken()


def test_appending_after_verification_keeps_verifying(log, staging, actor):
    verify()
    services.set_variable(environment=staging, key="LATER", value="v", is_secret=False, actor=actor)
    assert f"OK chain {log.pk} (shop): 11 events" in verify()


# prune_audit ----------------------------------------------------------------------------------


@pytest.fixture
def old_fetches(log, staging, monkeypatch):
    """Runtime fetches 40 days ago, interleaved with other events; then recent ones."""
    token = Actor.system("token web")
    then = datetime.now(UTC) - timedelta(days=40)
    monkeypatch.setattr(audit, "now", lambda: then)
    for i in range(6):
        audit.record("runtime.fetch", actor=token, environment=staging, detail={"format": "json"})
        if i % 2:
            audit.record("token.create", actor=token, environment=staging, target=f"t{i}")
    monkeypatch.undo()
    for _ in range(2):
        audit.record("runtime.fetch", actor=token, environment=staging, detail={"format": "json"})
    return log


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_audit", *args, stdout=out)
    return out.getvalue().strip()


def test_a_dry_run_counts_and_prunes_nothing(old_fetches):
    before = AuditEvent.objects.count()
    assert prune("--action", "runtime.fetch", "--older-than", "30", "--dry-run") == "6"
    assert AuditEvent.objects.count() == before


def test_pruning_keeps_the_chain_verifiable_and_is_audited(old_fetches):
    assert prune("--action", "runtime.fetch", "--older-than", "30") == "6"
    shop = old_fetches.pk
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == 2  # the recent ones
    assert AuditTombstone.objects.filter(chain=shop).count() == 6
    assert AuditEvent.objects.filter(action="token.create").count() == 3
    output = verify()
    # seq 11..19: fetch, fetch, token, fetch, fetch, token, fetch, fetch, token
    assert f"OK chain {shop} (shop): 15 events, 6 pruned (seq 11–12, 14–15, 17–18)" in output
    event = AuditEvent.objects.get(action="audit.prune")
    assert event.chain == 0 and event.actor_label == "manage.py prune_audit"
    assert event.detail["action"] == "runtime.fetch" and event.detail["count"] == 6
    cutoff = datetime.fromisoformat(event.detail["before"])
    assert (
        timedelta(days=30) - timedelta(minutes=1)
        < datetime.now(UTC) - cutoff
        < timedelta(days=30, minutes=1)
    )
    assert prune("--action", "runtime.fetch", "--older-than", "30") == "0"  # nothing left


def test_tampering_after_a_prune_is_still_detected(old_fetches):
    prune("--action", "runtime.fetch", "--older-than", "30")
    shop = old_fetches.pk
    sql(
        "UPDATE environments_audittombstone SET content_hash = %s WHERE chain = %s AND seq = 12",
        ["0" * 64, shop],
    )
    # A tombstone's content_hash follows from the inputs it keeps (issue 18): the edit shows
    # at the tombstone itself, before the next link.
    output = verify_broken()
    assert f"BROKEN chain {shop} (shop) at seq 12: the tombstone's content hash" in output


def test_a_deleted_tombstone_is_a_gap(old_fetches):
    prune("--action", "runtime.fetch", "--older-than", "30")
    sql("DELETE FROM environments_audittombstone WHERE chain = %s AND seq = 14", [old_fetches.pk])
    # Its prune no longer adds up (issue 18), which shows at the prune's first tombstone,
    # before the gap.
    assert "at seq 11: the prune at chain 0 seq 4 removed 6 events, but 5" in verify_broken()


def test_an_edited_event_after_a_prune_is_named(old_fetches):
    prune("--action", "runtime.fetch", "--older-than", "30")
    event = AuditEvent.objects.get(chain=old_fetches.pk, seq=16)
    sql("UPDATE environments_auditevent SET target = 'x' WHERE id = %s", [event.pk])
    assert f"at seq 16 (event id {event.pk}): content hash mismatch" in verify_broken()


def test_a_tampered_event_is_not_pruned_away(old_fetches):
    event = AuditEvent.objects.filter(action="runtime.fetch").order_by("seq")[2]
    sql("UPDATE environments_auditevent SET target = 'x' WHERE id = %s", [event.pk])
    count = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=f"event {event.pk} .* does not match its hash"):
        prune("--action", "runtime.fetch", "--older-than", "30")
    assert AuditEvent.objects.count() == count and not AuditTombstone.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--action", "audit.prune", "--older-than", "30"], "never pruned"),
        (["--action", "runtime.fetch", "--older-than", "0"], "at least 1"),
    ],
)
def test_bad_prune_arguments_are_refused(old_fetches, args, message):
    with pytest.raises(CommandError, match=message):
        prune(*args)
    assert not AuditTombstone.objects.exists()


# Fail-closed ----------------------------------------------------------------------------------


def test_a_change_whose_event_cannot_be_chained_rolls_back(staging, actor, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("chain head unavailable")

    monkeypatch.setattr(audit, "link_hash", refuse)  # SQLite: the link is computed in Python
    refuse_audit_writes(monkeypatch, refuse)  # PostgreSQL: in the one statement that appends
    count = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        services.set_variable(environment=staging, key="X", value="v", is_secret=False, actor=actor)
    assert not staging.variables.filter(key="X").exists()
    assert AuditEvent.objects.count() == count


def test_an_event_is_one_statement_on_postgresql_and_three_elsewhere(
    deployment, django_assert_num_queries
):
    """PostgreSQL: one statement locks and moves the head and inserts the event; elsewhere
    three: lock the head, insert the event, move the head."""
    actor = Actor.system("tests")
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 3):
        event = audit.record("tests.event", actor=actor, deployment=deployment)
    assert event.pk and event.seq == AuditChainHead.objects.get(chain=deployment.pk).seq
    assert event.hash == audit.link_hash(event.prev_hash, event.content_hash)


def test_many_pruned_ranges_are_counted_and_the_first_few_shown(deployment, staging, monkeypatch):
    token = Actor.system("token web")
    monkeypatch.setattr(audit, "now", lambda: datetime.now(UTC) - timedelta(days=40))
    for _ in range(8):  # seq 2.., fetch fetch token, fetch fetch token, …
        for action in ("runtime.fetch", "runtime.fetch", "token.create"):
            audit.record(action, actor=token, environment=staging)
    monkeypatch.undo()
    first = AuditEvent.objects.filter(chain=deployment.pk, action="runtime.fetch").order_by("seq")
    start = first[0].seq
    assert prune("--action", "runtime.fetch", "--older-than", "30") == "16"
    shown = ", ".join(f"{start + 3 * i}–{start + 3 * i + 1}" for i in range(5))
    assert f"16 pruned (seq {shown} and 3 more ranges)" in verify()


def test_verification_streams_across_chunk_boundaries(old_fetches, monkeypatch):
    """Events and tombstones are read in chunks and merged: a chunk of 4 rows gives the same
    answer as reading everything at once."""
    prune("--action", "runtime.fetch", "--older-than", "30")
    whole = verify()
    monkeypatch.setattr(selectors.audit, "AUDIT_CHUNK", 4)
    assert verify() == whole
    assert "6 pruned" in whole


# Chain heads ------------------------------------------------------------------------------------


def test_a_deployment_starts_its_chain_before_its_first_event(owner):
    """create_deployment gives the chain its head; append never creates one."""
    blog = services.create_deployment(name="blog", actor=Actor(user=owner, label="olivia"))
    first = AuditEvent.objects.get(chain=blog.pk)
    assert (first.seq, first.prev_hash, first.action) == (1, GENESIS, "deployment.create")
    assert AuditChainHead.objects.get(chain=blog.pk).hash == first.hash


def test_an_event_on_a_chain_whose_head_was_deleted_is_refused_and_writes_nothing(
    deployment, actor
):
    AuditChainHead.objects.filter(chain=deployment.pk).delete()
    events = AuditEvent.objects.count()
    with pytest.raises(audit.MissingHead), transaction.atomic():
        audit.record("tests.event", actor=actor, deployment=deployment)
    assert AuditEvent.objects.count() == events
    assert not AuditChainHead.objects.filter(chain=deployment.pk).exists()
