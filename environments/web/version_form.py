"""The version form page (templates/environments/version_form.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import permissions, rules, selectors, services
from ..actors import Actor
from ..permissions import has_role
from . import forms
from .pages import HtmxHttpRequest, deployment_tabs, deployment_url, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def version_create(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
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
        initial={"deploy_to": rules.STAGING if rules.STAGING in deployable else ""},
    )
    status = 200
    if request.method == "POST":
        done = forms.submit(
            form,
            lambda data: services.register_version(
                deployment=deployment,
                label=data["label"],
                notes=data["notes"],
                deploy_to=next((e for e in environments if e.name == data["deploy_to"]), None),
                new_environment=data["new_environment"]
                if data["deploy_to"] == forms.NEW_ENVIRONMENT
                else "",
                actor=Actor.from_request(request),
            ),
        )
        if done.result is not None:
            version, environment = done.result
            text = f"Registered v{version.number}" + (
                "."
                if environment is None
                else f" and asked to deploy it to {environment.name}, which is protected: a "
                "change request waits for review."
                if selectors.is_protected(environment)
                else f" and deployed it to {environment.name}."
            )
            messages.success(request, text)
            return redirect(deployment_url(deployment))
        status = done.status
    context = deployment_tabs(deployment, role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/version_form.html", context, status=status)
