"""The audit trail a change leaves (the actor who makes it: `actors.Actor`).

`record()` is called by every service inside the transaction of the change it records; if the
event cannot be written the exception propagates and the whole change rolls back (fail-closed).

The trail is tamper-evident (SPEC §12): each deployment's events form a hash chain,
and events without a deployment form the global chain 0 (see `AuditEvent`). For each event:

    content_hash = SHA-256(canonical content), hex
    hash         = SHA-256(prev_hash + content_hash), hex (ASCII), prev_hash of seq 1 = GENESIS

The canonical content is the JSON array (`separators=(",", ":")`, `sort_keys=True`,
`ensure_ascii=True`) of, in this order: the format version 1, created_at in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`, actor_label, action, deployment_name, environment_name, target,
ip (or null), user_agent, outcome, detail. The FKs (`actor`, `deployment`) are left out: the
database sets them to NULL when a user or deployment is deleted, and the labels and names are
what the record says. The row id is left out (the database assigns it on insert), and so are
`chain` and `seq`: the links already fix each event's place (an event moved elsewhere no
longer follows its prev_hash), and a content hash that does not depend on the place can be
computed before the chain's head is locked, and the append is one SQL statement on
PostgreSQL (see `append`). Never change this format without a new version number: old chains verify
with the old one.

Every chain has its head row before its first event (`start_chain`), so an append only locks
and moves it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from . import actors, selectors
from .models import AuditChainHead, AuditEvent, AuditTombstone

if TYPE_CHECKING:
    from .actors import Actor
    from .models import Deployment, Environment


GENESIS = "0" * 64  # the prev_hash of each chain's first event
GLOBAL_CHAIN = 0  # events without a deployment (deployment ids start at 1)
CONTENT_VERSION = 1


def canonical_content(event: Any) -> bytes:
    """The bytes an event's content_hash covers (module docstring). `event` is an AuditEvent,
    or anything with its attributes (a historical model in a migration)."""
    created_at = event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = [
        CONTENT_VERSION,
        created_at,
        event.actor_label,
        event.action,
        event.deployment_name,
        event.environment_name,
        event.target,
        str(event.ip) if event.ip else None,
        event.user_agent,
        event.outcome,
        event.detail,
    ]
    return json.dumps(content, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()


def content_hash(event: Any) -> str:
    return hashlib.sha256(canonical_content(event)).hexdigest()


def link_hash(prev_hash: str, content_hash: str) -> str:
    return hashlib.sha256((prev_hash + content_hash).encode("ascii")).hexdigest()


def chain_of(deployment_id: int | None) -> int:
    return deployment_id if deployment_id is not None else GLOBAL_CHAIN


def now() -> datetime:
    """The time an event is stamped with: UTC, microseconds (what every database keeps)."""
    return timezone.now().astimezone(UTC)


@dataclass(frozen=True)
class Cte:
    """One more data-modifying step for the PostgreSQL statement that appends an event: `sql`
    is a CTE (`name AS (INSERT ... / UPDATE ...)`) with `%s` placeholders for `params`. It
    commits with the event or not at all (one statement). Its SQL must come from code (table
    names from models' `_meta`), never from input: every value goes in `params`."""

    sql: str
    params: list[Any]


def start_chain(chain: int) -> None:
    """Give a chain its head, at GENESIS: a deployment's with the deployment (in
    `services.create_deployment`), the global chain's in migration 0006 (and after a flush).
    Appending assumes the head exists."""
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(chain=chain, seq=0, hash=GENESIS)], ignore_conflicts=True
    )


def start_global_chain(**kwargs: Any) -> None:
    """post_migrate receiver: `manage.py flush` (and every transactional test) empties the
    tables after migration 0006 gave the global chain its head; this gives it back."""
    start_chain(GLOBAL_CHAIN)


class MissingHead(Exception):
    """The chain has no head row: it was deleted (verify_audit reports it), since every chain
    gets one when it starts (`start_chain`). Nothing was written."""


