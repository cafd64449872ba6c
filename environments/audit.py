"""The actor of a change and the audit trail it leaves.

`record()` is called by every service inside the transaction of the change it records; if the
event cannot be written the exception propagates and the whole change rolls back (fail-closed).

The trail is tamper-evident (SPEC §12, issue 11): each deployment's events form a hash chain,
and events without a deployment form the global chain 0 (see `AuditEvent`). For each event:

    content_hash = SHA-256(canonical content), hex
    hash         = SHA-256(prev_hash + content_hash), hex (ASCII), prev_hash of seq 1 = GENESIS

The canonical content is the JSON array (`separators=(",", ":")`, `sort_keys=True`,
`ensure_ascii=True`) of, in this order: the format version 1, chain, seq, created_at in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`, actor_label, action, deployment_name, environment_name, target,
ip (or null), user_agent, outcome, detail. The FKs (`actor`, `deployment`) are left out: the
database sets them to NULL when a user or deployment is deleted, and the labels and names are
what the record says. The row id is left out too (the database assigns it on insert); `seq`
orders the chain. Never change this format without a new version number: old chains verify
with the old one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

    from .models import Deployment, Environment


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (through the browser or an API token), a runtime token, or the system."""

    user: AbstractBaseUser | None
    label: str
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, *, token_name: str = "") -> Actor:
        user = (
            request.user
            if getattr(request, "user", None) and request.user.is_authenticated
            else None
        )
        label = user.get_username() if user else "anonymous"
        if token_name:
            label = f"{label} (token {token_name})" if user else f"token {token_name}"
        return cls(
            user=user,
            label=printable(label)[:200],
            ip=client_ip(request),
            user_agent=printable(request.META.get("HTTP_USER_AGENT") or "")[:300],
        )

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(user=None, label=label)


def printable(text: str) -> str:
    """`text` without control characters (C0, DEL, C1) or format characters (bidi overrides…).
    A header may carry them; PostgreSQL refuses a NUL in a text column, and the others garble
    or disguise what the audit log shows."""
    return "".join(c for c in text if unicodedata.category(c) not in {"Cc", "Cf"})


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. Behind TRUSTED_PROXY_HOPS proxies (load balancers) that each
    append to X-Forwarded-For, it is the entry the outermost trusted proxy appended; anything
    left of it was written by the client and cannot be trusted."""
    hops = settings.TRUSTED_PROXY_HOPS
    address = request.META.get("REMOTE_ADDR") or None
    if hops > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


GENESIS = "0" * 64  # the prev_hash of each chain's first event
GLOBAL_CHAIN = 0  # events without a deployment (deployment ids start at 1)
CONTENT_VERSION = 1


def canonical_content(event: Any) -> bytes:
    """The bytes an event's content_hash covers (module docstring). `event` is an AuditEvent,
    or anything with its attributes (a historical model in a migration)."""
    created_at = event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = [
        CONTENT_VERSION,
        event.chain,
        event.seq,
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


def append(**fields: Any) -> AuditEvent:
    """Insert an event (its content in `fields`, `chain` included) at the end of its chain.

    Three statements once the chain exists: lock the head row, insert the event, move the head.
    The head row lock (held to the end of the caller's transaction) makes concurrent writers
    to one chain take turns, so no two events get the same seq or link to the same hash. The
    whole step could be one SQL statement (a CTE updating the head and inserting the event,
    with PostgreSQL's sha256()); it stays here, in one place, until then.
    """
    chain = fields["chain"]
    with transaction.atomic(savepoint=False):  # select_for_update needs a transaction
        head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
        if head is None:
            # First event of this chain: create the head race-free (a concurrent first writer
            # makes this a no-op), then lock whichever row won.
            AuditChainHead.objects.bulk_create(
                [AuditChainHead(chain=chain, seq=0, hash=GENESIS)], ignore_conflicts=True
            )
            head = AuditChainHead.objects.select_for_update().get(chain=chain)
        fields |= {"seq": head.seq + 1, "prev_hash": head.hash}
        fields["content_hash"] = content_hash(AuditEvent(**fields))
        fields["hash"] = link_hash(fields["prev_hash"], fields["content_hash"])
        event = AuditEvent.objects.create(**fields)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
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
) -> AuditEvent:
    if environment is not None and deployment is None:
        deployment = environment.deployment
    return append(
        created_at=now(),
        actor=actor.user,
        actor_label=printable(actor.label)[:200],
        action=action,
        deployment=deployment,
        deployment_name=deployment.name if deployment else "",
        environment_name=environment.name if environment else "",
        target=printable(target)[:300],
        ip=actor.ip,
        user_agent=printable(actor.user_agent)[:300],
        outcome=outcome,
        # What the database gives back (JSON types, string keys), so the hash matches on reading.
        detail=json.loads(json.dumps(detail or {})),
        chain=chain_of(deployment.pk if deployment else None),
    )
