"""Invitations by email: invite, revoke, accept. Only a hash of the link's secret is stored.

Who may invite is the members rule (`permissions.TO_MANAGE_MEMBERS`, the callers' check); an
owner may invite with any role, as they may set any role on the members page. The email goes
out after the transaction commits (Django's email backend: the console locally, SMTP in
production); a link that could not be sent is given back to the inviter once, to pass on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import audit
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound
from ..models import Deployment, Invitation, Membership, Role
from .environment_writes import lock_deployment
from .tokens import hash_token

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentInvitation:
    """An invitation just made. `link` is set only when the email could not be sent: the
    inviter passes it on themselves (it is shown once, in that response)."""

    invitation: Invitation
    delivered: bool | None  # None: it goes out when the enclosing transaction commits
    link: str = ""


@dataclass(frozen=True)
class Acceptance:
    membership: Membership
    already_member: bool  # the account was a member already: its role is left as it was


def normalise_email(email: str) -> str:
    """The address as stored and compared: trimmed, the domain lower-cased (Django's rule),
    and then the whole compared case-insensitively."""
    return get_user_model().objects.normalize_email((email or "").strip())


def _send(invitation: Invitation, link: str) -> bool:
    deployment = invitation.deployment
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "An owner"
    days = Invitation.LIFETIME.days
    body = (
        f"{inviter} invited you to the deployment {deployment.name} on MIOSA Environments, "
        f"as {invitation.role}.\n\n"
        f"Accept the invitation (the link works once, for {days} days):\n{link}\n\n"
        "If you did not expect this, ignore this email: nothing happens without the link.\n"
    )
    try:
        send_mail(
            f"Join {deployment.name} on MIOSA Environments",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [invitation.email],
        )
    except Exception as exc:
        # The error class only: a message could quote the recipient or the body (the link).
        logger.warning(
            "invitation %s: the email was not sent (%s)", invitation.pk, type(exc).__name__
        )
        return False
    return True


def _create(
    *, deployment: Deployment, email: str, role: str, actor: Actor
) -> tuple[Invitation, str]:
    deployment = lock_deployment(deployment)
    now = timezone.now()
    pending = Invitation.objects.filter(
        deployment=deployment, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    if pending.filter(email__iexact=email).exists():
        raise Conflict(
            f"{email} already has a pending invitation: revoke it below to send a new one.",
            code="already_invited",
            field="email",
        )
    if Membership.objects.filter(deployment=deployment, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member.", code="already_member", field="email")
    if pending.count() >= Invitation.MAX_PENDING:
        raise Conflict(
            f"{deployment.name} has {Invitation.MAX_PENDING} pending invitations: revoke some "
            "first.",
            code="too_many_invitations",
        )
    raw = Invitation.PREFIX + secrets.token_urlsafe(32)  # 256 bits
    invitation = Invitation.objects.create(
        deployment=deployment,
        email=email,
        role=role,
        token_hash=hash_token(raw),
        invited_by=actor.user,
        expires_at=now + Invitation.LIFETIME,
    )
    audit.record(
        "member.invite",
        actor=actor,
        deployment=deployment,
        target=email,
        detail={"role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, raw


def invite_member(
    *,
    deployment: Deployment,
    email: str,
    role: str,
    actor: Actor,
    accept_url: Callable[[str], str],
) -> SentInvitation:
    """Invite `email` with `role`; the email with the link `accept_url(secret)` goes out after
    the invitation is committed (never for an invitation that was rolled back)."""
    if role not in Role.values:
        raise Invalid("The role must be viewer, developer, admin or owner.", field="role")
    email = normalise_email(email)
    if not email:
        raise Invalid("Enter an email address.", field="email")
    outcome: dict[str, bool] = {}
    with transaction.atomic(durable=True):
        invitation, raw = _create(deployment=deployment, email=email, role=role, actor=actor)
        link = accept_url(raw)
        transaction.on_commit(lambda: outcome.update(delivered=_send(invitation, link)))
    # None: an enclosing transaction (a test's) has not committed yet; the email goes then.
    delivered = outcome.get("delivered")
    return SentInvitation(invitation, delivered=delivered, link=link if delivered is False else "")


@transaction.atomic(durable=True)
def revoke_invitation(*, invitation: Invitation, actor: Actor) -> Invitation:
    deployment = lock_deployment(invitation.deployment)
    invitation = (
        Invitation.objects.select_for_update()
        .filter(pk=invitation.pk, deployment=deployment)
        .first()
    )
    if invitation is None:
        raise NotFound("That invitation no longer exists.")
    state = invitation.state()
    if state == Invitation.State.ACCEPTED:
        raise Conflict(f"{invitation.email} has already accepted.", code="invitation_accepted")
    if state == Invitation.State.REVOKED:
        return invitation
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(
        "member.invite_revoke",
        actor=actor,
        deployment=deployment,
        target=invitation.email,
        detail={"role": invitation.role},
    )
    return invitation


class InvitationUnusable(Conflict):
    """The link was used, revoked or has expired (`code` says which)."""


def _usable(raw: str) -> Invitation:
    """The invitation of `raw`, locked, or InvitationUnusable/NotFound."""
    query = Invitation.objects.select_for_update().filter(token_hash=hash_token(raw or ""))
    invitation = query.select_related("deployment").first()
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    state = invitation.state()
    if state != Invitation.State.PENDING:
        raise InvitationUnusable(f"This invitation was {state}.", code=f"invitation_{state}")
    return invitation


def _join(invitation: Invitation, user, actor: Actor) -> Acceptance:
    membership = Membership.objects.filter(deployment=invitation.deployment, user=user).first()
    already = membership is not None
    if membership is None:
        membership = Membership.objects.create(
            deployment=invitation.deployment, user=user, role=invitation.role
        )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(
        "member.invite_accept",
        actor=actor,
        deployment=invitation.deployment,
        target=user.get_username(),
        detail={
            "email": invitation.email,
            "role": membership.role,
            "already_member": already,
        },
    )
    return Acceptance(membership, already_member=already)


def _lock_for(raw: str) -> Invitation:
    """Lock order: the deployment first, then the invitation (read once unlocked to find it)."""
    found = Invitation.objects.filter(token_hash=hash_token(raw or "")).first()
    if found is None:
        raise NotFound("This invitation link is not valid.")
    lock_deployment(Deployment(pk=found.deployment_id))
    return _usable(raw)


@transaction.atomic(durable=True)
def accept_invitation(*, raw: str, user, actor: Actor) -> Acceptance:
    """The signed-in account joins (as Railway and Render do: the link is the credential,
    whatever address the account has). An account already a member keeps its role."""
    return _join(_lock_for(raw), user, actor)


@transaction.atomic(durable=True)
def accept_invitation_with_new_account(
    *, raw: str, username: str, password: str, actor: Actor
) -> Acceptance:
    """A visitor without an account: the account is made (with the invited address) and joins.
    The password has been checked against Django's validators by the form."""
    invitation = _lock_for(raw)
    users = get_user_model().objects
    if users.filter(username__iexact=username).exists():
        raise Conflict(
            "That username is taken: pick another.", code="username_taken", field="username"
        )
    try:
        with transaction.atomic():
            user = users.create_user(username=username, email=invitation.email, password=password)
    except IntegrityError:
        raise Conflict(
            "That username is taken: pick another.", code="username_taken", field="username"
        ) from None
    return _join(invitation, user, replace(actor, user=user, label=user.get_username()))
