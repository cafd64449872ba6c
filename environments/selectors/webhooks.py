"""Reads of webhook endpoints and their delivery log (SPEC §17): a fixed number of queries
however many rows. Never the signing secret."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.http import Http404

from ..models import Deployment
from ..models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

DELIVERIES_SHOWN = 50


def webhooks(deployment: Deployment) -> list[WebhookEndpoint]:
    """The deployment's endpoints, each with `pending_count` and `failed_count` (one query)."""
    State = WebhookDelivery.State
    return list(
        WebhookEndpoint.objects.filter(deployment=deployment)
        .defer("secret_ciphertext", "previous_secret_ciphertext")
        .annotate(
            pending_count=Count("deliveries", filter=Q(deliveries__state=State.PENDING)),
            failed_count=Count("deliveries", filter=Q(deliveries__state=State.FAILED)),
        )
        .order_by("created_at", "id")
    )


def get_webhook(deployment: Deployment, webhook_id: int) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.select_related("deployment")
        .filter(deployment=deployment, pk=webhook_id)
        .first()
        if 0 < webhook_id < 2**63
        else None
    )
    if endpoint is None:
        raise Http404("No such webhook.")
    return endpoint


def deliveries(
    endpoint: WebhookEndpoint, *, limit: int = DELIVERIES_SHOWN
) -> list[WebhookDelivery]:
    """The newest deliveries of the endpoint, each with its attempts (two queries)."""
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("started_at", "id"))
        )
        .order_by("-created_at", "-id")[:limit]
    )


def get_delivery(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint__deployment")
        .filter(endpoint=endpoint, pk=delivery_id)
        .first()
        if 0 < delivery_id < 2**63
        else None
    )
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery
