"""The webhook outbox (SPEC §17): a delivery row per subscribed, enabled endpoint, written in
the transaction of the change it announces, and the delivery task enqueued when that
transaction commits. A change that rolls back leaves no row and enqueues nothing; a committed
one has its rows, and `manage.py deliver_webhooks` enqueues any whose enqueue was lost.

Three hooks feed it, each called inside the change's transaction:
- `on_audit(event)`, from `audit.record`: the events an audit action stands for (AUDIT_EVENTS);
- `release_created(release, actor)`, from `revisions.record_release`, which every release goes
  through (deploys, promotions, rollbacks, applies, and the release a config change makes at
  once in an immediate environment, which has no audit action of its own);
- `config_pending(environment, revision, actor)`, from `Revision.finish` in a staged
  environment.

Payloads are `{"type", "timestamp", "data": {"deployment", "environment", …}}` and carry ids,
names, numbers and actors only: never a value, a preview or a fingerprint.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import ConfigEntry, Release
from ..models.webhooks import PING, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from ..actors import Actor
    from ..models import AuditEvent, Deployment, Environment

# Audit action -> the webhook event it is. change_request.* are recorded by the change
# request services (SPEC §15).
AUDIT_EVENTS: dict[str, str] = {
    "environment.create": "environment.created",
    "environment.delete": "environment.deleted",
    "data_service.ready": "data_service.ready",
    "data_service.fail": "data_service.failed",
    "rotation.converged": "rotation.converged",
    "rotation.revoke": "rotation.revoked",
    "rotation.stuck": "rotation.stuck",
    "change_request.open": "change_request.opened",
    "change_request.apply": "change_request.applied",
}

# What of an audit event's detail a payload may carry (names, numbers, states: the audit
# detail never holds a value either, but a payload says only what a receiver needs).
DETAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "environment.created": ("copied_from", "expires_at"),
    "environment.deleted": ("reason",),
    "data_service.ready": ("kind", "variable"),
    "data_service.failed": ("kind", "variable", "step", "error_class", "operation"),
    "rotation.converged": ("rotation", "kind", "variable"),
    "rotation.revoked": ("rotation", "kind", "variable", "forced"),
    "rotation.stuck": ("rotation", "kind", "variable"),
    "change_request.opened": ("change_request", "number", "release", "config_revision"),
    "change_request.applied": ("change_request", "number", "release", "config_revision"),
}
# The key the audit event's target is given under.
TARGET_FIELDS = {
    "data_service.ready": "data_service",
    "data_service.failed": "data_service",
    "rotation.converged": "data_service",
    "rotation.revoked": "data_service",
    "rotation.stuck": "data_service",
    "change_request.opened": "change_request_title",
    "change_request.applied": "change_request_title",
}


def on_audit(event: AuditEvent) -> None:
    """The webhook event `event`'s action stands for, if any, for its deployment's endpoints."""
    kind = AUDIT_EVENTS.get(event.action)
    if kind is None or event.deployment is None:
        return
    detail = event.detail or {}
    environment = event.environment_name or str(detail.get("environment", ""))

    def data() -> dict[str, Any]:
        found: dict[str, Any] = {"actor": event.actor_label}
        if kind in TARGET_FIELDS:
            found[TARGET_FIELDS[kind]] = event.target
        for name in DETAIL_FIELDS[kind]:
            if isinstance(detail.get(name), str | int | bool):
                found[name] = detail[name]
        return found

    emit(kind, deployment=event.deployment, environment=environment, data=data)


def release_created(release: Release, *, actor: Actor) -> None:
    environment = release.environment

    def data() -> dict[str, Any]:
        previous = (
            Release.objects.filter(environment=environment, number=release.number - 1)
            .values_list("config_revision", flat=True)
            .first()
        )
        found = {
            "release": release.number,
            "kind": release.kind,
            "version": release.version.number,
            "from_version": release.from_version.number if release.from_version else None,
            "config_revision": release.config_revision,
            "keys": changed_keys(environment, previous or 0, release.config_revision),
            "actor": actor.label,
        }
        if release.source_environment:  # a promotion's source
            found["source"] = release.source_environment
        if release.rollback_of:
            found["rollback_of"] = release.rollback_of
        return found

    emit(
        "release.created",
        deployment=environment.deployment,
        environment=environment.name,
        data=data,
    )


def config_pending(environment: Environment, *, revision: int, actor: Actor) -> None:
    def data() -> dict[str, Any]:
        from .. import selectors

        pending = selectors.pending_changes(environment)
        live = environment.live_release
        return {
            "config_revision": revision,
            "live_release": live.number if live else None,
            "keys": {
                "added": pending.added,
                "changed": pending.changed,
                "removed": pending.removed,
            },
            "actor": actor.label,
        }

    emit(
        "config.pending", deployment=environment.deployment, environment=environment.name, data=data
    )


def changed_keys(environment: Environment, before: int, after: int) -> dict[str, list[str]]:
    """Keys added, changed and removed between two config revisions, by name (one query);
    "changed" from fingerprints, so nothing is decrypted."""

    def alive(revision: int) -> Q:
        return Q(set_revision__lte=revision) & (
            Q(end_revision__isnull=True) | Q(end_revision__gt=revision)
        )

    rows = (
        ConfigEntry.objects.filter(environment=environment)
        .filter(alive(before) | alive(after))
        .only("kind", "key", "fingerprint", "set_revision", "end_revision")
    )
    then, now = {}, {}
    for entry in rows:
        label = f"domain {entry.key}" if entry.kind == ConfigEntry.Kind.DOMAIN else entry.key
        for revision, side in ((before, then), (after, now)):
            if entry.set_revision <= revision and (
                entry.end_revision is None or entry.end_revision > revision
            ):
                side[label] = bytes(entry.fingerprint), entry.pk
    return {
        "added": sorted(now.keys() - then.keys()),
        "changed": sorted(
            k
            for k in now.keys() & then.keys()
            if now[k][1] != then[k][1] and now[k][0] != then[k][0]
        ),
        "removed": sorted(then.keys() - now.keys()),
    }


# Writing the rows -----------------------------------------------------------------------------


def subscribed(deployment_id: int, event: str, environment: str) -> list[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.filter(deployment_id=deployment_id, disabled_at=None).only(
        "id", "events", "environments"
    )
    return [e for e in endpoints if e.wants(event, environment)]


def payload(event: str, *, deployment: Deployment, environment: str, data: dict) -> dict:
    return {
        "type": event,
        "timestamp": timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "deployment": {"id": deployment.pk, "name": deployment.name},
            "environment": environment or None,
        }
        | data,
    }


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def emit(
    event: str,
    *,
    deployment: Deployment,
    environment: str,
    data: Callable[[], dict[str, Any]],
) -> list[WebhookDelivery]:
    """A pending delivery of `event` for each endpoint of `deployment` that wants it (the
    payload's `data` is built only when there is one), enqueued on commit."""
    endpoints = subscribed(deployment.pk, event, environment)
    if not endpoints:
        return []
    body = payload(event, deployment=deployment, environment=environment, data=data())
    return write(endpoints, event, body)


def write(endpoints: list[WebhookEndpoint], event: str, body: dict) -> list[WebhookDelivery]:
    now = timezone.now()
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=endpoint.pk,
                event=event,
                webhook_id=new_webhook_id(),
                payload=body,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    )
    for row in rows:
        enqueue(row.pk)
    return rows


def ping(endpoint: WebhookEndpoint, *, actor: Actor) -> WebhookDelivery:
    """A `ping` for this one endpoint (the test button), whatever it subscribed to."""
    body = payload(
        PING,
        deployment=endpoint.deployment,
        environment="",
        data={"webhook": endpoint.pk, "actor": actor.label},
    )
    return write([endpoint], PING, body)[0]


def enqueue(delivery_id: int, *, run_after=None) -> None:
    """Enqueue the delivery's task once the transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(_enqueue, delivery_id, run_after))


def _enqueue(delivery_id: int, run_after) -> None:
    from .. import tasks

    task = tasks.deliver_webhook
    if run_after is not None:
        task = task.using(run_after=run_after)
    task.enqueue(delivery_id)
