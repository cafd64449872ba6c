"""The environment history page (templates/environments/environment_history.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ..models import (
    Environment,
)
from ..permissions import has_role
from ._common import _env_url, _environment_tabs, _page, _status, _unconfirmed, no_store


def _history_page(
    request: HttpRequest,
    environment: Environment,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    may_roll_back = has_role(environment.role, permissions.to_deploy_into(environment))
    changes = selectors.history_rows(environment, may_roll_back=may_roll_back)
    context = _environment_tabs(environment) | {
        "tab": "history",
        "changes": changes,
        "notice": notice,
        "error": error,
    }
    template = _page(request, "environments/environment_history.html", "history")
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def environment_history(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _history_page(request, environment)


@no_store
@require_POST
@login_required
def rollback(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    form = forms.RollbackForm(request.POST)
    version = None
    if form.is_valid():
        version = selectors.find_version(environment.deployment, form.cleaned_data["version"])
    if version is None:
        return _history_page(request, environment, error="There is no such version.", status=400)
    unconfirmed = _unconfirmed(
        request,
        question=f"Roll {environment.name} back to v{version.number}?",
        detail=f"It will run v{version.number} again; its variables stay as they are.",
        label=f"Roll back to v{version.number}",
        cancel_url=_env_url(environment, "environment_history"),
    )
    if unconfirmed:
        return unconfirmed
    try:
        services.rollback(
            environment=environment, version=version, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _history_page(request, environment, error=exc.message, status=_status(exc))
    notice = f"{environment.name} rolled back to v{version.number}."
    environment = selectors.get_environment_for_user(request.user, deployment_id, name)
    if request.htmx:
        return _history_page(request, environment, notice=notice)
    messages.success(request, notice)
    return redirect(_env_url(environment, "environment_history"))
