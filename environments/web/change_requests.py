"""Change requests for protected environments (SPEC §15): the review page (what the release
would change, who asked and why, the reviews; approve, reject, apply, break-glass, cancel and
"request again" in place), the deployment's list, an environment's protection, and what the
release pages show when a release became a request."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import ChangeRequest, Environment
from ..permissions import has_role
from .forms import refusal_status
from .forms.change_requests import ApplyRequestForm, ReasonForm, ReviewForm
from .pages import Context, HtmxHttpRequest, deployment_tabs, no_store, template_for

TEMPLATE = "environments/change_requests/detail.html"


def request_url(request: ChangeRequest) -> str:
    return reverse(
        "change_request", kwargs={"deployment_id": request.deployment_id, "pk": request.pk}
    )


def reason_from(request: HtmxHttpRequest) -> str:
    """The optional reason a release form sent along (invalid: none)."""
    form = ReasonForm(request.POST)
    return form.cleaned_data["reason"] if form.is_valid() else ""


def request_title(change: ChangeRequest) -> str:
    """ "Request to promote v18 to production", and likewise for the other kinds."""
    environment, version = change.environment.name, change.version.number
    if change.kind == ChangeRequest.Kind.APPLY:
        return f"Request to apply pending changes to {environment}"
    if change.kind == ChangeRequest.Kind.ROLLBACK:
        return f"Request to roll {environment} back to release {change.rollback_of} (v{version})"
    return f"Request to {change.kind} v{version} to {environment}"


def may_release(role: str, environment: Environment) -> bool:
    return has_role(role, permissions.to_deploy_into(environment))


def opened(request: HtmxHttpRequest, change_request: ChangeRequest) -> HttpResponse:
    """Where a release page goes when the release became a request: its review page."""
    verb = ChangeRequest.Kind(change_request.kind).label.lower()
    messages.success(
        request,
        f"{change_request.environment.name} is protected: request {change_request.pk} "
        f"({verb} of v{change_request.version.number}) waits for "
        f"{change_request.required_approvals} approval"
        f"{'s' if change_request.required_approvals != 1 else ''}.",
    )
    url = request_url(change_request)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# The review page ------------------------------------------------------------------------------


@dataclass
class ReviewPage:
    """What the review page shows; `revealed` holds plain values after an audited reveal."""

    change_request: ChangeRequest
    role: str
    notice: str = ""
    error: str = ""
    status: int = 200
    revealed: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    break_glass_form: ApplyRequestForm | None = None


def _render(request: HtmxHttpRequest, page: ReviewPage, partial: str | None = "review"):
    change = page.change_request
    role = page.role
    user = request.user
    is_author = change.author_id is not None and change.author_id == user.pk
    diff = selectors.request_diff(change)
    protection = selectors.protection_of(change.environment)
    count = selectors.approval_count(change)
    is_open = change.is_open
    reviewed = any(r.reviewer_id == user.pk for r in change.reviews.all())
    context: Context = deployment_tabs(change.environment.deployment, role) | {
        "tab": "pipeline",
        "change": change,
        "title": request_title(change),
        "diff": diff,
        "approved": count,
        "enough": count >= change.required_approvals,
        "can_review": is_open
        and not reviewed
        and has_role(role, permissions.TO_REVIEW_CHANGES)
        and (change.allow_self_approval or not is_author),
        "can_reject": is_open and not reviewed and has_role(role, permissions.TO_REVIEW_CHANGES),
        "can_apply": is_open and has_role(role, permissions.TO_REVIEW_CHANGES),
        "can_break_glass": is_open
        and has_role(role, permissions.TO_BREAK_GLASS)
        and (protection is None or not protection.is_on or protection.break_glass),
        "can_cancel": is_open and (is_author or has_role(role, permissions.TO_PROTECT)),
        "can_request_again": not is_open
        and change.state != ChangeRequest.State.APPLIED
        and has_role(role, permissions.TO_REQUEST_CHANGES),
        "can_reveal": has_role(role, permissions.TO_REVEAL)
        and bool(selectors.revealable_keys(diff)),
        "revealed": page.revealed,
        "review_form": ReviewForm(),
        "break_glass_form": page.break_glass_form or ApplyRequestForm(),
        "notice": page.notice,
        "error": page.error,
    }
    template = template_for(request, TEMPLATE, partial)
    return render(request, template, context, status=page.status)


def _access(request: HtmxHttpRequest, deployment_id: int, pk: int, *, need: str):
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id, need=need)
    return selectors.get_change_request(deployment, pk), role


@no_store
@require_GET
@login_required
def change_request_detail(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    change, role = _access(request, deployment_id, pk, need=permissions.Role.VIEWER)
    return _render(request, ReviewPage(change, role), partial=None)


def _after(
    request: HtmxHttpRequest,
    deployment_id: int,
    pk: int,
    role: str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    break_glass_form: ApplyRequestForm | None = None,
) -> HttpResponse:
    """The review region afresh (htmx), or the page again (a redirect, or the refusal)."""
    change, _ = _access(request, deployment_id, pk, need=permissions.Role.VIEWER)
    if request.htmx or error:
        page = ReviewPage(change, role, notice, error, status, break_glass_form=break_glass_form)
        return _render(request, page, partial="review" if request.htmx else None)
    messages.success(request, notice)
    return redirect(request_url(change))


@no_store
@require_POST
@login_required
def change_request_review(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    """Approve or reject, with an optional comment."""
    change, role = _access(request, deployment_id, pk, need=permissions.TO_REVIEW_CHANGES)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _after(request, deployment_id, pk, role, error="Approve or reject.", status=400)
    decision, comment = form.cleaned_data["decision"], form.cleaned_data["comment"]
    review = (
        services.approve_change_request if decision == "approve" else services.reject_change_request
    )
    try:
        review(change_request=change, actor=Actor.from_request(request), comment=comment)
    except ServiceError as exc:
        return _after(
            request, deployment_id, pk, role, error=exc.message, status=refusal_status(exc)
        )
    notice = "Approved." if decision == "approve" else "Rejected: nothing goes live."
    return _after(request, deployment_id, pk, role, notice=notice)


@no_store
@require_POST
@login_required
def change_request_apply(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    """Make the release; with break-glass (owners), without the approvals."""
    change, role = _access(request, deployment_id, pk, need=permissions.TO_REVIEW_CHANGES)
    form = ApplyRequestForm(request.POST)
    if not form.is_valid():
        message = "; ".join(e for errors in form.errors.values() for e in errors)
        return _after(
            request, deployment_id, pk, role, error=message, status=400, break_glass_form=form
        )
    break_glass = form.cleaned_data["break_glass"]
    if break_glass and not has_role(role, permissions.TO_BREAK_GLASS):
        raise PermissionDenied("Break-glass is for owners.")
    try:
        applied = services.apply_change_request(
            change_request=change,
            actor=Actor.from_request(request),
            break_glass=break_glass,
            reason=form.cleaned_data["reason"],
        )
    except ServiceError as exc:
        return _after(
            request, deployment_id, pk, role, error=exc.message, status=refusal_status(exc)
        )
    release = applied.release
    notice = (
        f"Applied: {change.environment.name} runs release {release.number} · "
        f"v{release.version.number} · config {release.config_revision}."
    )
    return _after(request, deployment_id, pk, role, notice=notice)


@no_store
@require_POST
@login_required
def change_request_cancel(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    change, role = _access(request, deployment_id, pk, need=permissions.TO_REQUEST_CHANGES)
    is_author = change.author_id is not None and change.author_id == request.user.pk
    if not is_author and not has_role(role, permissions.TO_PROTECT):
        raise PermissionDenied("Only its author or an owner may cancel a request.")
    try:
        services.cancel_change_request(change_request=change, actor=Actor.from_request(request))
    except ServiceError as exc:
        return _after(
            request, deployment_id, pk, role, error=exc.message, status=refusal_status(exc)
        )
    return _after(request, deployment_id, pk, role, notice="Cancelled: nothing goes live.")


@no_store
@require_POST
@login_required
def change_request_again(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    """Request the same release again, from the environment's current state."""
    change, role = _access(request, deployment_id, pk, need=permissions.TO_REQUEST_CHANGES)
    try:
        new = services.request_again(change_request=change, actor=Actor.from_request(request))
    except (ServiceError, PermissionDenied) as exc:
        message = getattr(exc, "message", None) or str(exc)
        return _after(request, deployment_id, pk, role, error=message, status=409)
    new.environment = change.environment
    return opened(request, new)


@no_store
@require_POST
@login_required
def change_request_reveal(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    """The plain values the release would change, before and after (admins; audited)."""
    change, role = _access(request, deployment_id, pk, need=permissions.TO_REVEAL)
    keys = selectors.revealable_keys(selectors.request_diff(change))
    try:
        revealed = services.reveal_change_values(
            change_request=change, keys=keys, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _after(
            request, deployment_id, pk, role, error=exc.message, status=refusal_status(exc)
        )
    page = ReviewPage(change, role, revealed=revealed)
    return _render(request, page, partial="changes" if request.htmx else None)


# The deployment's requests ----------------------------------------------------------------------


@no_store
@require_GET
@login_required
def change_request_list(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    state = request.GET.get("state") or None
    if state not in ChangeRequest.State.values:
        state = None
    rows = selectors.change_requests(deployment, state=state)
    context = deployment_tabs(deployment, role) | {
        "tab": "pipeline",
        "rows": [(r, selectors.approval_count(r)) for r in rows],
        "state": state or "",
        "states": ChangeRequest.State.choices,
    }
    return render(request, "environments/change_requests/list.html", context)
