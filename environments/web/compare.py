"""The compare page (templates/environments/compare.html), and the audited comparison the
promotion confirmation shows too."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import permissions, rules, selectors, services
from ..actors import Actor
from ..models import Environment
from ..permissions import has_role
from . import forms
from .pages import HtmxHttpRequest, deployment_tabs, no_store


def _may_write_both(role: str, left: Environment, right: Environment) -> bool:
    """Whether same/different on secrets and bindings may be shown (SPEC §3)."""
    return has_role(role, permissions.to_write_variables(left)) and has_role(
        role, permissions.to_write_variables(right)
    )


def compared(
    request: HtmxHttpRequest, left: Environment, right: Environment, *, role: str, via: str = ""
) -> selectors.Comparison:
    """Compare two environments, audited first (if the event cannot be written, nothing is
    compared)."""
    hide = not _may_write_both(role, left, right)
    services.record_compare(
        left=left, right=right, secrets_hidden=hide, actor=Actor.from_request(request), via=via
    )
    return selectors.compare_environments(left, right, hide_secrets=hide)


@no_store
@require_GET
@login_required
def compare(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    names = list(environments)
    initial = {"left": rules.STAGING, "right": rules.PRODUCTION}
    form = forms.CompareForm(request.GET or initial, environment_names=names)
    comparison = None
    if form.is_valid():
        left = environments[form.cleaned_data["left"]]
        right = environments[form.cleaned_data["right"]]
        left.deployment = right.deployment = deployment
        comparison = compared(request, left, right, role=role)
    context = deployment_tabs(deployment, role) | {
        "tab": "compare",
        "form": form,
        "comparison": comparison,
    }
    status = 200 if form.is_valid() or not request.GET else 400
    return render(request, "environments/compare.html", context, status=status)
