"""CI trust (SPEC §16): a deployment's OIDC trust policies, the tokens they minted, and the
live token a request presents."""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from ..models import Deployment, OidcPolicy, OidcToken
from .access import valid_id
from .environments import with_environments

_ID = re.compile(r"[1-9][0-9]{0,18}")


def deployment_named(reference: int | str) -> Deployment | None:
    """The deployment with that id (a number, or a string of digits) or name; None if none."""
    if isinstance(reference, int):
        return Deployment.objects.filter(pk=reference).first() if reference > 0 else None
    if _ID.fullmatch(reference):
        try:
            return Deployment.objects.filter(pk=valid_id(int(reference))).first()
        except Http404:
            return None
    return Deployment.objects.filter(name=reference).first()


def oidc_token_deployments(token: OidcToken) -> list[Deployment]:
    """The token's one deployment, as `deployments_for_user` lists them."""
    return with_environments(Deployment.objects.filter(pk=token.deployment_id))


def oidc_policies(deployment: Deployment) -> list[OidcPolicy]:
    return list(OidcPolicy.objects.filter(deployment=deployment).order_by("id"))


def get_oidc_policy(deployment: Deployment, pk: int) -> OidcPolicy:
    policy = get_object_or_404(OidcPolicy, deployment=deployment, pk=valid_id(pk))
    policy.deployment = deployment
    return policy


def live_oidc_tokens(deployment: Deployment) -> list[OidcToken]:
    """The minted tokens still usable (unrevoked, unexpired), newest first."""
    return list(
        OidcToken.objects.filter(
            deployment=deployment, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).order_by("-created_at", "-id")
    )


def get_oidc_token(deployment: Deployment, pk: int) -> OidcToken:
    token = get_object_or_404(OidcToken, deployment=deployment, pk=valid_id(pk))
    token.deployment = deployment
    return token


def live_oidc_token(token_hash: str) -> OidcToken | None:
    """The unrevoked minted token with that SHA-256, with its deployment."""
    return (
        OidcToken.objects.select_related("deployment")
        .filter(token_hash=token_hash, revoked_at__isnull=True)
        .first()
    )
