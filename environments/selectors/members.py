"""Members of a deployment."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404

from ..models import (
    Deployment,
    Membership,
)
from .access import valid_id


def get_membership(deployment: Deployment, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"),
        deployment=deployment,
        user_id=valid_id(user_id),
    )


def members(deployment: Deployment) -> list[Membership]:
    return list(
        Membership.objects.filter(deployment=deployment)
        .select_related("user")
        .order_by("user__username")
    )


def find_user(username: str):
    return get_user_model().objects.filter(username=username).first()


def is_member(deployment: Deployment, user) -> bool:
    return Membership.objects.filter(deployment=deployment, user=user).exists()
