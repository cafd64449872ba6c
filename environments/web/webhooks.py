"""The Webhooks page of a deployment (templates/environments/webhooks.html), admins only: the
endpoints, add one (its signing secret shown once), and per endpoint its delivery log (attempts,
status, duration, next retry, payload) with a test button (ping), redeliver, rotate the secret,
enable again after it was disabled, delete (asked in place)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import permissions, selectors
from ..actors import Actor
from ..errors import ServiceError
from ..models import Deployment
from ..models.webhooks import WebhookDelivery, WebhookEndpoint
from ..selectors import webhooks as reads
from ..services import webhooks as writes
from .forms import refusal_status, submit
from .forms.webhooks import WebhookForm
from .pages import HtmxHttpRequest, deployment_tabs, no_store, template_for, unconfirmed

TEMPLATE = "environments/webhooks.html"


@dataclass(frozen=True)
class DeliveryRow:
    delivery: WebhookDelivery
    payload: str  # as sent, indented for reading (it holds no value)


@dataclass(frozen=True)
class WebhooksPage:
    """What one response of the page shows besides the endpoints."""

    status: int = 200
    form: WebhookForm | None = None
    selected: WebhookEndpoint | None = None  # whose delivery log is shown
    secret: str = ""  # a new signing secret, shown this once
    notice: str = ""
    error: str = ""
    deleting: bool = False  # "Delete …?" asked in place


def _admin_of(request: HtmxHttpRequest, deployment_id: int) -> tuple[Deployment, str]:
    access = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_WEBHOOKS
    )
    return access.deployment, access.role


def _render(
    request: HtmxHttpRequest, deployment: Deployment, role: str, page: WebhooksPage
) -> HttpResponse:
    selected = page.selected
    context = deployment_tabs(deployment, role) | {
        "tab": "webhooks",
        "webhooks": reads.webhooks(deployment),
        "form": page.form or WebhookForm(),
        "selected": selected,
        "deliveries": [
            DeliveryRow(d, json.dumps(d.payload, indent=2, sort_keys=True))
            for d in (reads.deliveries(selected) if selected else [])
        ],
        "secret": page.secret,
        "notice": page.notice,
        "error": page.error,
        "deleting": page.deleting,
    }
    template = template_for(request, TEMPLATE, "log" if selected and request.htmx else None)
    response = render(request, template, context, status=page.status)
    if page.secret:
        response["Cache-Control"] = "no-store"
    return response


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def webhooks(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = _admin_of(request, deployment_id)
    if request.method == "GET":
        return _render(request, deployment, role, WebhooksPage())
    form = WebhookForm(request.POST)
    done = submit(
        form,
        lambda data: writes.create_webhook(
            deployment=deployment,
            url=data["url"],
            events=data["events"],
            environments=data["environments"],
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        return _render(request, deployment, role, WebhooksPage(status=done.status, form=form))
    # The secret is rendered into this one response and stored nowhere readable: no redirect.
    page = WebhooksPage(selected=done.result.endpoint, secret=done.result.secret)
    return _render(request, deployment, role, page)


@no_store
@require_GET
@login_required
def webhook(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    deployment, role = _admin_of(request, deployment_id)
    endpoint = reads.get_webhook(deployment, pk)
    deleting = request.GET.get("delete") == "1"
    return _render(request, deployment, role, WebhooksPage(selected=endpoint, deleting=deleting))


def _write(request: HtmxHttpRequest, deployment_id: int, pk: int, act) -> HttpResponse:
    """A one-button write on an endpoint, then its log again with what happened."""
    deployment, role = _admin_of(request, deployment_id)
    endpoint = reads.get_webhook(deployment, pk)
    try:
        page = act(endpoint, Actor.from_request(request))
    except ServiceError as exc:
        page = WebhooksPage(selected=endpoint, error=exc.message, status=refusal_status(exc))
    return _render(request, deployment, role, page)


@no_store
@require_POST
@login_required
def webhook_ping(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    def act(endpoint, actor):
        writes.ping_webhook(endpoint=endpoint, actor=actor)
        return WebhooksPage(selected=endpoint, notice="A ping is on its way; it shows below.")

    return _write(request, deployment_id, pk, act)


@no_store
@require_POST
@login_required
def webhook_rotate(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    def act(endpoint, actor):
        rotated = writes.rotate_webhook_secret(endpoint=endpoint, actor=actor)
        return WebhooksPage(selected=rotated.endpoint, secret=rotated.secret)

    return _write(request, deployment_id, pk, act)


@no_store
@require_POST
@login_required
def webhook_enable(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    def act(endpoint, actor):
        endpoint = writes.enable_webhook(endpoint=endpoint, actor=actor)
        return WebhooksPage(selected=endpoint, notice="Enabled: new events are sent again.")

    return _write(request, deployment_id, pk, act)


@no_store
@require_POST
@login_required
def webhook_redeliver(
    request: HtmxHttpRequest, deployment_id: int, pk: int, delivery_id: int
) -> HttpResponse:
    def act(endpoint, actor):
        delivery = reads.get_delivery(endpoint, delivery_id)
        writes.redeliver(delivery=delivery, actor=actor)
        return WebhooksPage(selected=endpoint, notice=f"{delivery.event} is sent again.")

    return _write(request, deployment_id, pk, act)


@no_store
@require_POST
@login_required
def webhook_delete(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    deployment, role = _admin_of(request, deployment_id)
    endpoint = reads.get_webhook(deployment, pk)
    asking = unconfirmed(
        request,
        question="Delete this webhook?",
        detail="Nothing more is sent to it, and its delivery log goes with it.",
        label="Delete",
        cancel_url=request.path.removesuffix("delete/"),
    )
    if asking:
        return asking
    writes.delete_webhook(endpoint=endpoint, actor=Actor.from_request(request))
    return _render(request, deployment, role, WebhooksPage(notice="The webhook was deleted."))
