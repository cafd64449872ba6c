"""The compare page (templates/environments/compare.html)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import forms, selectors
from ._common import _compared, _deployment_tabs, no_store


@no_store
@require_GET
@login_required
def compare(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    names = list(environments)
    initial = {"left": "staging", "right": "production"}
    form = forms.CompareForm(request.GET or initial, environment_names=names)
    comparison = None
    if form.is_valid():
        left = environments[form.cleaned_data["left"]]
        right = environments[form.cleaned_data["right"]]
        left.deployment = right.deployment = deployment
        comparison = _compared(request, left, right, role=role)
    context = _deployment_tabs(deployment, role) | {
        "tab": "compare",
        "form": form,
        "comparison": comparison,
    }
    status = 200 if form.is_valid() or not request.GET else 400
    return render(request, "environments/compare.html", context, status=status)
