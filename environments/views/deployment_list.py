"""The deployment list page (templates/environments/deployment_list.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import forms, selectors, services
from ..audit import Actor
from ..errors import ServiceError
from ._common import _deployment_url, _status, no_store


@no_store
@require_GET
@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    return _deployment_list_page(request)


def _deployment_list_page(
    request: HttpRequest, *, form: forms.DeploymentForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "deployments": selectors.deployment_cards(request.user),
        "form": form or forms.DeploymentForm(),
    }
    return render(request, "environments/deployment_list.html", context, status=status)


@no_store
@require_POST
@login_required
def deployment_create(request: HttpRequest) -> HttpResponse:
    """Any logged-in user may create a deployment; they become its owner."""
    form = forms.DeploymentForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            deployment = services.create_deployment(
                name=form.cleaned_data["name"], actor=Actor.from_request(request)
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            messages.success(
                request, f"Created {deployment.name} with its production and staging environments."
            )
            return redirect(_deployment_url(deployment))
    return _deployment_list_page(request, form=form, status=status)