def append(*, also: Cte | None = None, **fields: Any) -> AuditEvent:
    """Insert an event (its content in `fields`, `chain` included) at the end of its chain.

    The head row of the chain is locked (held to the end of the caller's transaction), so
    concurrent writers to one chain take turns and no two events get the same seq or link to
    the same hash. On PostgreSQL that is ONE statement (`_append_sql`): lock the head, move it
    (PostgreSQL's sha256() computes the link) and insert the event, plus the caller's `also`
    step; in autocommit it is its own transaction, without BEGIN and COMMIT. Elsewhere
    (SQLite), three statements in a transaction: lock the head, insert, move the head (`also`
    is PostgreSQL-only: the caller writes its row beside, in its transaction).
    """
    fields["content_hash"] = content_hash(AuditEvent(**fields))  # before the lock: not held long
    chain = fields["chain"]
    if connection.vendor == "postgresql":
        return _append_in_one_statement(fields, also)
    if also is not None:
        raise ValueError("audit.append(also=...) is for PostgreSQL only")
    with transaction.atomic(savepoint=False):  # select_for_update needs a transaction
        head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
        if head is None:
            raise MissingHead(f"audit chain {chain} has no head")
        fields |= {"seq": head.seq + 1, "prev_hash": head.hash}
        fields["hash"] = link_hash(fields["prev_hash"], fields["content_hash"])
        event = AuditEvent.objects.create(**fields)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
    return event


_LINK_FIELDS = ("id", "seq", "prev_hash", "hash")  # what the statement computes


@functools.cache
def _content_fields() -> tuple[Any, ...]:
    return tuple(f for f in AuditEvent._meta.concrete_fields if f.name not in _LINK_FIELDS)


@functools.cache
def _append_sql(also: str) -> str:
    """The one-statement append (PostgreSQL). In READ COMMITTED, `old`'s FOR UPDATE waits for a
    concurrent appender's commit and then returns the head's newest version; the UPDATE of
    `head` finds that version too (a row updated since the statement's snapshot is re-read
    before it is updated), and takes seq and prev_hash from `old`: the link is to the last
    event, never to a stale one. The event's values are all parameters; the names come from
    the models. Without a head row (deleted), `head` is empty: without `also`, nothing is written
    and no row comes back; with it, the event's seq is NULL and the statement fails whole (NOT
    NULL), so that `also` is never written without the event."""
    quote = connection.ops.quote_name
    heads, events = quote(AuditChainHead._meta.db_table), quote(AuditEvent._meta.db_table)
    columns = ", ".join(quote(f.column) for f in _content_fields())
    values = ", ".join("%s" for _ in _content_fields())
    source = "(VALUES (1)) AS one LEFT JOIN head ON TRUE" if also else "head"
    return f"""WITH old AS (SELECT seq, hash FROM {heads} WHERE chain = %s FOR UPDATE),
head AS (
    UPDATE {heads} AS h
       SET seq = old.seq + 1, hash = encode(sha256(convert_to(old.hash || %s, 'UTF8')), 'hex')
      FROM old WHERE h.chain = %s
    RETURNING h.seq, h.hash, old.hash AS prev_hash
){", " + also if also else ""}
INSERT INTO {events} ({columns}, seq, prev_hash, hash)
SELECT {values}, head.seq, head.prev_hash, head.hash FROM {source}
RETURNING id, seq, prev_hash, hash"""  # noqa: S608


def _append_in_one_statement(fields: dict[str, Any], also: Cte | None) -> AuditEvent:
    """The event appended by one statement (PostgreSQL)."""
    event = AuditEvent(**fields)
    chain = fields["chain"]
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in _content_fields()]
    params = [chain, event.content_hash, chain, *(also.params if also else ()), *values]
    with connection.cursor() as cursor:
        cursor.execute(_append_sql(also.sql if also else ""), params)
        row = cursor.fetchone()
    if row is None:
        raise MissingHead(f"audit chain {chain} has no head")
    event.id, event.seq, event.prev_hash, event.hash = row
    event._state.adding, event._state.db = False, connection.alias
    return event


