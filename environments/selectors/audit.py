"""The audit log as its page and export read it, and the chains as verify_audit reads them."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from django.db.models import (
    Count,
    QuerySet,
)

from ..audit_labels import READS
from ..models import (
    AuditChainHead,
    AuditEvent,
    AuditTombstone,
    Deployment,
)
from .paging import Page, keyset_page


def _log_of(deployment: Deployment) -> QuerySet[AuditEvent]:
    """The deployment's log: its chain's events. Never by the `deployment` FK, which the hashes
    do not cover (it is set to NULL when the deployment is deleted): an event whose FK was moved
    would leave its log, and show in another's, while every chain still verifies."""
    return AuditEvent.objects.filter(chain=deployment.pk)


def audit_actions(deployment: Deployment) -> list[str]:
    """The actions the deployment's log holds, for the filter."""
    return sorted(set(_log_of(deployment).order_by().values_list("action", flat=True).distinct()))


def audit_events(
    deployment: Deployment,
    *,
    action: str = "",
    environment: str = "",
    actor: str = "",
    before: int | None = None,
    limit: int = 200,
    changes_only: bool = False,
) -> Page[AuditEvent]:
    """Newest first; `before` (an event id) pages back through older events (keyset paging,
    so a page costs the same however deep it is). `changes_only` leaves out the reads
    (`audit_labels.READS`: runtime fetches, reveals, compare views, previews, exports, failed
    logins), in the same one query."""
    events = _filtered_audit_events(
        deployment, action=action, environment=environment, actor=actor, before=None
    )
    if changes_only:
        events = events.exclude(action__in=READS)
    return keyset_page(events, key="id", before=before, limit=limit)


def _filtered_audit_events(
    deployment: Deployment, *, action: str, environment: str, actor: str, before: int | None
) -> QuerySet[AuditEvent]:
    events = _log_of(deployment)
    if before:
        events = events.filter(id__lt=before)
    if action:
        events = events.filter(action__startswith=action)
    if environment:
        events = events.filter(environment_name=environment)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    return events


AUDIT_CHUNK = 2000  # rows per fetch when streaming the log: memory stays flat however long


def audit_events_for_export(
    deployment: Deployment,
    *,
    action: str = "",
    environment: str = "",
    actor: str = "",
    before: int | None = None,
) -> Iterator[AuditEvent]:
    """The audit page's events with the page's filters, newest first, all of them, streamed:
    one query, fetched AUDIT_CHUNK rows at a time (a server-side cursor on PostgreSQL)."""
    events = _filtered_audit_events(
        deployment, action=action, environment=environment, actor=actor, before=before
    )
    return events.order_by("-id").iterator(chunk_size=AUDIT_CHUNK)


def audit_chain_heads(chain: int | None = None) -> dict[int, AuditChainHead]:
    """Every chain's head (one row per deployment that ever had an event, plus chain 0)."""
    heads = AuditChainHead.objects.all()
    if chain is not None:
        heads = heads.filter(chain=chain)
    return {head.chain: head for head in heads}


def audit_chain_links(chain: int | None = None) -> Iterator[AuditEvent | AuditTombstone]:
    """Every event and tombstone of every chain (or of one), in chain order (chain, seq),
    streamed: the two tables are read by two cursors and merged, so memory stays flat."""
    events = AuditEvent.objects.order_by("chain", "seq").defer("actor", "deployment")
    tombstones = AuditTombstone.objects.order_by("chain", "seq")
    if chain is not None:
        events, tombstones = events.filter(chain=chain), tombstones.filter(chain=chain)
    return heapq.merge(
        events.iterator(chunk_size=AUDIT_CHUNK),
        tombstones.iterator(chunk_size=AUDIT_CHUNK),
        key=lambda row: (row.chain, row.seq),
    )


def audit_deployment_names(chain: int | None = None) -> dict[int, str]:
    """The existing deployments (or the one whose chain is `chain`), by id: each must have a
    chain with at least one event."""
    deployments = Deployment.objects.order_by("pk")
    if chain is not None:
        deployments = deployments.filter(pk=chain)
    return dict(deployments.values_list("pk", "name"))


def audit_prune_events() -> Iterator[AuditEvent]:
    """The `audit.prune` events (chain 0), which tombstones are checked against."""
    return (
        AuditEvent.objects.filter(chain=0, action="audit.prune")
        .defer("actor", "deployment")
        .order_by("seq")
        .iterator(chunk_size=AUDIT_CHUNK)
    )


def audit_upgrade_event() -> AuditEvent | None:
    """Migration 0008's `audit.upgrade` event, which counts the tombstones written before it."""
    return (
        AuditEvent.objects.filter(chain=0, action="audit.upgrade")
        .defer("actor", "deployment")
        .order_by("seq")
        .first()
    )


def audit_tombstone_claims() -> dict[str, int]:
    """How many tombstones name each prune id ("": those written before migration 0008)."""
    rows = AuditTombstone.objects.order_by().values("prune").annotate(n=Count("id"))
    return {row["prune"]: row["n"] for row in rows}


def audit_chain_named(name: str) -> int | None:
    """The chain of deployment `name`: its id, or, once it is deleted, the chain its last
    events were written to."""
    deployment = Deployment.objects.filter(name=name).values_list("pk", flat=True).first()
    if deployment is not None:
        return deployment
    return (
        AuditEvent.objects.filter(deployment_name=name)
        .exclude(chain=0)
        .order_by("-id")
        .values_list("chain", flat=True)
        .first()
    )
