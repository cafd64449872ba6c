"""The audit log page (templates/environments/audit_log.html)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import forms, permissions, selectors
from ._common import _deployment_tabs, _page, no_store

AUDIT_PAGE = 100


@no_store
@require_GET
@login_required
def audit_log(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_READ_AUDIT
    )
    actions = selectors.audit_actions(deployment)
    names = [e.name for e in selectors.environments_in_order(deployment)]
    form = forms.AuditFilterForm(request.GET or None, actions=actions, environment_names=names)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_events(
        deployment,
        action=filters.get("action", ""),
        environment=filters.get("environment", ""),
        actor=filters.get("actor", ""),
        before=filters.get("before"),
        limit=AUDIT_PAGE + 1,
    )
    older_url = ""
    if len(events) > AUDIT_PAGE:
        events = events[:AUDIT_PAGE]
        query = request.GET.copy()
        query["before"] = events[-1].pk
        older_url = f"{request.path}?{query.urlencode()}"
    context = _deployment_tabs(deployment, role) | {
        "tab": "audit",
        "form": form,
        "events": events,
        "older_url": older_url,
        "paged": bool(filters.get("before")),
        "filtered": any(v for k, v in filters.items() if k != "before"),
    }
    return render(request, _page(request, "environments/audit_log.html", "events"), context)
