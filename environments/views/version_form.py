"""The version form page (templates/environments/version_form.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ..permissions import has_role
from ._common import _deployment_tabs, _deployment_url, _status, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def version_create(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_CREATE_VERSIONS
    )
    environments = selectors.environments_in_order(deployment)
    deployable = [e.name for e in environments if has_role(role, permissions.to_deploy_into(e))]
    can_create = has_role(role, permissions.TO_MANAGE_ENVIRONMENTS)
    form = forms.VersionForm(
        request.POST or None,
        deployable=deployable,
        can_create=can_create,
        initial={"deploy_to": "staging" if "staging" in deployable else ""},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            new = data["deploy_to"] == forms.NEW_ENVIRONMENT
            try:
                version, environment = services.register_version(
                    deployment=deployment,
                    label=data["label"],
                    notes=data["notes"],
                    deploy_to=next((e for e in environments if e.name == data["deploy_to"]), None),
                    new_environment=data["new_environment"] if new else "",
                    actor=Actor.from_request(request),
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                text = f"Registered v{version.number}" + (
                    f" and deployed it to {environment.name}." if environment else "."
                )
                messages.success(request, text)
                return redirect(_deployment_url(deployment))
    context = _deployment_tabs(deployment, role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/version_form.html", context, status=status)
