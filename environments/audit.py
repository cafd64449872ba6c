"""The audit trail a change leaves (the actor who makes it: `actors.Actor`).

`record()` is called by every service inside the transaction of the change it records; if the
event cannot be written the exception propagates and the whole change rolls back (fail-closed).

The trail is tamper-evident (SPEC §12): each deployment's events form a hash chain,
and events without a deployment form the global chain 0 (see `AuditEvent`). For each event:

    content_hash = the hash of its canonical content (below), hex
    hash         = SHA-256(prev_hash + content_hash), hex (ASCII), prev_hash of seq 1 = GENESIS

The canonical content has a format version, stored with each event (`content_version`):

Version 1 (events written before migration 0009): content_hash = SHA-256 of the JSON array
(`separators=(",", ":")`, `sort_keys=True`, `ensure_ascii=True`) of, in this order: the
format version 1, created_at in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, actor_label, action,
deployment_name, environment_name, target, ip (or null), user_agent, outcome, detail.

Version 2 (since): content_hash = SHA-256(lead_hash + rest_hash) (the two hex digests, ASCII),
where lead_hash = SHA-256 of the JSON array [2, created_at, action] and rest_hash = SHA-256 of
the JSON array [2, actor_label, deployment_name, environment_name, target, ip (or null),
user_agent, outcome, detail, coalesce_until (the same time format, or null)], JSON and times
as in version 1. The split lets a pruned event's tombstone keep its action and time with the
rest_hash, so that what a tombstone stands for can be checked (`audit_verify`) and a tombstone
cannot be made up for an event of another action or time.

The FKs (`actor`, `deployment`) are left out: the database sets them to NULL when a user or
deployment is deleted, and the labels and names are what the record says (which is why the
audit page selects a deployment's events by `chain`, never by the FK). The row id is left out
(the database assigns it on insert), and so are `chain` and `seq`: the links already fix each
event's place (an event moved elsewhere no longer follows its prev_hash), and a content hash
that does not depend on the place can be computed before the chain's head is locked, and the
append is one SQL statement on PostgreSQL (see `append`). `count` is left out too: it grows
while a coalesced event's window is open (`COALESCED`). Never change a format without a new
version number: old chains verify with the old one.

Every chain has its head row before its first event (`start_chain`), so an append only locks
and moves it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from . import actors
from .models import AuditChainHead, AuditEvent, AuditTombstone
from .webhooks import outbox as webhook_outbox

if TYPE_CHECKING:
    from .actors import Actor
    from .audit_verify import ChainReport
    from .models import Deployment, Environment


GENESIS = "0" * 64  # the prev_hash of each chain's first event
GLOBAL_CHAIN = 0  # events without a deployment (deployment ids start at 1)
CONTENT_VERSION = 2  # new events; version 1 still verifies


def stamp(moment: datetime | str | None) -> str | None:
    """A time as the canonical content writes it: UTC, microseconds, `Z` (a string is taken to
    be one already: an exported row's, checked offline)."""
    if moment is None or isinstance(moment, str):
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(content: list[Any]) -> bytes:
    return json.dumps(content, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lead_hash(action: str, created_at: datetime) -> str:
    """Version 2: the hash of the part of an event a tombstone keeps in the clear."""
    return _sha256(_json([2, stamp(created_at), action]))


def rest_hash(event: Any) -> str:
    """Version 2: the hash of the rest of an event's content (a tombstone keeps it)."""
    return _sha256(
        _json(
            [
                2,
                event.actor_label,
                event.deployment_name,
                event.environment_name,
                event.target,
                str(event.ip) if event.ip else None,
                event.user_agent,
                event.outcome,
                event.detail,
                stamp(getattr(event, "coalesce_until", None)),
            ]
        )
    )


def joined_hash(lead: str, rest: str) -> str:
    """Version 2: content_hash from its two parts."""
    return _sha256((lead + rest).encode("ascii"))


def canonical_content(event: Any) -> bytes:
    """The bytes an event's content_hash is the SHA-256 of (module docstring). `event` is an
    AuditEvent, or anything with its attributes (a historical model in a migration, an exported
    row); without `content_version` it is version 1 (what migration 0005 chained)."""
    version = getattr(event, "content_version", 1)
    if version == 2:
        return (lead_hash(event.action, event.created_at) + rest_hash(event)).encode("ascii")
    if version != 1:
        raise ValueError(f"unknown audit content version {version!r}")
    return _json(
        [
            1,
            stamp(event.created_at),
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
    )


def content_hash(event: Any) -> str:
    return _sha256(canonical_content(event))


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
    event = new_event(fields)
    fields["content_hash"] = event.content_hash = content_hash(event)  # before the lock
    chain = fields["chain"]
    if connection.vendor == "postgresql":
        return _append_in_one_statement(event, also)
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


@functools.cache
def _event_fields() -> tuple[tuple[str, str, Callable[[], Any], bool], ...]:
    """(name, attname, default, is a foreign key) of each of AuditEvent's concrete fields; the
    default is what `Field.get_default` calls (a field without one: None, or "" for text)."""
    return tuple(
        (f.name, f.attname, f._get_default, f.is_relation) for f in AuditEvent._meta.concrete_fields
    )


@functools.cache
def _event_names() -> frozenset[str]:
    return frozenset(n for name, attname, *_ in _event_fields() for n in (name, attname))


def new_event(fields: dict[str, Any]) -> AuditEvent:
    """`AuditEvent(**fields)`, as `Model.__init__` leaves it (a foreign key given as an object
    goes through its descriptor; a field not given takes its default, a callable one called),
    without its per-field loop over keyword arguments and its pre_init and post_init signals,
    which nothing listens to for this model (tests/test_audit_prepare.py compares the two)."""
    event = AuditEvent.__new__(AuditEvent)
    event._state = ModelState()
    values = event.__dict__
    unknown = fields.keys() - _event_names()
    if unknown:
        raise TypeError(f"AuditEvent has no field {sorted(unknown)[0]!r}")
    for name, attname, default, relation in _event_fields():
        if relation and name in fields:
            setattr(event, name, fields[name])  # its descriptor, as Model.__init__ does
        elif name in fields:
            values[attname] = fields[name]
        elif attname in fields:
            values[attname] = fields[attname]
        else:
            values[attname] = default()
    return event


_LINK_FIELDS = ("id", "seq", "prev_hash", "hash")  # what the statement computes


@functools.cache
def _content_fields() -> tuple[Any, ...]:
    return tuple(f for f in AuditEvent._meta.concrete_fields if f.name not in _LINK_FIELDS)


# Fields whose value goes to the database as the model holds it (a str): `get_db_prep_save`
# would hand it back unchanged, at some cost per field and event. (Not the integer fields:
# PostgreSQL's backend sends their values typed, as int2, int4 or int8.)
_AS_HELD = (models.CharField,)
_INTEGERS = (
    models.BigIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveIntegerField,
    models.AutoField,
    models.BigAutoField,
)


@functools.cache
def _content_preparers() -> tuple[Callable[[AuditEvent], Any], ...]:
    """For each content field, what gets its value for the PostgreSQL statement from an event,
    as `get_db_prep_save` would: its attribute as it is where that would not change it (a str;
    an aware datetime, which PostgreSQL's backend passes on as it is), an address's adapted
    value kept per address, else `get_db_prep_save` itself (tests/test_audit_prepare.py)."""

    def as_held(attname: str) -> Callable[[AuditEvent], Any]:
        return lambda event: getattr(event, attname)

    def prepared(field: Any) -> Callable[[AuditEvent], Any]:
        return lambda event: field.get_db_prep_save(field.pre_save(event, True), connection)

    def moment(field: Any) -> Callable[[AuditEvent], Any]:
        slow = prepared(field)

        def prepare(event: AuditEvent) -> Any:
            value = getattr(event, field.attname)
            aware = isinstance(value, datetime) and value.utcoffset() is not None
            return value if value is None or aware else slow(event)

        return prepare

    def integer(field: Any) -> Callable[[AuditEvent], Any]:
        # A foreign key's value is its target's: an id (an auto field's, which goes as an int),
        # else PostgreSQL's backend types it (int2, int4 or int8).
        target = getattr(field, "target_field", field)
        internal = target.get_internal_type()
        auto = isinstance(target, models.AutoField | models.BigAutoField)

        def prepare(event: AuditEvent) -> Any:
            value = getattr(event, field.attname)
            if value is None or auto:
                return value if value is None else int(value)
            return connection.ops.adapt_integerfield_value(int(value), internal)

        return prepare

    def address(field: Any) -> Callable[[AuditEvent], Any]:
        adapted = functools.lru_cache(maxsize=4096)(
            lambda value: field.get_db_prep_save(value, connection)
        )
        return lambda event: adapted(getattr(event, field.attname))

    def preparer(field: Any) -> Callable[[AuditEvent], Any]:
        if type(field) in _AS_HELD:
            return as_held(field.attname)
        if type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
            return moment(field)
        if type(field) is models.GenericIPAddressField:
            return address(field)
        if type(field) in _INTEGERS or (
            type(field) is models.ForeignKey and type(field.target_field) in _INTEGERS
        ):
            return integer(field)
        return prepared(field)

    return tuple(preparer(f) for f in _content_fields())


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


def _append_in_one_statement(event: AuditEvent, also: Cte | None) -> AuditEvent:
    """The event appended by one statement (PostgreSQL)."""
    chain = event.chain
    values = [prepare(event) for prepare in _content_preparers()]
    params = [chain, event.content_hash, chain, *(also.params if also else ()), *values]
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` looks it up again
    with db.cursor() as cursor:
        cursor.execute(_append_sql(also.sql if also else ""), params)
        row = cursor.fetchone()
    if row is None:
        raise MissingHead(f"audit chain {chain} has no head")
    event.id, event.seq, event.prev_hash, event.hash = row
    event._state.adding, event._state.db = False, db.alias
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
) -> AuditEvent | None:
    """Append the event of `action` to its chain (see `append`; `also`: PostgreSQL only).

    An action in COALESCED is counted into the open event like it instead, when there is one
    (see `_count_into_open_event`): then nothing is appended and None is returned."""
    if environment is not None and deployment is None:
        deployment = environment.deployment
    fields: dict[str, Any] = dict(
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
    )
    rule = COALESCED.get(action)
    if rule is not None and also is None:
        key = _sha256(_json([fields["chain"], action, *rule.key(fields)]))
        if _count_into_open_event(key, fields["created_at"]):
            return None
        fields |= {"coalesce_key": key, "coalesce_until": fields["created_at"] + rule.window()}
    event = append(also=also, **fields)
    webhook_outbox.on_audit(event)  # the webhook event it stands for, in this transaction
    return event


# Coalescing: actions anyone may repeat at no cost append a bounded number of events ------------


@dataclass(frozen=True)
class Coalescing:
    """Events of one action whose `key` (of the event's fields; the chain and action besides)
    is the same within `window` of the first are counted into the first (its `count`), which
    says so in its content (`coalesce_until`, hashed). The later ones' user agents, and for a
    locked address the usernames after the first, are not kept."""

    window: Callable[[], timedelta]
    key: Callable[[dict[str, Any]], list[Any]]


def _lock_window() -> timedelta:
    return settings.AXES_COOLOFF_TIME


def _ip(fields: dict[str, Any]) -> str | None:
    return str(fields["ip"]) if fields["ip"] else None


COALESCED: dict[str, Coalescing] = {
    # Logins (auth_audit): per address, username as typed and login page, a lock window long.
    # Failures are bounded by the lock anyway (30 an address); attempts while locked are not.
    "auth.login_failed": Coalescing(
        _lock_window, lambda f: [_ip(f), f["target"], f["outcome"], f["detail"]]
    ),
    # A locked address: whatever username is tried (its first one is the target).
    "auth.login_locked": Coalescing(
        _lock_window,
        lambda f: (
            [_ip(f), f["outcome"], f["detail"]]
            + ([] if f["detail"].get("lock") == "address" else [f["target"]])
        ),
    ),
    # Refused OIDC exchanges (anyone may send one): per address, reason and actor, a minute.
    "oidc.refused": Coalescing(
        lambda: timedelta(minutes=1),
        lambda f: [_ip(f), f["actor_label"], f["target"], f["outcome"], f["detail"]],
    ),
    # Compare views (services.record_compare): per user and pair of environments, a minute.
    "environment.compare": Coalescing(
        lambda: timedelta(minutes=1),
        lambda f: [
            f["actor"].pk if f["actor"] else None,
            f["actor_label"],
            f["target"],
            f["outcome"],
            f["detail"],
        ],
    ),
}


@functools.cache
def _count_sql() -> str:
    q = connection.ops.quote_name
    table, count, pk = q(AuditEvent._meta.db_table), q("count"), q("id")
    return f"""UPDATE {table} SET {count} = {count} + 1
WHERE {pk} = (SELECT {pk} FROM {table} WHERE {q("coalesce_key")} = %s
              AND {q("coalesce_until")} > %s ORDER BY {pk} DESC LIMIT 1)"""  # noqa: S608


def _count_into_open_event(key: str, moment: datetime) -> bool:
    """Count one more into the newest event with `key` whose window is still open at `moment`:
    one UPDATE, in the caller's transaction (fail-closed: if it fails, so does the caller's
    change), which locks that event's row and not the chain's head. Two first attempts at once
    both find none and append an event each (count 1 and 1); later ones queue on the row lock
    and each adds one (PostgreSQL re-reads the row it waited for). Never zero."""
    with connection.cursor() as cursor:
        until = AuditEvent._meta.get_field("coalesce_until")
        cursor.execute(_count_sql(), [key, until.get_db_prep_value(moment, connection)])
        return cursor.rowcount == 1


def verify(*, chain: int | None = None) -> list[ChainReport]:
    """Check every chain, or one (`audit_verify.verify`)."""
    from .audit_verify import verify as verify_chains

    return verify_chains(chain=chain)


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
    """Delete the events of `action` written before `before`, leaving a tombstone for each:
    its place (chain, seq) and content_hash, so that every link of every chain can still be
    checked, and what it stands for (content version 2: the action, time and rest_hash the
    content_hash is made of; version 1: the action and time, unbound) with the prune's id. The
    prune is recorded in the same transaction in chain 0: `audit.prune`, with its action,
    cut-off, count and id, which verification checks every tombstone against. Returns how
    many events it pruned (or, with `dry_run`, would prune)."""
    if action.startswith("audit."):
        raise ValueError("the audit log's own events (audit.*) are never pruned")
    candidates = AuditEvent.objects.filter(action=action, created_at__lt=before)
    if dry_run:
        return candidates.count()
    prune_id = uuid.uuid4().hex
    count, last_id = 0, 0
    with transaction.atomic(durable=True):
        while batch := list(candidates.filter(id__gt=last_id).order_by("id")[:PRUNE_BATCH]):
            for event in batch:
                if content_hash(event) != event.content_hash:
                    raise TamperedEvent(
                        f"event {event.pk} (chain {event.chain}, seq {event.seq}) does not match"
                        " its hash; nothing was pruned. Run verify_audit."
                    )
            AuditTombstone.objects.bulk_create(_tombstone(e, prune_id) for e in batch)
            AuditEvent.objects.filter(id__in=[e.pk for e in batch]).delete()
            count, last_id = count + len(batch), batch[-1].pk
        record(
            "audit.prune",
            actor=actor,
            target=action,
            detail={
                "action": action,
                "before": before.astimezone(UTC).isoformat(),
                "count": count,
                "prune": prune_id,
            },
        )
    return count


def _tombstone(event: AuditEvent, prune_id: str) -> AuditTombstone:
    return AuditTombstone(
        chain=event.chain,
        seq=event.seq,
        content_hash=event.content_hash,
        content_version=event.content_version,
        action=event.action,
        created_at=event.created_at,
        rest_hash=rest_hash(event) if event.content_version == 2 else "",
        prune=prune_id,
    )
