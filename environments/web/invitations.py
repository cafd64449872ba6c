"""Accepting an invitation (templates/environments/invitation.html): /invitations/<secret>/.

A signed-in visitor joins with their own account (as on Railway and Render: the one-time link
is the credential, whatever address the account has); a visitor without one makes an account
(Django's password validators) and is signed in. A link used, revoked or expired says so and
names who can send a new one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import services
from ..actors import Actor
from ..errors import ServiceError
from ..models import Invitation
from ..selectors.invitations import invitation_for_link, who_grants_access
from . import forms
from .forms.invitations import NewAccountForm
from .pages import HtmxHttpRequest, deployment_url, no_store

TEMPLATE = "environments/invitation.html"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _page(
    request: HtmxHttpRequest,
    invitation: Invitation | None,
    *,
    form: NewAccountForm | None = None,
    status: int = 200,
) -> HttpResponse:
    state = invitation.state() if invitation else ""
    context = {
        "invitation": invitation,
        "state": state,
        "form": form
        or (
            NewAccountForm(email=invitation.email)
            if invitation and not request.user.is_authenticated
            else None
        ),
        "owners": who_grants_access(invitation.deployment)
        if invitation and state != "pending"
        else [],
    }
    return render(request, TEMPLATE, context, status=status)


def _unusable_status(invitation: Invitation | None) -> int:
    if invitation is None:
        return 404
    return 200 if invitation.is_pending else 410


@no_store
@login_not_required
@require_http_methods(["GET", "POST"])
def invitation(request: HtmxHttpRequest, token: str) -> HttpResponse:
    found = invitation_for_link(token)
    if found is None or not found.is_pending or request.method == "GET":
        return _page(request, found, status=_unusable_status(found))
    actor = Actor.from_request(request)
    if request.user.is_authenticated:
        try:
            accepted = services.accept_invitation(raw=token, user=request.user, actor=actor)
        except ServiceError:
            found = invitation_for_link(token)  # used or revoked meanwhile
            return _page(request, found, status=_unusable_status(found))
        user = request.user
    else:
        form = NewAccountForm(request.POST, email=found.email)
        done = forms.submit(
            form,
            lambda data: services.accept_invitation_with_new_account(
                raw=token, username=data["username"], password=data["password1"], actor=actor
            ),
        )
        if done.result is None:
            if done.status == 409 and not form.has_error("username"):
                found = invitation_for_link(token)
                return _page(request, found, status=_unusable_status(found))
            return _page(request, found, form=form, status=done.status)
        accepted = done.result
        user = accepted.membership.user
        login(request, user, backend=BACKEND)
    deployment = accepted.membership.deployment
    if accepted.already_member:
        note = f"You were already a member of {deployment.name} ({accepted.membership.role})."
    else:
        role = accepted.membership.role
        note = f"Welcome, {user.get_username()}: you joined {deployment.name} as {role}."
    messages.success(request, note)
    return redirect(deployment_url(deployment))
