"""The environment delete page (templates/environments/environment_delete.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ._common import _deployment_url, _environment_tabs, _status, no_store


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def environment_delete(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_MANAGE_ENVIRONMENTS
    )
    if environment.is_protected:
        context = _environment_tabs(environment, role) | {"tab": "environment", "protected": True}
        return render(request, "environments/environment_delete.html", context, status=409)
    form = forms.ConfirmNameForm(request.POST or None, expected=environment.name, focus=True)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.delete_environment(
                    environment=environment, actor=Actor.from_request(request)
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                messages.success(request, f"Deleted {environment.name}.")
                return redirect(_deployment_url(environment.deployment))
    context = _environment_tabs(environment, role) | {
        "tab": "environment",
        "form": form,
        "counts": selectors.delete_counts(environment),
    }
    return render(request, "environments/environment_delete.html", context, status=status)
