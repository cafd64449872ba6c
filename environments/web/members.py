"""The members page (templates/environments/members.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import (
    Deployment,
    Role,
)
from . import forms
from .pages import HtmxHttpRequest, deployment_tabs, deployment_url, no_store, unconfirmed

ADDED = "If that user exists, they have been added."


def _members_page(
    request: HtmxHttpRequest,
    deployment: Deployment,
    role: str,
    *,
    form: forms.MemberForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = deployment_tabs(deployment, role) | {
        "tab": "members",
        "memberships": selectors.members(deployment),
        "form": form or forms.MemberForm(),
        "roles": Role.choices,
        "error": error,
    }
    return render(request, "environments/members.html", context, status=status)


def _owner_of(request: HtmxHttpRequest, deployment_id: int) -> selectors.DeploymentAccess:
    return selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_MEMBERS
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def members(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = _owner_of(request, deployment_id)
    if request.method == "GET":
        return _members_page(request, deployment, role)
    form = forms.MemberForm(request.POST)
    status = 400
    if form.is_valid():
        user = selectors.find_user(form.cleaned_data["username"])
        if user is not None and selectors.is_member(deployment, user):
            # Members are listed on this page already: saying so discloses nothing.
            form.add_error("username", f"{user.get_username()} is already a member.")
            status = 409
        else:
            # One answer whether or not the username exists, so this form cannot be used to
            # probe for accounts (SPEC §12).
            if user is not None:
                services.set_member(
                    deployment=deployment,
                    user=user,
                    role=form.cleaned_data["role"],
                    actor=Actor.from_request(request),
                )
            messages.success(request, ADDED)
            return redirect(deployment_url(deployment, "members"))
    return _members_page(request, deployment, role, form=form, status=status)


@no_store
@require_POST
@login_required
def member_role(request: HtmxHttpRequest, deployment_id: int, user_id: int) -> HttpResponse:
    deployment, role = _owner_of(request, deployment_id)
    membership = selectors.get_membership(deployment, user_id)
    form = forms.RoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, deployment, role, error="Pick a role.", status=400)
    try:
        services.set_member(
            deployment=deployment,
            user=membership.user,
            role=form.cleaned_data["role"],
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        return _members_page(
            request, deployment, role, error=exc.message, status=forms.refusal_status(exc)
        )
    messages.success(
        request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}."
    )
    return redirect(deployment_url(deployment, "members"))


@no_store
@require_POST
@login_required
def member_remove(request: HtmxHttpRequest, deployment_id: int, user_id: int) -> HttpResponse:
    deployment, role = _owner_of(request, deployment_id)
    membership = selectors.get_membership(deployment, user_id)
    asking = unconfirmed(
        request,
        question=f"Remove {membership.user.get_username()} from {deployment.name}?",
        label="Remove",
        cancel_url=deployment_url(deployment, "members"),
    )
    if asking:
        return asking
    try:
        services.remove_member(
            deployment=deployment, user=membership.user, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _members_page(
            request, deployment, role, error=exc.message, status=forms.refusal_status(exc)
        )
    messages.success(request, f"Removed {membership.user.get_username()}.")
    if membership.user_id == request.user.pk and not request.user.is_superuser:
        return redirect("deployment_list")
    return redirect(deployment_url(deployment, "members"))
