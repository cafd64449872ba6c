"""Verifying the audit log's hash chains (`manage.py verify_audit`, SPEC §12; the format is in
`audit`).

Each chain is checked link by link, streaming (10⁶ events take no more memory than ten), and
its first break reported: an event whose content no longer hashes to its content_hash (edited),
a prev_hash that is not the previous hash (a broken link), a hash that is not SHA-256(prev_hash
+ content_hash), a gap in seq (deleted rows), a head that is ahead of the last event (the
newest events deleted), an event or tombstone in an older content format after a newer one.

A tombstone (a pruned event) must stand for what it says, and be accounted for: in version 2
its content_hash must be SHA-256(H(action, created_at) + rest_hash) from the inputs it keeps;
its action is never `audit.*`; the `audit.prune` event of chain 0 that its `prune` id names
(content intact) must be of its action, with a cut-off after its time, and record as many
tombstones as name it. Tombstones without a prune id are those written before migration 0009
(version 1 events, unbound to their action): there must be exactly as many as 0009's
`audit.upgrade` event recorded (none without it).

A chain cannot vanish whole: every existing deployment has a head with at least one event
(its creation), or its chain is reported broken.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import attrgetter

from django.db import connection, transaction

from .audit import GENESIS, GLOBAL_CHAIN, content_hash, joined_hash, lead_hash, link_hash
from .models import AuditChainHead, AuditEvent, AuditTombstone
from .selectors import audit as selectors


@dataclass(frozen=True)
class Break:
    """The first thing wrong in a chain: where, and what."""

    seq: int
    event_id: int | None
    what: str


@dataclass
class ChainReport:
    chain: int
    name: str = ""  # the deployment's name, as its newest checked event (or the deployment) says
    events: int = 0
    pruned: int = 0
    pruned_ranges: list[tuple[int, int]] = field(default_factory=list)  # the first few
    pruned_range_count: int = 0  # runs of consecutive pruned seqs
    _last_pruned: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    broken: Break | None = None


@dataclass(frozen=True)
class Prune:
    """An `audit.prune` event of chain 0, as its (intact) content says."""

    seq: int
    action: str
    before: datetime
    count: int


@dataclass(frozen=True)
class Accounts:
    """What tombstones are checked against, read once in the verification's snapshot."""

    prunes: dict[str, Prune]  # by prune id
    claimed: dict[str, int]  # tombstones naming each prune id
    legacy: int  # tombstones without a prune id (written before migration 0009)
    legacy_recorded: int  # how many 0009's audit.upgrade event recorded (0 without one)


def verify(*, chain: int | None = None) -> list[ChainReport]:
    """Check every chain (or one), and every existing deployment's (or that one's)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            # One snapshot for the heads, the events and the deployments, whatever is appended
            # meanwhile (SQLite's read transaction is one snapshot already).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        accounts = _accounts()
        heads = selectors.audit_chain_heads(chain)
        deployments = selectors.audit_deployment_names(chain)
        reports = [
            _verify_chain(number, rows, heads.pop(number, None), accounts)
            for number, rows in groupby(selectors.audit_chain_links(chain), key=attrgetter("chain"))
        ]
        # Heads whose chain has no row left at all: every event was deleted (a chain that
        # never had one, its head still at GENESIS, has nothing to check; unless it is an
        # existing deployment's, below).
        reports += [
            _verify_chain(number, iter(()), head, accounts)
            for number, head in heads.items()
            if head.seq or head.hash != GENESIS
        ]
        reported = {report.chain: report for report in reports}
        for number, name in deployments.items():
            report = reported.get(number)
            if report is None:
                report = ChainReport(chain=number, name=name)
                head = number in heads
                report.broken = Break(
                    seq=1,
                    event_id=None,
                    what=(
                        "the deployment's chain has no event, not even its creation (deleted)"
                        if head
                        else "the deployment's chain has no head and no event (deleted)"
                    ),
                )
                reports.append(report)
            report.name = report.name or name
    return sorted(reports, key=attrgetter("chain"))


def _accounts() -> Accounts:
    prunes = {}
    for event in selectors.audit_prune_events():
        detail = event.detail if isinstance(event.detail, dict) else {}
        if not _intact(event) or not detail.get("prune"):
            continue  # an edited one covers nothing (and breaks chain 0)
        try:
            prunes[str(detail["prune"])] = Prune(
                seq=event.seq,
                action=str(detail["action"]),
                before=datetime.fromisoformat(detail["before"]),
                count=int(detail["count"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
    upgrade = selectors.audit_upgrade_event()
    recorded = 0
    if upgrade is not None and _intact(upgrade) and isinstance(upgrade.detail, dict):
        recorded = int(upgrade.detail.get("legacy_tombstones", 0))
    claimed = selectors.audit_tombstone_claims()
    return Accounts(
        prunes=prunes,
        claimed=claimed,
        legacy=claimed.pop("", 0),
        legacy_recorded=recorded,
    )


def _intact(event: AuditEvent) -> bool:
    """Whether the event's content still hashes to its content_hash."""
    try:
        return content_hash(event) == event.content_hash
    except ValueError:  # an unknown content version
        return False


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


def _tombstone_problem(row: AuditTombstone, accounts: Accounts) -> str:
    """What is wrong with a tombstone, or ""."""
    if row.content_version == 2 and row.content_hash != joined_hash(
        lead_hash(row.action, row.created_at), row.rest_hash
    ):
        return "the tombstone's content hash is not made of the action, time and rest it keeps"
    if row.content_version not in (1, 2):
        return f"a tombstone of unknown content version {row.content_version}"
    if row.action.startswith("audit."):
        return "a tombstone of an audit.* event, which is never pruned"
    if not row.prune:
        if row.content_version != 1 or accounts.legacy != accounts.legacy_recorded:
            return (
                f"{accounts.legacy} tombstones from before content version 2, but"
                f" {accounts.legacy_recorded} recorded by the upgrade: one was made up"
            )
        return ""
    prune = accounts.prunes.get(row.prune)
    if prune is None or prune.action != row.action:
        return f"no audit.prune event of {row.action or 'its action'} covers this tombstone"
    if row.created_at is None or row.created_at >= prune.before:
        return f"the tombstone is not older than the cut-off of its prune (chain 0 seq {prune.seq})"
    claimed = accounts.claimed.get(row.prune, 0)
    if claimed != prune.count:
        return (
            f"the prune at chain 0 seq {prune.seq} removed {prune.count} events, but {claimed}"
            " tombstones name it"
        )
    return ""


def _verify_chain(
    chain: int,
    rows: Iterator[AuditEvent | AuditTombstone],
    head: AuditChainHead | None,
    accounts: Accounts,
) -> ChainReport:
    report = ChainReport(chain=chain)
    expected, running, version = 1, GENESIS, 1
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
        elif row.content_version < version:
            problem = (
                f"content version {row.content_version} after version {version}: events are"
                " never written in an older format"
            )
        elif event is None:
            problem = _tombstone_problem(row, accounts)
            if not problem:
                running = link_hash(running, row.content_hash)
                report.pruned += 1
                _add_pruned(report, row.seq)
        elif not _intact(event):
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
        version = max(version, row.content_version)
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
