"""Webhook endpoints and their delivery log (SPEC §17), admin only: a webhook's URL may carry
the receiver's token, and its deliveries say what happens across the deployment.

The signing secret is in the create (and rotate-secret) answer only, as "secret"; listings
never hold it."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions
from ..models.webhooks import EVENTS, WebhookDelivery, WebhookEndpoint
from ..selectors import webhooks as reads
from ..services import webhooks as writes
from .endpoint import ApiRequest, api_endpoint
from .inputs import Body, Field, Text, invalid
from .rows import moment_or_none, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    errors,
    json_content,
    ref,
)

ADMIN = permissions.TO_MANAGE_WEBHOOKS


class Names(Field):
    """A list of strings (events, environment names); the services check each."""

    kind = ("array",)

    def __init__(self, items: dict[str, Any], *, max_items: int, **options: Any) -> None:
        super().__init__(**options)
        self.items = items
        self.max_items = max_items

    def clean(self, value: Any, pointer: str) -> list[str]:
        if not isinstance(value, list) or len(value) > self.max_items:
            raise invalid(f"{pointer} is a list of at most {self.max_items} names.", pointer)
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise invalid("Each one is a name, as a string.", f"{pointer}[{position}]")
        return value

    def base_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.items, "maxItems": self.max_items}


WEBHOOK = Body(
    "WebhookInput",
    url=Text(
        max_length=WebhookEndpoint.MAX_URL,
        description="https:// (http:// only where WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOW_HTTP "
        "is set). A host that resolves to a loopback, private, link-local or metadata address "
        "is refused (400 private_address), at save and again at every delivery.",
        example="https://hooks.example.com/miosa",
    ),
    events=Names({"enum": list(EVENTS)}, max_items=len(EVENTS), description="At least one."),
    environments=Names(
        ENVIRONMENT_NAME,
        max_items=100,
        required=False,
        description="Only these environments' events; omitted or empty: every environment's, "
        "and the deployment's own.",
    ),
)


def webhook_row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "events": endpoint.events,
        "environments": endpoint.environments,
        "enabled": endpoint.enabled,
        "disabled_at": moment_or_none(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": moment_or_none(endpoint.failing_since),
        "previous_secret_until": moment_or_none(endpoint.previous_secret_until),
        "created_at": timestamp(endpoint.created_at),
    }


def delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "webhook_id": delivery.webhook_id,
        "event": delivery.event,
        "state": delivery.state,
        "created_at": timestamp(delivery.created_at),
        "next_attempt_at": moment_or_none(delivery.next_attempt_at),
        "finished_at": moment_or_none(delivery.finished_at),
        "attempts": [
            {
                "started_at": timestamp(a.started_at),
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
            }
            for a in delivery.attempt_log.all()
        ],
        "payload": delivery.payload,
    }


@api_endpoint(
    "GET",
    "POST",
    body={"POST": WEBHOOK},
    need={"GET": (ADMIN, "Listing webhooks"), "POST": (ADMIN, "Adding webhooks")},
)
def webhooks(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        created = writes.create_webhook(
            deployment=request.deployment,
            url=request.body["url"],
            events=request.body["events"],
            environments=request.body.get("environments"),
            actor=request.actor,
        )
        return JsonResponse(webhook_row(created.endpoint) | {"secret": created.secret}, status=201)
    return JsonResponse({"webhooks": [webhook_row(e) for e in reads.webhooks(request.deployment)]})


@api_endpoint("DELETE", need={"DELETE": (ADMIN, "Deleting webhooks")})
def webhook_detail(request: ApiRequest, webhook_id: int) -> HttpResponse:
    writes.delete_webhook(
        endpoint=reads.get_webhook(request.deployment, webhook_id), actor=request.actor
    )
    return HttpResponse(status=204)


@api_endpoint("POST", need={"POST": (ADMIN, "Rotating a webhook's secret")})
def rotate_secret(request: ApiRequest, webhook_id: int) -> HttpResponse:
    rotated = writes.rotate_webhook_secret(
        endpoint=reads.get_webhook(request.deployment, webhook_id), actor=request.actor
    )
    return JsonResponse(webhook_row(rotated.endpoint) | {"secret": rotated.secret})


@api_endpoint("POST", need={"POST": (ADMIN, "Testing a webhook")})
def ping(request: ApiRequest, webhook_id: int) -> HttpResponse:
    delivery = writes.ping_webhook(
        endpoint=reads.get_webhook(request.deployment, webhook_id), actor=request.actor
    )
    return JsonResponse(delivery_row(delivery), status=202)


@api_endpoint("POST", need={"POST": (ADMIN, "Enabling a webhook")})
def enable(request: ApiRequest, webhook_id: int) -> HttpResponse:
    endpoint = writes.enable_webhook(
        endpoint=reads.get_webhook(request.deployment, webhook_id), actor=request.actor
    )
    return JsonResponse(webhook_row(endpoint))


@api_endpoint("GET", need={"GET": (ADMIN, "Reading webhook deliveries")})
def deliveries(request: ApiRequest, webhook_id: int) -> HttpResponse:
    endpoint = reads.get_webhook(request.deployment, webhook_id)
    return JsonResponse({"deliveries": [delivery_row(d) for d in reads.deliveries(endpoint)]})


@api_endpoint("POST", need={"POST": (ADMIN, "Redelivering a webhook")})
def redeliver(request: ApiRequest, webhook_id: int, delivery_id: int) -> HttpResponse:
    endpoint = reads.get_webhook(request.deployment, webhook_id)
    delivery = writes.redeliver(
        delivery=reads.get_delivery(endpoint, delivery_id), actor=request.actor
    )
    return JsonResponse(delivery_row(delivery), status=202)


# OpenAPI ----------------------------------------------------------------------------------

WEBHOOK_ID = {
    "name": "webhook_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
DELIVERY_ID = {**WEBHOOK_ID, "name": "delivery_id"}

WEBHOOK_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer", "minimum": 1},
    "url": {"type": "string"},
    "events": {"type": "array", "items": {"enum": list(EVENTS)}},
    "environments": {"type": "array", "items": ENVIRONMENT_NAME},
    "enabled": {
        "type": "boolean",
        "description": "false once it has failed for 3 days (disabled_reason says so).",
    },
    "disabled_at": NULLABLE_TIMESTAMP,
    "disabled_reason": {"type": "string"},
    "failing_since": {
        **NULLABLE_TIMESTAMP,
        "description": "The first failed attempt since the last success.",
    },
    "previous_secret_until": {
        **NULLABLE_TIMESTAMP,
        "description": "After a rotation, the previous secret signs beside the new one until then.",
    },
    "created_at": TIMESTAMP,
}
SECRET = {
    "type": "string",
    "pattern": "^whsec_[A-Za-z0-9+/]+=*$",
    "description": "The signing secret (Standard Webhooks), shown in this answer only.",
}

SCHEMAS: dict[str, Any] = {
    "Webhook": {
        "type": "object",
        "required": list(WEBHOOK_PROPERTIES),
        "additionalProperties": False,
        "properties": WEBHOOK_PROPERTIES,
    },
    "WebhookWithSecret": {
        "type": "object",
        "required": [*WEBHOOK_PROPERTIES, "secret"],
        "additionalProperties": False,
        "properties": WEBHOOK_PROPERTIES | {"secret": SECRET},
    },
    "WebhookDelivery": {
        "type": "object",
        "required": [
            "id",
            "webhook_id",
            "event",
            "state",
            "created_at",
            "next_attempt_at",
            "finished_at",
            "attempts",
            "payload",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "webhook_id": {
                "type": "string",
                "description": "The webhook-id header: the same on every attempt.",
            },
            "event": {"enum": [*EVENTS, "ping"]},
            "state": {"enum": list(WebhookDelivery.State.values)},
            "created_at": TIMESTAMP,
            "next_attempt_at": {
                **NULLABLE_TIMESTAMP,
                "description": "When a pending delivery is tried next.",
            },
            "finished_at": NULLABLE_TIMESTAMP,
            "attempts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["started_at", "status_code", "duration_ms", "error"],
                    "additionalProperties": False,
                    "properties": {
                        "started_at": TIMESTAMP,
                        "status_code": {"type": ["integer", "null"]},
                        "duration_ms": {"type": "integer", "minimum": 0},
                        "error": {"type": "string"},
                    },
                },
            },
            "payload": {
                "type": "object",
                "required": ["type", "timestamp", "data"],
                "description": "What was (or will be) sent: ids, names, numbers and actors, "
                "never a value.",
                "properties": {
                    "type": {"type": "string"},
                    "timestamp": {"type": "string"},
                    "data": {
                        "type": "object",
                        "required": ["deployment", "environment"],
                        "properties": {
                            "deployment": DEPLOYMENT_REF,
                            "environment": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        },
    },
    **WEBHOOK.component(),
}

BASE = "/deployments/{deployment_id}/webhooks"
ONE = BASE + "/{webhook_id}"

PATHS: dict[str, Any] = {
    BASE: {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listWebhooks",
            "summary": "The deployment's webhooks (admin), without their secrets.",
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "required": ["webhooks"],
                        "additionalProperties": False,
                        "properties": {"webhooks": {"type": "array", "items": ref("Webhook")}},
                    },
                    "The webhooks, oldest first.",
                ),
                **errors(400, 401, 403, 404, 500),
            },
        },
        "post": {
            "operationId": "createWebhook",
            "summary": "Add a webhook (admin); the answer holds its signing secret, once. "
            "Audited as webhook.create.",
            "requestBody": WEBHOOK.request_body(),
            "responses": {
                "201": json_content(ref("WebhookWithSecret"), "The webhook and its secret."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    ONE: {
        "parameters": [DEPLOYMENT_ID, WEBHOOK_ID],
        "delete": {
            "operationId": "deleteWebhook",
            "summary": "Delete a webhook and its delivery log (admin). Audited.",
            "responses": {
                "204": {"description": "Deleted."},
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    ONE + "/rotate-secret": {
        "parameters": [DEPLOYMENT_ID, WEBHOOK_ID],
        "post": {
            "operationId": "rotateWebhookSecret",
            "summary": "A new signing secret, shown once; the previous one keeps signing beside "
            "it for 24 hours. Audited.",
            "responses": {
                "200": json_content(ref("WebhookWithSecret"), "The webhook and its new secret."),
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    ONE + "/ping": {
        "parameters": [DEPLOYMENT_ID, WEBHOOK_ID],
        "post": {
            "operationId": "pingWebhook",
            "summary": "Send the webhook a ping event (the worker delivers it). Audited.",
            "responses": {
                "202": json_content(ref("WebhookDelivery"), "The delivery, pending."),
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    ONE + "/enable": {
        "parameters": [DEPLOYMENT_ID, WEBHOOK_ID],
        "post": {
            "operationId": "enableWebhook",
            "summary": "Enable a webhook that was disabled (after 3 days of failures): its "
            "failures are forgotten and new events are delivered again. An enabled one is left "
            "as it is. Audited when it changes anything.",
            "responses": {
                "200": json_content(ref("Webhook"), "The webhook, enabled."),
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    ONE + "/deliveries": {
        "parameters": [DEPLOYMENT_ID, WEBHOOK_ID],
        "get": {
            "operationId": "listWebhookDeliveries",
            "summary": "The webhook's newest 50 deliveries with their attempts (status, "
            "duration, error), next retry and payload.",
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "required": ["deliveries"],
                        "additionalProperties": False,
                        "properties": {
                            "deliveries": {"type": "array", "items": ref("WebhookDelivery")}
                        },
                    },
                    "The deliveries, newest first.",
                ),
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    ONE + "/deliveries/{delivery_id}/redeliver": {
        "parameters": [DEPLOYMENT_ID, WEBHOOK_ID, DELIVERY_ID],
        "post": {
            "operationId": "redeliverWebhook",
            "summary": "Send a delivered or failed delivery again, with the same webhook-id "
            "(409 still_pending while it is retried, webhook_disabled). Audited.",
            "responses": {
                "202": json_content(ref("WebhookDelivery"), "The delivery, pending again."),
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
}
