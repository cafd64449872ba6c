"""The environment form page (templates/environments/environment_form.html)."""

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
from ._common import _deployment_tabs, _env_url, _status, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def environment_create(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_ENVIRONMENTS
    )
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    # A copy holds the source's secrets: copying needs the role that may write them.
    copyable = [
        e.name for e in environments.values() if has_role(role, permissions.to_write_variables(e))
    ]
    form = forms.EnvironmentForm(
        request.POST or None, environment_names=list(environments), copyable=copyable
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            copy_from = environments.get(data["copy_from"])
            if copy_from is not None and copy_from.name not in copyable:
                need = permissions.to_write_variables(copy_from)
                form.add_error(
                    "copy_from",
                    f"Copying {copy_from.name} needs the {need} role or higher: the copy "
                    f"would hold its secrets. You are {role}.",
                )
                status = 403
            else:
                try:
                    environment = services.create_environment(
                        deployment=deployment,
                        name=data["name"],
                        copy_from=copy_from,
                        promotes_to=environments.get(data["promotes_to"]),
                        actor=Actor.from_request(request),
                    )
                except ServiceError as exc:
                    forms.add_service_error(form, exc)
                    status = _status(exc)
                else:
                    messages.success(request, f"Created {environment.name}.")
                    return redirect(_env_url(environment))
    context = _deployment_tabs(deployment, role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/environment_form.html", context, status=status)
