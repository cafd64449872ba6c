"""The environment form page (templates/environments/environment_form.html)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from .. import permissions, selectors, services
from ..actors import Actor
from ..permissions import has_role
from . import forms
from .pages import HtmxHttpRequest, deployment_tabs, env_url, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def environment_create(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
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
        copy_from = environments.get(form.data.get("copy_from", ""))
        if form.is_valid() and copy_from is not None and copy_from.name not in copyable:
            need = permissions.to_write_variables(copy_from)
            form.add_error(
                "copy_from",
                f"Copying {copy_from.name} needs the {need} role or higher: the copy "
                f"would hold its secrets. You are {role}.",
            )
            status = 403
        else:
            done = forms.submit(
                form,
                lambda data: services.create_environment(
                    deployment=deployment,
                    name=data["name"],
                    copy_from=copy_from,
                    promotes_to=environments.get(data["promotes_to"]),
                    data=data["data"] or None,
                    expires_at=(
                        timezone.now() + timedelta(days=data["expires_in_days"])
                        if data["expires_in_days"]
                        else None
                    ),
                    actor=Actor.from_request(request),
                ),
            )
            if done.result is not None:
                created = done.result
                text = f"Created {created.name}."
                if created.active_version_id is None:
                    text += " Nothing runs there yet: deploy a version to it."
                messages.success(request, text)
                return redirect(env_url(created))
            status = done.status
    context = deployment_tabs(deployment, role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/environment_form.html", context, status=status)
