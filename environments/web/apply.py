"""Pending changes, Apply, and how config changes go live (SPEC §9), on the environment page
(templates/environments/environment.html: its `pending` and `summary` partials)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import ChangeRequest
from . import forms
from .change_requests import may_release, opened, reason_from
from .environment_page import EnvironmentPage, after_write, render_environment, with_summary
from .pages import HtmxHttpRequest, env_url, no_store


@no_store
@require_GET
@login_required
def pending_changes(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """The pending changes section (the confirmation's Cancel lands here)."""
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    return render_environment(request, EnvironmentPage(environment, role, "pending"))


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def apply_changes(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: the confirmation, listing what goes live (the section with htmx, else the page).
    POST: make the pending changes live, if the configuration is still the one confirmed."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=selectors.need_to_release
    )
    if request.method == "GET":
        page = EnvironmentPage(environment, role, "pending", confirming_apply=True)
        return render_environment(request, page)
    form = forms.ApplyForm(request.POST)
    if not form.is_valid():
        error = "The apply form was incomplete: review the changes and apply again."
        page = EnvironmentPage(environment, role, "pending", status=400, error=error)
        return render_environment(request, page)
    try:
        release = services.apply_changes(
            environment=environment,
            expected_revision=form.cleaned_data["expected_revision"],
            actor=Actor.from_request(request),
            reason=reason_from(request),
            may_release=may_release(role, environment),
        )
    except ServiceError as exc:
        # Shown with the current state: a stale confirmation is replaced by what is pending now.
        environment = selectors.refresh_config_state(environment)
        status = forms.refusal_status(exc)
        page = EnvironmentPage(environment, role, "pending", status=status, error=exc.message)
        return render_environment(request, page)
    if isinstance(release, ChangeRequest):
        return opened(request, release)
    notice = (
        f"Applied: {environment.name} runs release {release.number} · v{release.version.number}"
        f" · config {release.config_revision}. Instances get it at their next boot."
    )
    if request.htmx:
        environment = selectors.refresh_config_state(environment)
        page = EnvironmentPage(environment, role, "pending", notice=notice)
        return render_environment(request, page)
    messages.success(request, notice)
    return redirect(env_url(environment) + "#pending")


@no_store
@require_POST
@login_required
def config_changes(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """Switch how config changes go live: immediately, or staged until applied."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    form = forms.ConfigChangesForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.set_config_changes(
            environment=environment, mode=data["config_changes"], actor=Actor.from_request(request)
        ),
    )
    if not done.written:
        page = EnvironmentPage(environment, role, "settings", status=done.status, form=form)
        return render_environment(request, page)
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    when = "when you apply them" if environment.is_staged else "immediately"
    notice = f"Config changes to {environment.name} now go live {when}."
    page = EnvironmentPage(environment, role, "settings", notice=notice)
    return with_summary(request, page, after_write(request, page))