def record(
    action: str,
    *,
    actor: Actor,
    deployment: Deployment | None = None,
    environment: Environment | None = None,
    target: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
    also: Cte | None = None,
) -> AuditEvent:
    """Append the event of `action` to its chain (see `append`; `also`: PostgreSQL only)."""
    if environment is not None and deployment is None:
        deployment = environment.deployment
    return append(
        created_at=now(),
        actor=actor.user,
        actor_label=actors.printable(actor.label)[:200],
        action=action,
        deployment=deployment,
        deployment_name=deployment.name if deployment else "",
        environment_name=environment.name if environment else "",
        target=actors.printable(target)[:300],
        ip=actor.ip,
        user_agent=actors.printable(actor.user_agent)[:300],
        outcome=outcome,
        # What the database gives back (JSON types, string keys), so the hash matches on reading.
        detail=json.loads(json.dumps(detail or {})),
        chain=chain_of(deployment.pk if deployment else None),
        also=also,
    )


# Verification (manage.py verify_audit) -------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first thing wrong in a chain: where, and what."""

    seq: int
    event_id: int | None
    what: str


@dataclass
class ChainReport:
    chain: int
    name: str = ""  # the deployment's name, as its newest checked event says
    events: int = 0
    pruned: int = 0
    pruned_ranges: list[tuple[int, int]] = field(default_factory=list)  # the first few
    pruned_range_count: int = 0  # runs of consecutive pruned seqs
    _last_pruned: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    broken: Break | None = None


