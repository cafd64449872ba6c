"""The compare page (templates/environments/compare.html), and the audited comparison the
promotion confirmation shows too. The page copies keys from one side into the other (drift
fixed server-side, values never shown) and, for who may reveal, shows plain values side by
side."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, rules, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import Deployment, Environment, Role
from ..permissions import has_role
from ..selectors.drift import binding_names
from . import forms
from .forms.drift import CopyKeysForm
from .pages import Context, HtmxHttpRequest, deployment_tabs, no_store


def _may_write_both(role: str, left: Environment, right: Environment) -> bool:
    """Whether same/different on secrets and bindings may be shown (SPEC §3)."""
    return has_role(role, permissions.to_write_variables(left)) and has_role(
        role, permissions.to_write_variables(right)
    )


def compared(
    request: HtmxHttpRequest, left: Environment, right: Environment, *, role: str, via: str = ""
) -> selectors.Comparison:
    """Compare two environments, audited first (if the event cannot be written, nothing is
    compared)."""
    hide = not _may_write_both(role, left, right)
    services.record_compare(
        left=left, right=right, secrets_hidden=hide, actor=Actor.from_request(request), via=via
    )
    return selectors.compare_environments(left, right, hide_secrets=hide)


def rank(role: str) -> int:
    return Role.values.index(role)


def may_write_both(role: str, left: Environment, right: Environment) -> bool:
    """Whether keys may be copied between the two (the promotion confirmation asks too)."""
    return _may_write_both(role, left, right)


def compare_url(deployment: Deployment, left: str, right: str, *, view: str = "compare") -> str:
    query = urlencode({"left": left, "right": right})
    return reverse(view, kwargs={"deployment_id": deployment.pk}) + "?" + query


# Rows, copy and values


@dataclass(frozen=True)
class CompareRow:
    key: str
    state: str  # different, only_left, only_right, unknown, hidden, same
    copyable: bool  # may be copied from left into right (not a binding)
    left_value: str | None = None  # plain values, when shown (None: secret, binding or missing)
    right_value: str | None = None


STATES = ("different", "only_left", "only_right", "unknown", "hidden", "same")


def copyable_keys(comparison: selectors.Comparison, bound: set[str]) -> list[str]:
    """Keys of the left side that the right lacks or holds otherwise, bindings excluded."""
    keys = comparison.only_left + comparison.different + comparison.unknown
    return sorted(set(keys) - bound)


def _rows(
    comparison: selectors.Comparison,
    copyable: list[str],
    values: dict[tuple[str, str], str] | None,
) -> list[CompareRow]:
    rows = []
    left, right = comparison.left.name, comparison.right.name
    for state in STATES:
        for key in getattr(comparison, state):
            rows.append(
                CompareRow(
                    key=key,
                    state=state,
                    copyable=key in copyable,
                    left_value=values.get((left, key)) if values is not None else None,
                    right_value=values.get((right, key)) if values is not None else None,
                )
            )
    return rows


@dataclass
class ComparePage:
    """What the compare page shows: set by the view, rendered by `_render`."""

    deployment: Deployment
    role: str
    form: forms.CompareForm
    comparison: selectors.Comparison | None = None
    show_values: bool = False
    copy_form: CopyKeysForm | None = None
    confirming: list[str] | None = None  # the keys a copy asks about, before it is made
    error: str = ""
    status: int = 200


def _render(request: HtmxHttpRequest, page: ComparePage) -> HttpResponse:
    context: Context = deployment_tabs(page.deployment, page.role) | {
        "tab": "compare",
        "form": page.form,
        "comparison": page.comparison,
        "error": page.error,
        "confirming": page.confirming,
        "copy_form": page.copy_form,
    }
    c = page.comparison
    if c is not None:
        may_copy = _may_write_both(page.role, c.left, c.right)
        copyable = copyable_keys(c, binding_names(c.left)) if may_copy else []
        may_reveal = has_role(page.role, permissions.TO_REVEAL)
        values = None
        if page.show_values and may_reveal:
            shown = sorted(c.changed_keys + c.same + c.hidden)
            values = services.reveal_plain_values(
                deployment=page.deployment,
                environments=[c.left, c.right],
                keys=shown,
                actor=Actor.from_request(request),
            )
        pending = None
        if may_copy:  # what a copy into the right side left waiting, with its Apply
            pending = selectors.pending_changes(selectors.refresh_config_state(c.right))
        context |= {
            "pending": pending,
            "may_apply": has_role(page.role, permissions.to_deploy_into(c.right)),
            "rows": _rows(c, copyable, values),
            "copyable": copyable,
            "show_values": values is not None,
            "may_reveal": may_reveal,
            "values_url": compare_url(
                page.deployment, c.left.name, c.right.name, view="compare_values"
            ),
            "hide_values_url": compare_url(page.deployment, c.left.name, c.right.name),
            "copy_url": reverse("compare_copy", kwargs={"deployment_id": page.deployment.pk}),
        }
    return render(request, "environments/compare.html", context, status=page.status)


def _compare_page(request: HtmxHttpRequest, deployment_id: int, *, show_values: bool):
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    names = list(environments)
    initial = {"left": rules.STAGING, "right": rules.PRODUCTION}
    form = forms.CompareForm(request.GET or initial, environment_names=names)
    page = ComparePage(deployment, role, form, show_values=show_values)
    if form.is_valid():
        left = environments[form.cleaned_data["left"]]
        right = environments[form.cleaned_data["right"]]
        left.deployment = right.deployment = deployment
        page.comparison = compared(request, left, right, role=role)
    page.status = 200 if form.is_valid() or not request.GET else 400
    return _render(request, page)


@no_store
@require_GET
@login_required
def compare(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    return _compare_page(request, deployment_id, show_values=False)


@no_store
@require_POST
@login_required
def compare_values(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    """The comparison (its two environments in the query) with plain values side by side,
    for who may reveal: a reveal on record before anything is decrypted."""
    return _compare_page(request, deployment_id, show_values=True)


def _copied_notice(target: Environment, result: services.CopyResult) -> str:
    count = len(result.keys)
    what = f"{count} key{'s' if count != 1 else ''} ({', '.join(result.keys)[:300]})"
    text = f"Copied {what} into {target.name} as config revision {result.revision}."
    if result.pending:
        return text + f" {target.name} is staged: the copy is pending until it is applied."
    if target.live_release_id is None:
        return text + f" It goes live with the first deploy to {target.name}."
    return text + " It is live; instances get it at their next boot."


@no_store
@require_POST
@login_required
def compare_copy(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    """Copy the picked keys from the left environment into the right: asks first, in place,
    listing them; then one config revision of the right (pending when it is staged)."""
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    names = list(environments)
    pair = forms.CompareForm(request.POST, environment_names=names)
    if not pair.is_valid():
        page = ComparePage(deployment, role, pair, status=400)
        return _render(request, page)
    left = environments[pair.cleaned_data["left"]]
    right = environments[pair.cleaned_data["right"]]
    left.deployment = right.deployment = deployment
    if not _may_write_both(role, left, right):
        need = max(
            permissions.to_write_variables(left), permissions.to_write_variables(right), key=rank
        )
        raise PermissionDenied(
            f"Copying from {left.name} into {right.name} needs the {need} role or higher."
        )
    # What may be copied now (without another compare event: the copy is its own event).
    comparison = selectors.compare_environments(left, right)
    copyable = copyable_keys(comparison, binding_names(left))
    form = CopyKeysForm(request.POST, environment_names=names, copyable=copyable)
    page = ComparePage(deployment, role, pair, comparison=comparison, copy_form=form)
    if not form.is_valid():
        page.status = 400
        page.error = (
            form.errors.get("keys", ["Pick keys to copy."])[0]
            if "keys" in form.errors
            else "The copy form was incomplete; try again."
        )
        if "keys" in form.errors and request.POST.getlist("keys"):
            page.error = (
                "Some of those keys can no longer be copied (they changed meanwhile, or are "
                "bindings). Review the comparison and pick again."
            )
        return _render(request, page)
    keys = form.cleaned_data["keys"]
    if not form.cleaned_data["confirmed"]:
        page.confirming = keys
        return _render(request, page)
    try:
        result = services.copy_keys(
            source=left, target=right, keys=keys, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        page.error, page.status = exc.message, forms.refusal_status(exc)
        return _render(request, page)
    messages.success(request, _copied_notice(right, result))
    return redirect(compare_url(deployment, left.name, right.name) + "#copy")
