"""The deployment list page (templates/environments/deployment_list.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import selectors, services
from ..actors import Actor
from . import forms
from .pages import HtmxHttpRequest, deployment_url, no_store


@no_store
@require_GET
@login_required
def deployment_list(request: HtmxHttpRequest) -> HttpResponse:
    return _deployment_list_page(request)


def _deployment_list_page(
    request: HtmxHttpRequest, *, form: forms.DeploymentForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "deployments": selectors.deployment_cards(request.user),
        "form": form or forms.DeploymentForm(),
    }
    return render(request, "environments/deployment_list.html", context, status=status)


@no_store
@require_POST
@login_required
def deployment_create(request: HtmxHttpRequest) -> HttpResponse:
    """Any logged-in user may create a deployment; they become its owner."""
    form = forms.DeploymentForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.create_deployment(
            name=data["name"], actor=Actor.from_request(request)
        ),
    )
    if done.result is None:
        return _deployment_list_page(request, form=form, status=done.status)
    deployment = done.result
    messages.success(
        request, f"Created {deployment.name} with its production and staging environments."
    )
    return redirect(deployment_url(deployment))
