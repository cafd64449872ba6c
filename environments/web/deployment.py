"""The deployment page (templates/environments/deployment.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import (
    ChangeRequest,
    Deployment,
    Environment,
)
from ..permissions import has_role
from . import forms
from .change_requests import may_release, opened, reason_from
from .compare import compare_url, compared, may_write_both
from .forms.change_requests import ReasonForm
from .pages import Context, HtmxHttpRequest, deployment_tabs, deployment_url, no_store, template_for


def _deployment_page(
    request: HtmxHttpRequest,
    deployment: Deployment,
    role: str,
    *,
    confirm: Context | None = None,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    environments = selectors.pipeline_environments(deployment)
    context = deployment_tabs(deployment, role) | {
        "tab": "pipeline",
        "columns": (columns := selectors.pipeline_cards(deployment, environments, role=role)),
        # Environments whose releases wait for review: their promote buttons ask (SPEC §15).
        "protected_ids": {
            card.environment.pk
            for column in columns
            for card in column
            if card.protection and card.protection.required_approvals
        },
        "confirm": confirm,
        "notice": notice,
        "error": error,
    }
    if not request.htmx:
        context["versions"] = selectors.recent_versions(deployment, environments)
    template = template_for(request, "environments/deployment.html", "pipeline")
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def deployment_detail(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    return _deployment_page(request, deployment, role)


def _promotion_source(
    request: HtmxHttpRequest, deployment_id: int, name: str
) -> selectors.EnvironmentAccess:
    """The source environment, if the user may deploy into its target (404 without a target)."""
    source, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    source.promotes_to = selectors.get_promotion_target(source)
    need = selectors.need_to_release(source.promotes_to)
    if not has_role(role, need):
        raise PermissionDenied(
            f"Promoting into {source.promotes_to.name} needs the {need} role or higher."
        )
    return selectors.EnvironmentAccess(source, role)


def _confirmation(request: HtmxHttpRequest, source: Environment, role: str) -> Context:
    target = source.promotes_to
    comparison = compared(request, source, target, role=role, via="promotion")
    return {
        "source": source,
        "target": target,
        "version": source.active_version,
        "target_version": target.active_version,
        "comparison": comparison,
        "nothing_differs": not comparison.changed_keys and not comparison.hidden,
        # What goes live with the version (SPEC §9): the target's pending changes, and the
        # required keys its configuration lacks (the promotion would be refused: say so first).
        "pending": selectors.pending_changes(target),
        "missing": selectors.missing_required_keys(target),
        # A protected target: the promotion opens a change request (SPEC §15).
        "protected": (protection := selectors.protection_of(target))
        and protection.required_approvals,
        "reason_form": ReasonForm(),
        # Drift the user may fix: the compare page copies the source's keys into the target.
        "copy_url": (
            compare_url(source.deployment, source.name, target.name) + "#copy-form"
            if comparison.changed_keys and may_write_both(role, source, target)
            else ""
        ),
    }


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def promote(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    source, role = _promotion_source(request, deployment_id, name)
    target = source.promotes_to
    deployment = source.deployment
    if request.method == "GET":
        if source.active_version is None:
            return _deployment_page(
                request,
                deployment,
                role,
                error=f"Nothing is deployed in {source.name} yet.",
                status=409,
            )
        return _deployment_page(
            request, deployment, role, confirm=_confirmation(request, source, role)
        )

    form = forms.PromoteForm(request.POST)
    if not form.is_valid():
        return _deployment_page(
            request,
            deployment,
            role,
            error="The promotion form was incomplete; try again.",
            status=400,
        )
    try:
        change = services.promote(
            source=source,
            version_number=form.cleaned_data["version"],
            expected_target_version=form.cleaned_data["target_version"],
            target_id=target.pk,  # the target whose role requirement was checked
            actor=Actor.from_request(request),
            reason=reason_from(request),
            may_release=may_release(role, target),
        )
    except ServiceError as exc:
        return _deployment_page(
            request, deployment, role, error=exc.message, status=forms.refusal_status(exc)
        )
    if isinstance(change, ChangeRequest):
        return opened(request, change)
    notice = f"{target.name} now runs v{change.version.number}, promoted from {source.name}."
    if request.htmx:
        return _deployment_page(request, deployment, role, notice=notice)
    messages.success(request, notice)
    return redirect(deployment_url(deployment))
