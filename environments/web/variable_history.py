"""A key's history page (templates/environments/variable_history.html): every revision that
set or deleted it, "same value as revision N" from fingerprints, old → new for a plain value
to who may reveal (an audited reveal), and Restore, confirmed in place."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError, Undecryptable
from ..models import Environment
from ..permissions import has_role
from . import forms
from .pages import HtmxHttpRequest, env_url, environment_tabs, no_store, template_for, unconfirmed


@dataclass(frozen=True)
class ValueChange:
    """A plain value's change at one revision: what it was before (None: not set) and after."""

    before: str | None
    after: str


def value_changes(
    rows: list[selectors.KeyHistoryRow], values: dict[int, str]
) -> dict[int, ValueChange]:
    """Old → new per revision that set the key, from the revealed values (newest-first rows)."""
    changes: dict[int, ValueChange] = {}
    previous: str | None = None
    for row in reversed(rows):  # oldest first
        if row.action == "deleted":
            previous = None
        elif row.revision in values:
            changes[row.revision] = ValueChange(previous, values[row.revision])
            previous = values[row.revision]
    return changes


@dataclass(frozen=True)
class HistoryItem:
    row: selectors.KeyHistoryRow
    change: ValueChange | None  # shown after an audited reveal; never for a secret


@dataclass
class HistoryPage:
    environment: Environment
    role: str
    key: str
    notice: str = ""
    error: str = ""
    status: int = 200
    values: dict[int, str] | None = None  # revealed plain values, by revision
    confirming: int | None = None  # the revision a Restore asks about, in place


def _render(request: HtmxHttpRequest, page: HistoryPage) -> HttpResponse:
    environment, role, key = page.environment, page.role, page.key
    rows = selectors.key_history(environment, key)
    if not rows:
        raise Http404(f"{key} has no history in {environment.name}.")
    latest = rows[0]
    # The value runtimes get: the one in force at the live release's revision (a staged
    # environment's newer value is pending until applied).
    live = environment.live_release
    in_force = next((r for r in rows if live and r.revision <= live.config_revision), None)
    live_revision = in_force.revision if in_force and in_force.action == "set" else None
    pending = live is not None and latest.revision > live.config_revision
    changes = value_changes(rows, page.values) if page.values else {}
    may_reveal = has_role(role, permissions.TO_REVEAL)
    plain = latest.source == "env" and not any(r.is_secret for r in rows)
    context = environment_tabs(environment, role) | {
        "tab": "environment",
        "key": key,
        "rows": rows,
        "current": latest if latest.action == "set" else None,
        "live_revision": live_revision,
        "can_restore": has_role(role, permissions.to_write_variables(environment)),
        "history_url": env_url(environment, "variable_history", key=key),
        "restore_url": env_url(environment, "variable_restore", key=key),
        "values_url": env_url(environment, "variable_history_values", key=key),
        "can_show_values": may_reveal and plain,
        "items": [HistoryItem(r, changes.get(r.revision)) for r in rows],
        "values_shown": page.values is not None,
        "pending_here": pending,
        "apply_url": (
            env_url(environment, "apply_changes")
            if pending and has_role(role, permissions.to_deploy_into(environment))
            else ""
        ),
        "confirming": page.confirming,
        "notice": page.notice,
        "error": page.error,
    }
    template = template_for(request, "environments/variable_history.html", "key_history")
    return render(request, template, context, status=page.status)


@no_store
@require_GET
@login_required
def variable_history(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    page = HistoryPage(environment, role, key)
    if "revision" in request.GET and has_role(role, permissions.to_write_variables(environment)):
        # The row's Restore button (htmx) asks here, in place, before anything is posted.
        form = forms.RestoreForm(request.GET)
        if form.is_valid():
            page.confirming = form.cleaned_data["revision"]
    return _render(request, page)


@no_store
@require_POST
@login_required
def variable_history_values(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    """Show a plain variable's values, old → new per revision, to who may reveal: audited
    as a reveal before anything is decrypted. A key that was ever a secret shows none."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_REVEAL
    )
    if not selectors.key_history(environment, key):
        raise Http404(f"{key} has no history in {environment.name}.")
    page = HistoryPage(environment, role, key)
    try:
        page.values = services.reveal_key_history(
            environment=environment, key=key, actor=Actor.from_request(request)
        )
    except Undecryptable as exc:
        page.error, page.status = exc.message, 503
    if page.values == {}:
        page.values = None
        page.error = f"{key} is or was a secret: its values are never shown."
        page.status = 409
    response = _render(request, page)
    response["Cache-Control"] = "no-store"
    return response


def _restored_notice(environment: Environment, key: str, revision: int) -> str:
    text = (
        f"{key} is back to its value at revision {revision}, as config revision "
        f"{environment.config_revision}."
    )
    live = environment.live_release
    if live is None:
        return text + f" It goes live with the first deploy to {environment.name}."
    if live.config_revision != environment.config_revision:
        return text + (
            f" {environment.name} is staged: the restore is pending until the changes are "
            "applied (or go live with the next deploy or promotion)."
        )
    return text + f" Live in release {live.number}; instances get it at their next boot."


@no_store
@require_POST
@login_required
def variable_restore(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )
    form = forms.RestoreForm(request.POST)
    if not form.is_valid():
        page = HistoryPage(environment, role, key, error="Pick a revision to restore.", status=400)
        return _render(request, page)
    revision = form.cleaned_data["revision"]
    asking = unconfirmed(
        request,
        question=f"Restore {key} in {environment.name} to its value at revision {revision}?",
        detail=(
            "The value is copied server-side as a new revision; it is not shown, and later "
            "revisions stay in the history."
        ),
        label=f"Restore revision {revision}",
        cancel_url=env_url(environment, "variable_history", key=key),
    )
    if asking:
        return asking
    try:
        services.restore_variable(
            environment=environment, key=key, revision=revision, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        page = HistoryPage(
            environment, role, key, error=exc.message, status=forms.refusal_status(exc)
        )
        return _render(request, page)
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    notice = _restored_notice(environment, key, revision)
    if request.htmx:
        return _render(request, HistoryPage(environment, role, key, notice=notice))
    messages.success(request, notice)
    return redirect(env_url(environment, "variable_history", key=key))
