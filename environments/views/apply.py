"""Pending changes, Apply, and how config changes go live (SPEC §9), on the environment page
(templates/environments/environment.html: its `pending` and `summary` partials)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ._common import _env_url, _status, no_store
from .environment import _after_write, _environment_page


@no_store
@require_GET
@login_required
def pending_changes(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """The pending changes section (the confirmation's Cancel lands here)."""
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _environment_page(request, environment, role, section="pending")


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def apply_changes(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: the confirmation, listing what goes live (the section with htmx, else the page).
    POST: make the pending changes live, if the configuration is still the one confirmed."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    if request.method == "GET":
        return _environment_page(
            request, environment, role, section="pending", confirming_apply=True
        )
    form = forms.ApplyForm(request.POST)
    if not form.is_valid():
        return _environment_page(
            request,
            environment,
            role,
            section="pending",
            status=400,
            pending_error="The apply form was incomplete: review the changes and apply again.",
        )
    try:
        release = services.apply_changes(
            environment=environment,
            expected_revision=form.cleaned_data["expected_revision"],
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        # Shown with the current state: a stale confirmation is replaced by what is pending now.
        environment = selectors.refresh_config_state(environment)
        return _environment_page(
            request,
            environment,
            role,
            section="pending",
            status=_status(exc),
            pending_error=exc.message,
        )
    notice = (
        f"Applied: {environment.name} runs release {release.number} · v{release.version.number}"
        f" · config {release.config_revision}. Instances get it at their next boot."
    )
    if request.htmx:
        environment = selectors.refresh_config_state(environment)
        return _environment_page(
            request, environment, role, section="pending", pending_notice=notice
        )
    messages.success(request, notice)
    return redirect(_env_url(environment) + "#pending")


@no_store
@require_POST
@login_required
def config_changes(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """Switch how config changes go live: immediately, or staged until applied."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    form = forms.ConfigChangesForm(request.POST)
    status = 400
    if form.is_valid():
        mode = form.cleaned_data["config_changes"]
        try:
            environment = services.set_config_changes(
                environment=environment, mode=mode, actor=Actor.from_request(request)
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            environment, role = selectors.get_environment_for_user(
                request.user, deployment_id, name
            )
            when = "when you apply them" if environment.is_staged else "immediately"
            notice = f"Config changes to {environment.name} now go live {when}."
            return _after_write(request, environment, role, "summary", notice)
    return _environment_page(
        request, environment, role, section="summary", status=status, config_changes_form=form
    )
