"""The audit log as its page and export read it, and the chains as verify_audit reads them."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from django.db.models import (
    QuerySet,
)

from ..models import (
    AuditChainHead,
    AuditEvent,
    AuditTombstone,
    Deployment,
)
from .paging import Page, keyset_page


def audit_actions(deployment: Deployment) -> list[str]:
    """The actions the deployment's log holds, for the filter."""
    return sorted(
        set(
            AuditEvent.objects.filter(deployment=deployment)
            .order_by()
            .values_list("action", flat=True)
            .distinct()
        )
    )


def audit_events(
    deployment: Deployment,
    *,
    action: str = "",
    environment: str = "",
    actor: str = "",
    before: int | None = None,
    limit: int = 200,
) -> Page[AuditEvent]:
    """Newest first; `before` (an event id) pages back through older events (keyset paging,
    so a page costs the same however deep it is)."""
    events = _filtered_audit_events(
        deployment, action=action, environment=environment, actor=actor, before=None
    )
    return keyset_page(events, key="id", before=before, limit=limit)


def _filtered_audit_events(
    deployment: Deployment, *, action: str, environment: str, actor: str, before: int | None
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(deployment=deployment)
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