def verify(*, chain: int | None = None) -> list[ChainReport]:
    """Check every chain (or one) link by link, streaming the events (10⁶ of them take no more
    memory than ten). Reports the first break of each chain: an event whose content no longer
    hashes to its content_hash (edited), a prev_hash that is not the previous hash (a broken
    link), a hash that is not SHA-256(prev_hash + content_hash), a gap in seq (deleted rows),
    and a head that is ahead of the last event (the newest events deleted)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            # One snapshot for the heads and the events, whatever is appended meanwhile
            # (SQLite's read transaction is one snapshot already).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        heads = selectors.audit_chain_heads(chain)
        reports = [
            _verify_chain(number, rows, heads.pop(number, None))
            for number, rows in groupby(selectors.audit_chain_links(chain), key=attrgetter("chain"))
        ]
        # Heads whose chain has no row left at all: every event was deleted (a chain that
        # never had one, its head still at GENESIS, has nothing to check).
        reports += [
            _verify_chain(number, iter(()), head)
            for number, head in heads.items()
            if head.seq or head.hash != GENESIS
        ]
    return sorted(reports, key=attrgetter("chain"))


SHOWN_RANGES = 5


def _add_pruned(report: ChainReport, seq: int) -> None:
    """Count runs of pruned seqs, keeping the first few (memory stays flat however many)."""
    if report._last_pruned and report._last_pruned == seq - 1:
        if report.pruned_range_count <= SHOWN_RANGES:
            first, _ = report.pruned_ranges[-1]
            report.pruned_ranges[-1] = (first, seq)
    else:
        report.pruned_range_count += 1
        if report.pruned_range_count <= SHOWN_RANGES:
            report.pruned_ranges.append((seq, seq))
    report._last_pruned = seq


def _verify_chain(
    chain: int, rows: Iterator[AuditEvent | AuditTombstone], head: AuditChainHead | None
) -> ChainReport:
    report = ChainReport(chain=chain)
    expected, running = 1, GENESIS
    for row in rows:
        event = row if isinstance(row, AuditEvent) else None
        if event is not None and chain != GLOBAL_CHAIN:
            report.name = event.deployment_name
        problem = ""
        if head is not None and row.seq > head.seq:
            problem = f"seq {row.seq} is past the chain's head (seq {head.seq}): the head was moved"
        elif row.seq < expected:
            problem = "two rows at this seq (an event and a pruned event's tombstone)"
        elif row.seq > expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}–{row.seq - 1}"
            problem = f"gap: seq {missing} missing before this event (deleted)"
        elif event is None:
            running = link_hash(running, row.content_hash)
            report.pruned += 1
            _add_pruned(report, row.seq)
        elif content_hash(event) != event.content_hash:
            problem = "content hash mismatch: the event was changed after it was written"
        elif event.prev_hash != running:
            problem = "broken link: prev_hash is not the previous event's hash"
        elif event.hash != link_hash(running, event.content_hash):
            problem = "hash mismatch: hash is not SHA-256(prev_hash + content_hash)"
        else:
            running = event.hash
            report.events += 1
        if problem:
            report.broken = Break(seq=row.seq, event_id=event.pk if event else None, what=problem)
            return report
        expected += 1
    last = expected - 1
    report.head_seq, report.head_hash = last, running
    if head is None:
        if last:
            report.broken = Break(seq=last, event_id=None, what="the chain's head row is missing")
    elif head.seq > last:
        missing = f"{last + 1}" if head.seq == last + 1 else f"{last + 1}–{head.seq}"
        report.broken = Break(
            seq=last + 1, event_id=None, what=f"missing tail: seq {missing} deleted"
        )
    elif head.hash != running:
        report.broken = Break(
            seq=last, event_id=None, what="the head's hash is not the last event's hash"
        )
    return report


# Export and pruning ----------------------------------------------------------------------------


def record_export(*, deployment: Deployment, fmt: str, filters: dict[str, Any], actor: Actor):
    """The export is on record before a row of it leaves (its own transaction; fail-closed:
    no event, no export)."""
    with transaction.atomic(durable=True):
        return record(
            "audit.export",
            actor=actor,
            deployment=deployment,
            target=fmt,
            detail={"format": fmt, "filters": {k: v for k, v in filters.items() if v}},
        )


class TamperedEvent(Exception):
    """prune_audit refuses to remove an event whose content no longer matches its hash: that
    would erase the evidence. Run verify_audit."""


PRUNE_BATCH = 2000


def prune(*, action: str, before: datetime, actor: Actor, dry_run: bool = False) -> int:
    """Delete the events of `action` written before `before`, leaving a tombstone (chain, seq,
    content_hash) for each, so that every link of every chain can still be checked; the prune
    is recorded (action, cutoff, count) in the same transaction. Returns how many events it
    pruned (or, with `dry_run`, would prune)."""
    if action.startswith("audit."):
        raise ValueError("the audit log's own events (audit.*) are never pruned")
    candidates = AuditEvent.objects.filter(action=action, created_at__lt=before)
    if dry_run:
        return candidates.count()
    count, last_id = 0, 0
    with transaction.atomic(durable=True):
        while batch := list(candidates.filter(id__gt=last_id).order_by("id")[:PRUNE_BATCH]):
            for event in batch:
                if content_hash(event) != event.content_hash:
                    raise TamperedEvent(
                        f"event {event.pk} (chain {event.chain}, seq {event.seq}) does not match"
                        " its hash; nothing was pruned. Run verify_audit."
                    )
            AuditTombstone.objects.bulk_create(
                AuditTombstone(chain=e.chain, seq=e.seq, content_hash=e.content_hash) for e in batch
            )
            AuditEvent.objects.filter(id__in=[e.pk for e in batch]).delete()
            count, last_id = count + len(batch), batch[-1].pk
        record(
            "audit.prune",
            actor=actor,
            target=action,
            detail={"action": action, "before": before.astimezone(UTC).isoformat(), "count": count},
        )
    return count
