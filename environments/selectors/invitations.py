"""Invitations: a deployment's pending ones, one by id, one by its link's secret."""

from __future__ import annotations

import hashlib

from django.shortcuts import get_object_or_404
from django.utils import timezone

from ..models import Deployment, Invitation, Membership, Role
from .access import valid_id


def pending_invitations(deployment: Deployment) -> list[Invitation]:
    """Not accepted, revoked or expired; newest first, with who invited (one query)."""
    return list(
        Invitation.objects.filter(
            deployment=deployment,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def get_invitation(deployment: Deployment, pk: int) -> Invitation:
    return get_object_or_404(
        Invitation.objects.select_related("deployment"), deployment=deployment, pk=valid_id(pk)
    )


def invitation_for_link(raw: str) -> Invitation | None:
    """The invitation a link's secret belongs to, whatever its state; None if none does."""
    return (
        Invitation.objects.filter(
            token_hash=hashlib.sha256((raw or "").encode("utf-8")).hexdigest()
        )
        .select_related("deployment", "invited_by")
        .first()
    )


def who_grants_access(deployment: Deployment | int) -> list[str]:
    """The usernames of the deployment's owners: the people who add members and change roles
    (`permissions.TO_MANAGE_MEMBERS`), named on a refusal and on a link that no longer works."""
    deployment_id = deployment if isinstance(deployment, int) else deployment.pk
    return list(
        Membership.objects.filter(deployment_id=deployment_id, role=Role.OWNER)
        .order_by("user__username")
        .values_list("user__username", flat=True)[:5]
    )


def who_grants_access_for(user, deployment_id: object) -> tuple[str, list[str]] | None:
    """(deployment name, owners) for a 403 on a deployment's page, when `user` is a member of
    it (an outsider gets 404s, never names); else None."""
    if not isinstance(deployment_id, int) or user is None or not user.is_authenticated:
        return None
    membership = (
        Membership.objects.filter(deployment_id=deployment_id, user=user)
        .select_related("deployment")
        .first()
    )
    if membership is None:
        return None
    return membership.deployment.name, who_grants_access(deployment_id)
