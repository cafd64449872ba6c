"""A key's history page (templates/environments/variable_history.html): every revision that
set or deleted it, never a value, and Restore for a variable's earlier value."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import Environment
from ..permissions import has_role
from . import forms
from .pages import HtmxHttpRequest, env_url, environment_tabs, no_store, template_for, unconfirmed


def _history_page(
    request: HtmxHttpRequest,
    environment: Environment,
    role: str,
    key: str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    rows = selectors.key_history(environment, key)
    if not rows:
        raise Http404(f"{key} has no history in {environment.name}.")
    latest = rows[0]
    # The value runtimes get: the one in force at the live release's revision (a staged
    # environment's newer value is pending until applied).
    live = environment.live_release
    in_force = next((r for r in rows if live and r.revision <= live.config_revision), None)
    context = environment_tabs(environment, role) | {
        "tab": "environment",
        "key": key,
        "rows": rows,
        "current": latest if latest.action == "set" else None,
        "live_revision": in_force.revision if in_force and in_force.action == "set" else None,
        "can_restore": has_role(role, permissions.to_write_variables(environment)),
        "history_url": env_url(environment, "variable_history", key=key),
        "restore_url": env_url(environment, "variable_restore", key=key),
        "notice": notice,
        "error": error,
    }
    template = template_for(request, "environments/variable_history.html", "key_history")
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def variable_history(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _history_page(request, environment, role, key)


def _restored_notice(environment: Environment, key: str, revision: int) -> str:
    text = (
        f"{key} is back to its value at revision {revision}, as config revision "
        f"{environment.config_revision}."
    )
    live = environment.live_release
    if live is None:
        return text + f" It goes live with the first deploy to {environment.name}."
    if live.config_revision != environment.config_revision:
        return text + (
            f" {environment.name} is staged: the restore is pending until the changes are "
            "applied (or go live with the next deploy or promotion)."
        )
    return text + f" Live in release {live.number}; instances get it at their next boot."


@no_store
@require_POST
@login_required
def variable_restore(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )
    form = forms.RestoreForm(request.POST)
    if not form.is_valid():
        return _history_page(
            request, environment, role, key, error="Pick a revision to restore.", status=400
        )
    revision = form.cleaned_data["revision"]
    asking = unconfirmed(
        request,
        question=f"Restore {key} in {environment.name} to its value at revision {revision}?",
        detail=(
            "The value is copied server-side as a new revision; it is not shown, and later "
            "revisions stay in the history."
        ),
        label=f"Restore revision {revision}",
        cancel_url=env_url(environment, "variable_history", key=key),
    )
    if asking:
        return asking
    try:
        services.restore_variable(
            environment=environment, key=key, revision=revision, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _history_page(
            request, environment, role, key, error=exc.message, status=forms.refusal_status(exc)
        )
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    notice = _restored_notice(environment, key, revision)
    if request.htmx:
        return _history_page(request, environment, role, key, notice=notice)
    messages.success(request, notice)
    return redirect(env_url(environment, "variable_history", key=key))
