"""The audit log page (templates/environments/audit_log.html)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import audit, audit_labels, permissions, selectors
from ..actors import Actor
from ..models import AuditEvent, Deployment
from . import forms
from .pages import HtmxHttpRequest, deployment_tabs, no_store, template_for

AUDIT_PAGE = 100
FILTERS = ("action", "environment", "actor")  # what an export keeps of the page's query
# "Changes" (the default) hides reads so that changes stand out; "Everything" shows them.
# An action picked in the filter is shown whichever it is. The export keeps every event.
SHOW = {"changes": "Changes", "all": "Everything"}


@no_store
@require_GET
@login_required
def audit_log(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_READ_AUDIT
    )
    form = _filter_form(request, deployment)
    filters = form.cleaned_data if form.is_valid() else {}
    show = request.GET.get("show", "")
    show = show if show in SHOW else "changes"
    events = selectors.audit_events(
        deployment,
        action=filters.get("action", ""),
        environment=filters.get("environment", ""),
        actor=filters.get("actor", ""),
        before=filters.get("before"),
        limit=AUDIT_PAGE,
        changes_only=show == "changes" and not filters.get("action"),
    )
    for event in events:
        event.label = audit_labels.label(event.action)
    older_url = ""
    if events.next is not None:
        query = request.GET.copy()
        query["before"] = events.next
        older_url = f"{request.path}?{query.urlencode()}"
    export_query = request.GET.copy()
    for name in list(export_query):
        if name not in FILTERS:
            del export_query[name]
    context = deployment_tabs(deployment, role) | {
        "tab": "audit",
        "form": form,
        "events": events,
        "show": show,
        "show_choices": SHOW,
        "older_url": older_url,
        "export_query": export_query.urlencode(),
        "paged": bool(filters.get("before")),
        "filtered": any(v for k, v in filters.items() if k != "before"),
    }
    return render(request, template_for(request, "environments/audit_log.html", "events"), context)


def _filter_form(request: HtmxHttpRequest, deployment: Deployment) -> forms.AuditFilterForm:
    actions = selectors.audit_actions(deployment)
    names = [e.name for e in selectors.environments_in_order(deployment)]
    form = forms.AuditFilterForm(request.GET or None, actions=actions, environment_names=names)
    # The actions by their labels (the raw name after it, for those who know it).
    field = form.fields["action"]
    field.choices = [
        (value, f"{audit_labels.label(value)} ({value})" if value else text)
        for value, text in field.choices
    ]
    return form


# Export (SPEC §12): the filtered log, streamed ------------------------------------------------

EXPORT_COLUMNS = [
    "id",
    "created_at",
    "chain",
    "seq",
    "actor",
    "action",
    "deployment",
    "environment",
    "target",
    "outcome",
    "ip",
    "user_agent",
    "detail",
    "count",
    "coalesce_until",
    "content_version",
    "prev_hash",
    "content_hash",
    "hash",
]
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


@no_store
@require_GET
@login_required
def audit_export(request: HtmxHttpRequest, deployment_id: int, fmt: str) -> HttpResponse:
    """The audit page's events, with its filters, as CSV or JSON Lines, all of them, streamed
    (flat memory however long the log). The export is on record before its first row leaves."""
    deployment, _ = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_READ_AUDIT
    )
    form = _filter_form(request, deployment)
    if form.is_bound and not form.is_valid():
        fields = ", ".join(sorted(form.errors))
        return HttpResponseBadRequest(
            f"Invalid filter ({fields}): nothing was exported.", content_type="text/plain"
        )
    filters = {name: form.cleaned_data.get(name, "") for name in FILTERS} if form.is_bound else {}
    audit.record_export(
        deployment=deployment, fmt=fmt, filters=filters, actor=Actor.from_request(request)
    )
    events = selectors.audit_events_for_export(deployment, **filters)
    rows = map(_export_row, events)
    body = _csv_lines(rows) if fmt == "csv" else (json.dumps(row) + "\n" for row in rows)
    response = StreamingHttpResponse(body, content_type=EXPORT_TYPES[fmt])
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="{deployment.name}-audit-{stamp}.{fmt}"'
    )
    return response


def _export_row(event: AuditEvent) -> dict[str, Any]:
    """An event as exported: the canonical timestamps (UTC, microseconds) and every field the
    content hash covers, with its format version, so a JSON Lines row can be checked against
    its content_hash offline (`count`, how many attempts a coalesced event stands for, is not
    covered: it grows while `coalesce_until` is ahead)."""
    return {
        "id": event.pk,
        "created_at": audit.stamp(event.created_at),
        "chain": event.chain,
        "seq": event.seq,
        "actor": event.actor_label,
        "action": event.action,
        "deployment": event.deployment_name,
        "environment": event.environment_name,
        "target": event.target,
        "outcome": event.outcome,
        "ip": str(event.ip) if event.ip else None,
        "user_agent": event.user_agent,
        "detail": event.detail,
        "count": event.count,
        "coalesce_until": audit.stamp(event.coalesce_until),
        "content_version": event.content_version,
        "prev_hash": event.prev_hash,
        "content_hash": event.content_hash,
        "hash": event.hash,
    }


class _Line:
    """csv.writer writes into this and gets the line back (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
        yield writer.writerow([spreadsheet_safe(row[column]) for column in EXPORT_COLUMNS])


def spreadsheet_safe(cell: Any) -> Any:
    """A text cell a spreadsheet would read as a formula (=, +, -, @, or a tab or carriage
    return before one) gets a leading apostrophe, which spreadsheets show as text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell
