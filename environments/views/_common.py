"""Shared by the pages: confirmation, tabs, URLs, the no-store decorator."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control

from .. import permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ..models import (
    Deployment,
    Environment,
)
from ..permissions import has_role

Context = dict[str, Any]


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every page here shows previews, names, roles or a token shown once: no cache, browser
    or proxy, keeps a copy (the Back button on a shared computer must not show them)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        patch_cache_control(response, no_store=True)
        return response

    return wrapped


def _status(exc: ServiceError) -> int:
    """The status a refused form answers with (htmx is configured to swap these)."""
    return exc.status if exc.status in (400, 409, 413) else 400


def _unconfirmed(
    request: HttpRequest, *, question: str, label: str, cancel_url: str, detail: str = ""
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


def _page(request: HttpRequest, template: str, partial: str | None) -> str:
    return f"{template}#{partial}" if request.htmx and partial else template


def _env_url(environment: Environment, view: str = "environment", **kwargs: Any) -> str:
    return reverse(
        view,
        kwargs={"deployment_id": environment.deployment_id, "name": environment.name, **kwargs},
    )


def _deployment_url(deployment: Deployment, view: str = "deployment") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk})


def _deployment_tabs(deployment: Deployment, role: str) -> Context:
    return {
        "deployment": deployment,
        "role": role,
        "can_see_audit": has_role(role, permissions.TO_READ_AUDIT),
        "can_manage_members": has_role(role, permissions.TO_MANAGE_MEMBERS),
        "can_manage_settings": has_role(role, permissions.TO_MANAGE_DOMAINS),
        "can_create_versions": has_role(role, permissions.TO_CREATE_VERSIONS),
        "can_manage_environments": has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
        "can_see_settings": has_role(role, permissions.TO_SEE_SETTINGS),
    }


def _may_write_both(role: str, left: Environment, right: Environment) -> bool:
    """Whether same/different on secrets and bindings may be shown (SPEC §3)."""
    return has_role(role, permissions.to_write_variables(left)) and has_role(
        role, permissions.to_write_variables(right)
    )


def _compared(
    request: HttpRequest, left: Environment, right: Environment, *, role: str, via: str = ""
) -> selectors.Comparison:
    """Compare two environments, audited first (if the event cannot be written, nothing is
    compared)."""
    hide = not _may_write_both(role, left, right)
    services.record_compare(
        left=left, right=right, secrets_hidden=hide, actor=Actor.from_request(request), via=via
    )
    return selectors.compare_environments(left, right, hide_secrets=hide)


def _environment_tabs(environment: Environment, role: str) -> Context:
    return _deployment_tabs(environment.deployment, role) | {"environment": environment}
