"""The version form page (templates/environments/version_form.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ..models import (
    Deployment,
    Environment,
    Version,
)
from ..permissions import has_role
from ._common import _deployment_tabs, _deployment_url, _status, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def version_create(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_CREATE_VERSIONS
    )
    environments = selectors.environments_in_order(deployment)
    deployable = [
        e.name for e in environments if has_role(deployment.role, permissions.to_deploy_into(e))
    ]
    can_create = has_role(deployment.role, permissions.TO_MANAGE_ENVIRONMENTS)
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
            try:
                version, where = _register_version(request, deployment, environments, form)
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                text = f"Registered v{version.number}" + (
                    f" and deployed it to {where}." if where else "."
                )
                messages.success(request, text)
                return redirect(_deployment_url(deployment))
    context = _deployment_tabs(deployment, deployment.role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/version_form.html", context, status=status)


@transaction.atomic
def _register_version(
    request: HttpRequest,
    deployment: Deployment,
    environments: list[Environment],
    form: forms.VersionForm,
) -> tuple[Version, str]:
    """Register a version and deploy it (into a new environment, maybe): all or nothing."""
    actor = Actor.from_request(request)
    data = form.cleaned_data
    version = services.create_version(
        deployment=deployment, label=data["label"], notes=data["notes"], actor=actor
    )
    where = data["deploy_to"]
    if where == forms.NEW_ENVIRONMENT:
        environment = services.create_environment(
            deployment=deployment, name=data["new_environment"], actor=actor
        )
        where = environment.name
    elif where:
        environment = next(e for e in environments if e.name == where)
    else:
        return version, ""
    try:
        services.deploy_version(environment=environment, version=version, actor=actor)
    except ServiceError as exc:
        if exc.field is None and where != forms.NEW_ENVIRONMENT:
            exc.field = "deploy_to"
        raise
    return version, where
