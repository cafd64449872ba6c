"""Who may do what on a deployment: members and their roles."""

from __future__ import annotations

from django.db import transaction

from .. import audit
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound
from ..models import Deployment, Membership, Role
from .environment_writes import lock_deployment


def _owners_left(deployment: Deployment, *, excluding_user_id: int) -> int:
    return (
        Membership.objects.filter(deployment=deployment, role=Role.OWNER)
        .exclude(user_id=excluding_user_id)
        .count()
    )


@transaction.atomic
def set_member(*, deployment: Deployment, user, role: str, actor: Actor) -> Membership:
    """Add a member or change their role."""
    if role not in Role.values:
        raise Invalid("The role must be viewer, developer, admin or owner.", field="role")
    deployment = lock_deployment(deployment)
    membership = Membership.objects.filter(deployment=deployment, user=user).first()
    if membership is None:
        membership = Membership.objects.create(deployment=deployment, user=user, role=role)
        audit.record(
            "member.add",
            actor=actor,
            deployment=deployment,
            target=user.get_username(),
            detail={"role": role},
        )
        return membership
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and not _owners_left(deployment, excluding_user_id=user.pk)
    ):
        raise Conflict(
            "A deployment needs at least one owner; make someone else owner first.",
            code="last_owner",
            field="role",
        )
    if membership.role != role:
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            "member.change_role",
            actor=actor,
            deployment=deployment,
            target=user.get_username(),
            detail={"from": before, "to": role},
        )
    return membership


@transaction.atomic(durable=True)
def remove_member(*, deployment: Deployment, user, actor: Actor) -> None:
    deployment = lock_deployment(deployment)
    membership = Membership.objects.filter(deployment=deployment, user=user).first()
    if membership is None:
        raise NotFound(f"{user.get_username()} is not a member of {deployment.name}.")
    if membership.role == Role.OWNER and not _owners_left(deployment, excluding_user_id=user.pk):
        raise Conflict(
            "A deployment needs at least one owner; make someone else owner first.",
            code="last_owner",
        )
    audit.record("member.remove", actor=actor, deployment=deployment, target=user.get_username())
    membership.delete()
