"""The members page (templates/environments/members.html): members and their roles, pending
invitations; add by username, invite by email, remove and revoke (asked in place)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import (
    Deployment,
    Role,
)
from ..selectors.invitations import get_invitation, pending_invitations
from . import forms
from .forms.invitations import InviteForm
from .pages import HtmxHttpRequest, asked_id, deployment_tabs, deployment_url, no_store, unconfirmed

ADDED = "If that user exists, they have been added."


@dataclass(frozen=True)
class MembersPage:
    """What one response of the members page shows besides the rows."""

    status: int = 200
    form: forms.MemberForm | None = None
    invite_form: InviteForm | None = None
    error: str = ""
    removing: int | None = None  # a member's user id: "Remove …?" asked in its row
    revoking: int | None = None  # an invitation's id: "Revoke …?" asked in its row
    link: str = ""  # an invitation link the email could not carry, shown this once


def _members_page(
    request: HtmxHttpRequest, deployment: Deployment, role: str, page: MembersPage
) -> HttpResponse:
    context = deployment_tabs(deployment, role) | {
        "tab": "members",
        "memberships": selectors.members(deployment),
        "invitations": pending_invitations(deployment),
        "form": page.form or forms.MemberForm(),
        "invite_form": page.invite_form or InviteForm(),
        "roles": Role.choices,
        "error": page.error,
        "removing": page.removing,
        "revoking": page.revoking,
        "link": page.link,
        "members_url": deployment_url(deployment, "members"),
    }
    return render(request, "environments/members.html", context, status=page.status)


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
        page = MembersPage(
            removing=asked_id(request, "remove"), revoking=asked_id(request, "revoke")
        )
        return _members_page(request, deployment, role, page)
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
            # probe for accounts (SPEC §12). Information, not a success: nothing may have
            # happened; the invite form beside it reaches someone without an account.
            if user is not None:
                services.set_member(
                    deployment=deployment,
                    user=user,
                    role=form.cleaned_data["role"],
                    actor=Actor.from_request(request),
                )
            messages.info(request, ADDED)
            return redirect(deployment_url(deployment, "members"))
    return _members_page(request, deployment, role, MembersPage(status=status, form=form))


@no_store
@require_POST
@login_required
def member_role(request: HtmxHttpRequest, deployment_id: int, user_id: int) -> HttpResponse:
    deployment, role = _owner_of(request, deployment_id)
    membership = selectors.get_membership(deployment, user_id)
    form = forms.RoleForm(request.POST)
    if not form.is_valid():
        return _members_page(
            request, deployment, role, MembersPage(error="Pick a role.", status=400)
        )
    try:
        services.set_member(
            deployment=deployment,
            user=membership.user,
            role=form.cleaned_data["role"],
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        page = MembersPage(error=exc.message, status=forms.refusal_status(exc))
        return _members_page(request, deployment, role, page)
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
        page = MembersPage(error=exc.message, status=forms.refusal_status(exc))
        return _members_page(request, deployment, role, page)
    messages.success(request, f"Removed {membership.user.get_username()}.")
    if membership.user_id == request.user.pk and not request.user.is_superuser:
        return redirect("deployment_list")
    return redirect(deployment_url(deployment, "members"))


# Invitations


@no_store
@require_POST
@login_required
def member_invite(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = _owner_of(request, deployment_id)
    form = InviteForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.invite_member(
            deployment=deployment,
            email=data["email"],
            role=data["role"],
            actor=Actor.from_request(request),
            accept_url=lambda raw: request.build_absolute_uri(
                reverse("invitation", kwargs={"token": raw})
            ),
        ),
    )
    if done.result is None:
        page = MembersPage(status=done.status, invite_form=form)
        return _members_page(request, deployment, role, page)
    sent = done.result
    invitation = sent.invitation
    if sent.delivered is False:
        # The link is in no table: shown in this one response, not through a redirect.
        page = MembersPage(
            link=sent.link,
            error=f"The email to {invitation.email} could not be sent. Give them this link "
            "yourself; it works once, for 7 days.",
        )
        return _members_page(request, deployment, role, page)
    messages.success(
        request,
        f"Invited {invitation.email} as {invitation.role}: the link in the email works once, "
        f"until {invitation.expires_at:%Y-%m-%d}.",
    )
    return redirect(deployment_url(deployment, "members"))


@no_store
@require_POST
@login_required
def invitation_revoke(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    deployment, role = _owner_of(request, deployment_id)
    invitation = get_invitation(deployment, pk)
    asking = unconfirmed(
        request,
        question=f"Revoke the invitation of {invitation.email}?",
        detail="Its link stops working; you can invite them again later.",
        label="Revoke",
        cancel_url=deployment_url(deployment, "members"),
    )
    if asking:
        return asking
    try:
        services.revoke_invitation(invitation=invitation, actor=Actor.from_request(request))
    except ServiceError as exc:
        page = MembersPage(error=exc.message, status=forms.refusal_status(exc))
        return _members_page(request, deployment, role, page)
    messages.success(request, f"Revoked the invitation of {invitation.email}.")
    return redirect(deployment_url(deployment, "members"))
