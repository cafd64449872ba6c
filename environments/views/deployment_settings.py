"""The deployment settings page (templates/environments/deployment_settings.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ..permissions import has_role
from ._common import _deployment_tabs, _deployment_url, _status, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def deployment_settings(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_DOMAINS
    )
    form = forms.ApexForm(request.POST or None, initial={"apex_domain": deployment.apex_domain})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                result = services.set_apex_domain(
                    deployment=deployment,
                    apex=form.cleaned_data["apex_domain"],
                    actor=Actor.from_request(request),
                    visible_deployment_ids=selectors.visible_deployment_ids(request.user),
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                messages.success(request, _apex_message(result))
                return redirect(_deployment_url(deployment, "deployment_settings"))
    environments = selectors.pipeline_environments(deployment)
    suggestions = selectors.apex_suggestions(deployment, environments)
    context = _deployment_tabs(deployment, deployment.role) | {
        "tab": "settings",
        "form": form,
        "suggestions": suggestions,
        "delete_form": forms.ConfirmNameForm(expected=deployment.name),
        "can_delete_deployment": has_role(deployment.role, permissions.TO_DELETE_DEPLOYMENT),
    }
    return render(request, "environments/deployment_settings.html", context, status=status)


def _apex_message(result: services.ApexResult) -> str:
    if not result.apex:
        return "Removed the apex domain. Attached domains stay where they are."
    text = f"The apex domain is now {result.apex}."
    if result.attached:
        text += f" Attached {', '.join(result.attached)}."
    if result.skipped:
        text += f" Skipped {', '.join(result.skipped)}: already attached elsewhere."
    if not result.attached and not result.skipped:
        text += " Its domains were already attached."
    return text


@no_store
@require_POST
@login_required
def deployment_delete(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_DELETE_DEPLOYMENT
    )
    form = forms.ConfirmNameForm(request.POST, expected=deployment.name)
    if not form.is_valid():
        messages.error(request, form.errors["confirm_name"][0])
        return redirect(_deployment_url(deployment, "deployment_settings"))
    services.delete_deployment(deployment=deployment, actor=Actor.from_request(request))
    messages.success(request, f"Deleted {deployment.name}.")
    return redirect("deployment_list")
