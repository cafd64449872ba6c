"""The environment delete page (templates/environments/environment_delete.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import permissions, selectors, services
from ..actors import Actor
from . import forms
from .pages import HtmxHttpRequest, deployment_url, environment_tabs, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def environment_delete(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_MANAGE_ENVIRONMENTS
    )
    if environment.is_protected:
        context = environment_tabs(environment, role) | {"tab": "environment", "protected": True}
        return render(request, "environments/environment_delete.html", context, status=409)
    form = forms.ConfirmNameForm(request.POST or None, expected=environment.name, focus=True)
    status = 200
    if request.method == "POST":
        done = forms.submit(
            form,
            lambda data: services.delete_environment(
                environment=environment, actor=Actor.from_request(request)
            ),
        )
        if done.written:
            messages.success(request, f"Deleted {environment.name}.")
            return redirect(deployment_url(environment.deployment))
        status = done.status
    context = environment_tabs(environment, role) | {
        "tab": "environment",
        "form": form,
        "counts": selectors.delete_counts(environment),
        # Destroyed with it by the worker (SPEC §13); detached ones stay on their servers.
        "doomed_services": [
            (s, forms.DESTROYS[s.kind])
            for s in selectors.data_services(environment.deployment, environment=environment)
            if s.state not in ("destroying", "detached")
        ],
    }
    return render(request, "environments/environment_delete.html", context, status=status)
