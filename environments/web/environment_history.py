"""The environment history page (templates/environments/environment_history.html)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import (
    ChangeRequest,
    Environment,
)
from ..permissions import has_role
from . import forms
from .change_requests import may_release, opened, reason_from
from .forms.change_requests import ReasonForm
from .pages import HtmxHttpRequest, env_url, environment_tabs, no_store, template_for, unconfirmed


@dataclass(frozen=True)
class RollbackQuestion:
    """What a rollback confirmation asks: on the history page (htmx) or on its own page."""

    release: int
    version: int
    config: str
    question: str
    detail: str
    label: str
    protected: bool = False  # the rollback opens a change request (SPEC §15), with a reason


def _rollback_question(environment: Environment, number: int, config: str) -> RollbackQuestion:
    release = selectors.get_release(environment, number)
    what = f"release {number} (v{release.version.number})"
    if config == "restore":
        detail = (
            f"It will run v{release.version.number} with the configuration it had then "
            f"(config {release.config_revision}): variables, secrets, bindings and domains. "
            "Nothing is deleted; later changes stay in the history."
        )
    else:
        detail = (
            f"It will run v{release.version.number} with the current configuration "
            f"(config {environment.config_revision})."
        )
    protected = selectors.is_protected(environment)
    if protected:
        detail += f" {environment.name} is protected: this opens a change request."
    return RollbackQuestion(
        release=number,
        version=release.version.number,
        config=config,
        question=f"{'Request to roll' if protected else 'Roll'} {environment.name} back to {what}?",
        detail=detail,
        label=f"{'Request to roll' if protected else 'Roll'} back to release {number}",
        protected=protected,
    )


def _history_page(
    request: HtmxHttpRequest,
    environment: Environment,
    role: str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    state = selectors.protection_states([environment])[environment.pk]
    # In a protected environment a rollback is a request (SPEC §15), which a developer may ask.
    may_roll_back = has_role(role, permissions.to_deploy_into(environment)) or (
        state.required_approvals > 0 and has_role(role, permissions.TO_REQUEST_CHANGES)
    )
    rows = selectors.release_rows(environment, may_roll_back=may_roll_back)
    confirming = None
    if may_roll_back and "release" in request.GET:
        # The row's Roll back button (htmx) asks here, in place, before anything is posted.
        form = forms.RollbackForm(request.GET)
        if form.is_valid():
            confirming = _rollback_question(
                environment, form.cleaned_data["release"], form.cleaned_data["config"]
            )
    context = environment_tabs(environment, role) | {
        "tab": "history",
        "rows": rows,
        "live": environment.live_release,
        "notice": notice,
        "error": error,
        "confirming": confirming,
        "reason_form": ReasonForm() if confirming and confirming.protected else None,
        # A release applied by break-glass, until the next approved one (SPEC §15).
        "break_glass": state.break_glass,
    }
    template = template_for(request, "environments/environment_history.html", "history")
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def environment_history(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _history_page(request, environment, role)


@no_store
@require_POST
@login_required
def rollback(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=selectors.need_to_release
    )
    form = forms.RollbackForm(request.POST)
    if not form.is_valid():
        return _history_page(
            request, environment, role, error="Pick a release to roll back to.", status=400
        )
    number, config = form.cleaned_data["release"], form.cleaned_data["config"]
    asked = _rollback_question(environment, number, config)
    what = f"release {number} (v{asked.version})"
    asking = unconfirmed(
        request,
        question=asked.question,
        detail=asked.detail,
        label=asked.label,
        cancel_url=env_url(environment, "environment_history"),
    )
    if asking:
        return asking
    try:
        new = services.rollback(
            environment=environment,
            release=number,
            config=config,
            actor=Actor.from_request(request),
            reason=reason_from(request),
            may_release=may_release(role, environment),
        )
    except ServiceError as exc:
        return _history_page(
            request, environment, role, error=exc.message, status=forms.refusal_status(exc)
        )
    if isinstance(new, ChangeRequest):
        return opened(request, new)
    notice = (
        f"{environment.name} rolled back to {what}: release {new.number} runs "
        f"v{new.version.number} with config {new.config_revision}."
    )
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    if request.htmx:
        return _history_page(request, environment, role, notice=notice)
    messages.success(request, notice)
    return redirect(env_url(environment, "environment_history"))
