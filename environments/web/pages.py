"""What every page shares: the typed request, the no-store decorator, the template or partial to
render, the confirmation page without JavaScript, the page URLs and the tabs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django_htmx.middleware import HtmxDetails

from .. import permissions
from ..models import Deployment, Environment
from ..permissions import has_role

Context = dict[str, Any]


class HtmxHttpRequest(HttpRequest):
    """A request through django-htmx's middleware (django-htmx's documented type hint)."""

    htmx: HtmxDetails


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every page here shows previews, names, roles or a token shown once: no cache, browser
    or proxy, keeps a copy (the Back button on a shared computer must not show them)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        patch_cache_control(response, no_store=True)
        return response

    return wrapped


def asked_id(request: HttpRequest, name: str) -> int | None:
    """The id in a query parameter such as `?remove=`: the row whose question is asked in place
    (None when absent or not an id)."""
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def template_for(request: HtmxHttpRequest, template: str, partial: str | None) -> str:
    """The page's template, or one of its partials when htmx asked for a region."""
    return f"{template}#{partial}" if request.htmx and partial else template


def unconfirmed(
    request: HtmxHttpRequest, *, question: str, label: str, cancel_url: str, detail: str = ""
) -> HttpResponse | None:
    """Without JavaScript, a consequential one-button POST first shows a confirmation page.

    With htmx, `hx-confirm` has already asked; the confirmation page re-posts the same fields
    with `confirmed=yes`. Returns None when the action may go ahead.
    """
    if request.htmx or request.POST.get("confirmed") == "yes":
        return None
    fields = [
        (name, value)
        for name, value in request.POST.items()
        if name not in ("csrfmiddlewaretoken", "confirmed")
    ]
    context = {
        "question": question,
        "label": label,
        "detail": detail,
        "fields": fields,
        "action": request.path,
        "cancel_url": cancel_url,
    }
    return render(request, "environments/confirm.html", context)


# Page URLs and tabs


def env_url(environment: Environment, view: str = "environment", **kwargs: Any) -> str:
    return reverse(
        view,
        kwargs={"deployment_id": environment.deployment_id, "name": environment.name, **kwargs},
    )


def deployment_url(deployment: Deployment, view: str = "deployment") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk})


def deployment_tabs(deployment: Deployment, role: str) -> Context:
    return {
        "deployment": deployment,
        "role": role,
        "can_see_audit": has_role(role, permissions.TO_READ_AUDIT),
        "can_manage_members": has_role(role, permissions.TO_MANAGE_MEMBERS),
        "can_manage_settings": has_role(role, permissions.TO_MANAGE_DOMAINS),
        "can_create_versions": has_role(role, permissions.TO_CREATE_VERSIONS),
        "can_manage_environments": has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
        "can_see_settings": has_role(role, permissions.TO_SEE_SETTINGS),
        "can_manage_webhooks": has_role(role, permissions.TO_MANAGE_WEBHOOKS),
    }


def environment_tabs(environment: Environment, role: str) -> Context:
    return deployment_tabs(environment.deployment, role) | {"environment": environment}
