"""Webhook endpoints of a deployment (SPEC §17): add one (its signing secret shown once),
rotate its secret (the previous one signs beside it for 24 hours), delete it, send it a test
`ping`, enable it again after it was disabled, redeliver a delivery. Audited as webhook.*.

The URL is checked (guard) before the transaction opens: a DNS lookup holds no lock."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import audit, crypto, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, validated
from ..models import Deployment
from ..models.webhooks import EVENTS, WebhookDelivery, WebhookEndpoint
from ..webhooks import guard, outbox
from .environment_writes import lock_deployment

MAX_ENDPOINTS = 20  # per deployment
SECRET_OVERLAP = timedelta(hours=24)  # both secrets sign for this long after a rotation
SECRET_BYTES = 24


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def checked_url(url: str) -> str:
    """The URL, if a webhook may be sent to it (400 invalid_url, private_address). A name not
    in DNS yet is accepted: every delivery checks the URL again."""
    try:
        guard.check_to_save(url)
    except guard.Refused as refused:
        raise Invalid(refused.message, code=refused.code, field="url") from None
    return url


def checked_events(events: list[str]) -> list[str]:
    if not isinstance(events, list) or not events:
        raise Invalid("Choose at least one event.", field="events")
    for position, event in enumerate(events):
        if event not in EVENTS:
            raise Invalid(
                f"{str(event)[:64]} is not an event; the events are {', '.join(EVENTS)}.",
                field=f"events[{position}]",
            )
    return [e for e in EVENTS if e in events]


def checked_environments(names: list[str]) -> list[str]:
    if not isinstance(names, list):
        raise Invalid("Give the environments as a list of names.", field="environments")
    for position, name in enumerate(names):
        validated(rules.validate_environment_name, name, field=f"environments[{position}]")
    if len(names) > 100:
        raise Invalid("At most 100 environments.", field="environments")
    return sorted(set(names))


@dataclass(frozen=True)
class NewWebhook:
    """A created endpoint and its signing secret: shown once, never again."""

    endpoint: WebhookEndpoint
    secret: str


def _audit(action: str, endpoint: WebhookEndpoint, actor: Actor, **detail) -> None:
    audit.record(
        action,
        actor=actor,
        deployment=endpoint.deployment,
        target=f"webhook {endpoint.pk}",
        detail={"webhook": endpoint.pk} | detail,
    )


def create_webhook(
    *,
    deployment: Deployment,
    url: str,
    events: list[str],
    environments: list[str] | None = None,
    actor: Actor,
) -> NewWebhook:
    events = checked_events(events)
    environments = checked_environments(environments or [])
    url = checked_url(url)
    secret = new_secret()
    with transaction.atomic(durable=True):
        deployment = lock_deployment(deployment)
        if WebhookEndpoint.objects.filter(deployment=deployment).count() >= MAX_ENDPOINTS:
            raise Conflict(
                f"{deployment.name} has {MAX_ENDPOINTS} webhooks; delete one first.",
                code="too_many_webhooks",
            )
        endpoint = WebhookEndpoint(
            deployment=deployment,
            url=url,
            events=events,
            environments=environments,
            created_by_label=actor.label,
        )
        endpoint.secret_ciphertext = crypto.encrypt(secret, context=endpoint.secret_context())
        endpoint.save()
        _audit(
            "webhook.create",
            endpoint,
            actor,
            host=guard.parse(url)[1],
            events=events,
            environments=environments,
        )
    return NewWebhook(endpoint, secret)


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    lock_deployment(endpoint.deployment)
    fresh = (
        WebhookEndpoint.objects.select_for_update(no_key=True, of=("self",))
        .select_related("deployment")
        .filter(pk=endpoint.pk)
        .first()
    )
    if fresh is None:
        raise NotFound("That webhook has been deleted.")
    return fresh


@transaction.atomic(durable=True)
def delete_webhook(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    endpoint = _locked(endpoint)
    _audit("webhook.delete", endpoint, actor, host=guard.parse(endpoint.url)[1])
    endpoint.delete()


@transaction.atomic(durable=True)
def rotate_webhook_secret(*, endpoint: WebhookEndpoint, actor: Actor) -> NewWebhook:
    """A new signing secret (shown once); the one it replaces keeps signing beside it for 24
    hours, so a receiver can switch without a delivery it cannot verify."""
    endpoint = _locked(endpoint)
    secret = new_secret()
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_until = timezone.now() + SECRET_OVERLAP
    endpoint.secret_ciphertext = crypto.encrypt(secret, context=endpoint.secret_context())
    endpoint.save(
        update_fields=["secret_ciphertext", "previous_secret_ciphertext", "previous_secret_until"]
    )
    _audit("webhook.rotate_secret", endpoint, actor)
    return NewWebhook(endpoint, secret)


@transaction.atomic(durable=True)
def ping_webhook(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookDelivery:
    """Send the endpoint a `ping` (the test button): a delivery like any, in its log."""
    endpoint = _locked(endpoint)
    delivery = outbox.ping(endpoint, actor=actor)
    _audit("webhook.ping", endpoint, actor, delivery=delivery.pk)
    return delivery


@transaction.atomic(durable=True)
def enable_webhook(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookEndpoint:
    """Enable a disabled endpoint again; its failures are forgotten."""
    endpoint = _locked(endpoint)
    if endpoint.enabled:
        return endpoint
    endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
    endpoint.save(update_fields=["disabled_at", "disabled_reason", "failing_since"])
    _audit("webhook.enable", endpoint, actor)
    return endpoint


@transaction.atomic(durable=True)
def redeliver(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Send a delivery again, with the same webhook-id (receivers de-duplicate by it): a new
    round of attempts, now. Refused while it is still being retried."""
    endpoint = _locked(delivery.endpoint)
    delivery = WebhookDelivery.objects.select_for_update(no_key=True).filter(pk=delivery.pk).first()
    if delivery is None:
        raise NotFound("That delivery no longer exists.")
    if delivery.state == WebhookDelivery.State.PENDING:
        raise Conflict(
            "That delivery is still pending; it is retried on its own.", code="still_pending"
        )
    if not endpoint.enabled:
        raise Conflict(
            "The webhook is disabled; enable it before redelivering.", code="webhook_disabled"
        )
    delivery.state = WebhookDelivery.State.PENDING
    delivery.attempts, delivery.finished_at, delivery.lease_until = 0, None, None
    delivery.next_attempt_at = timezone.now()
    delivery.save(
        update_fields=["state", "attempts", "finished_at", "lease_until", "next_attempt_at"]
    )
    outbox.enqueue(delivery.pk)
    _audit("webhook.redeliver", endpoint, actor, delivery=delivery.pk, event=delivery.event)
    return delivery
