"""CI without long-lived tokens (SPEC §16): trust policies, and the exchange of a CI provider's
OIDC ID token for a short-lived `mio_oidc_…` token.

The signature is checked by joserfc with an explicit allow-list (RS256, ES256), against the
policy's pinned keys or its JWKS URL's (`oidc_jwks`). The claims are checked here, each refusal
with a fixed reason that never quotes the token (`OidcRefused`), audited as `oidc.refused`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import JoseError

from .. import audit, oidc_jwks
from ..actors import Actor
from ..errors import Invalid, ServiceError, validated
from ..models import (
    GITHUB_ISSUER,
    MAX_TTL_SECONDS,
    AuditEvent,
    Deployment,
    OidcPolicy,
    OidcToken,
    OidcUsedJti,
)
from .environment_writes import lock_deployment
from .tokens import new_token

ALGORITHMS = ("RS256", "ES256")
SKEW_SECONDS = 60
MIN_TTL_SECONDS = 60
MAX_TEXT = 500
MAX_CLAIMS = 20
# The ID token a CI provider hands out is a few KiB; anything much larger is not one.
MAX_ID_TOKEN_CHARS = 16 * 1024


class OidcRefused(ServiceError):
    """An ID token that is not exchanged; `reason` is one of REASONS' keys."""

    status = 401
    default_code = "invalid_oidc_token"

    def __init__(self, reason: str, *, subject: str | None = None) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason
        self.subject = subject  # only once the signature has verified


# What a refusal says: fixed sentences, never a part of the token.
REASONS = {
    "malformed": "The token is not a signed JWT (header.payload.signature).",
    "algorithm": "The token is not signed with RS256 or ES256 (none and HS* are never accepted).",
    "issuer": "No trust policy of this deployment has the token's issuer (iss).",
    "keys_unavailable": "The issuer's keys (its JWKS URL) cannot be read now; try again later.",
    "unknown_kid": "No key of the issuer has the token's kid, even after fetching its keys again.",
    "signature": "The token's signature does not verify with the issuer's keys.",
    "audience": "The token's audience (aud) is not that of a trust policy for its issuer.",
    "no_expiry": "The token has no expiry (exp).",
    "expired": "The token has expired (exp).",
    "not_yet_valid": "The token is not valid yet (nbf).",
    "issued_in_future": "The token was issued in the future (iat).",
    "subject": "The token's subject (sub) matches no trust policy.",
    "claims": "The token's claims do not match those the trust policy requires.",
    "environment": "The token's environment is not one of the trust policy's environments.",
    "no_jti": "The token has no jti, so it could be replayed.",
    "replayed": "This token was already exchanged (its jti was used); request a new one.",
}


# Policies ----------------------------------------------------------------------------------


# GitHub Actions' subjects start with the repository, repo:OWNER/NAME:…; a subject that does not
# name the owner literally trusts repositories of anyone on GitHub.
_GITHUB_OWNER_NAMED = re.compile(r"repo:[^*?\[/]+/")


def too_broad(issuer: str, subject: str, claims: dict[str, Any]) -> bool:
    """Whether a policy would trust any repository on the issuer: a subject every subject
    matches (`*`, `**`, `*?`), or on GitHub Actions one that leaves the owner open
    (`repo:*`), with no other claim to narrow it."""
    if claims:
        return False
    if "*" in subject and not subject.strip("*?"):
        return True
    return issuer == GITHUB_ISSUER and not _GITHUB_OWNER_NAMED.match(subject)


def _text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(f"{field} may not be empty.", field=field)
    if len(value) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid(f"{field} is at most {MAX_TEXT} printable characters.", field=field)
    return value


def _claims(claims: dict[str, Any] | None) -> dict[str, Any]:
    claims = claims or {}
    if len(claims) > MAX_CLAIMS:
        raise Invalid(f"A policy requires at most {MAX_CLAIMS} claims.", field="claims")
    for name, value in claims.items():
        if not name or len(name) > 100 or name in ("sub", "iss", "aud", "exp", "nbf", "iat", "jti"):
            raise Invalid(
                f"{name[:100] or 'A claim'} cannot be required here (the policy's own fields "
                "check sub, iss and aud; exp, nbf, iat and jti are always checked).",
                field="claims",
            )
        if not isinstance(value, str | int | bool) or (isinstance(value, str) and not value):
            raise Invalid(
                "Each claim's value is a non-empty string, a number or a boolean.", field="claims"
            )
    return claims


def _environments(deployment: Deployment, names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    if not names:
        raise Invalid("Name at least one environment.", field="environments")
    existing = set(deployment.environments.filter(name__in=names).values_list("name", flat=True))
    missing = [name for name in names if name not in existing]
    if missing:
        raise Invalid(
            f"{deployment.name} has no environment named {', '.join(missing)}.",
            field="environments",
            code="not_found",
        )
    return names


@transaction.atomic(durable=True)
def create_oidc_policy(
    *,
    deployment: Deployment,
    issuer: str,
    audience: str,
    subject: str,
    environments: list[str],
    role: str,
    ttl_seconds: int = 900,
    claims: dict[str, Any] | None = None,
    jwks: dict[str, Any] | None = None,
    jwks_url: str = "",
    actor: Actor,
) -> OidcPolicy:
    """A trust policy for the deployment (admin). A subject that matches every subject with no
    other claim is refused (400 too_broad): any repository on the issuer could deploy."""
    deployment = lock_deployment(deployment)
    issuer, audience = _text(issuer, "issuer"), _text(audience, "audience")
    subject = _text(subject, "subject")
    claims = _claims(claims)
    if too_broad(issuer, subject, claims):
        raise Invalid(
            "That subject, with no other claim, trusts repositories of anyone on the issuer: "
            "name the repository (repo:acme/shop:…), or require a claim such as "
            "repository_id.",
            code="too_broad",
            field="subject",
        )
    if role not in OidcPolicy.TokenRole.values:
        raise Invalid("role is developer or admin.", field="role")
    if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
        raise Invalid(
            f"ttl_seconds is from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS}.", field="ttl_seconds"
        )
    if jwks is None and not jwks_url:
        raise Invalid("Give the issuer's keys: jwks (pinned), jwks_url, or both.", field="jwks")
    if jwks is not None:
        jwks = validated(oidc_jwks.public_document, jwks, field="jwks")
    if jwks_url:
        jwks_url = validated(oidc_jwks.validate_jwks_url, jwks_url, field="jwks_url")
    policy = OidcPolicy.objects.create(
        deployment=deployment,
        issuer=issuer,
        audience=audience,
        subject=subject,
        claims=claims,
        environments=_environments(deployment, environments),
        role=role,
        ttl_seconds=ttl_seconds,
        jwks=jwks,
        jwks_url=jwks_url,
        created_by=actor.user,
    )
    audit.record(
        "oidc.policy_create",
        actor=actor,
        deployment=deployment,
        target=f"{issuer} {subject}",
        detail=_policy_detail(policy),
    )
    return policy


def _policy_detail(policy: OidcPolicy) -> dict[str, Any]:
    return {
        "policy": policy.pk,
        "issuer": policy.issuer,
        "audience": policy.audience,
        "subject": policy.subject,
        "claims": sorted(policy.claims),
        "environments": policy.environments,
        "role": policy.role,
        "ttl_seconds": policy.ttl_seconds,
    }


@transaction.atomic(durable=True)
def delete_oidc_policy(*, policy: OidcPolicy, actor: Actor) -> None:
    """Delete the policy; the tokens it minted that are still live are revoked with it."""
    deployment = lock_deployment(policy.deployment)
    revoked = OidcToken.objects.filter(policy=policy, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit.record(
        "oidc.policy_delete",
        actor=actor,
        deployment=deployment,
        target=f"{policy.issuer} {policy.subject}",
        detail=_policy_detail(policy) | {"tokens_revoked": revoked},
    )
    policy.delete()


@transaction.atomic(durable=True)
def revoke_oidc_token(*, token: OidcToken, actor: Actor) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            "oidc.token_revoke",
            actor=actor,
            deployment=token.deployment,
            target=token.actor_label,
        )


# The exchange ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Minted:
    token: OidcToken
    raw: str  # shown once, to the caller of the exchange


def exchange_oidc_token(
    *, deployment: Deployment | None, id_token: str, actor: Actor, now: datetime | None = None
) -> Minted:
    """Check the ID token against the deployment's trust policies and mint a token with the
    matching policy's role and environments, until the earlier of its ttl and the ID token's
    exp. `deployment` None (none by that id or name) is refused like one without a policy.
    Refusals are audited (`oidc.refused`, its reason, never the token) and raised as
    OidcRefused."""
    now = now or timezone.now()
    try:
        policy, claims = _verify(deployment, id_token, now)
        return _mint(deployment=deployment, policy=policy, claims=claims, actor=actor, now=now)
    except OidcRefused as refused:
        _record_refusal(refused, deployment=deployment, actor=actor)
        raise


def _verify(
    deployment: Deployment | None, id_token: str, now: datetime
) -> tuple[OidcPolicy, dict[str, Any]]:
    """The policy the ID token matches, and its claims, once every check has passed."""
    header, unverified = _unverified(id_token)
    if header.get("alg") not in ALGORITHMS:
        raise OidcRefused("algorithm")
    issuer = unverified.get("iss")
    candidates = [
        policy
        for policy in (deployment.oidc_policies.all() if deployment else [])
        if isinstance(issuer, str) and policy.issuer == issuer
    ]
    if not candidates:
        raise OidcRefused("issuer")
    claims, verified = _verified(id_token, header, candidates)
    try:
        _check_times(claims, now)
        return _choose_policy(verified, claims), claims
    except OidcRefused as refused:
        # The signature verified: the subject may be put on record.
        sub = claims.get("sub")
        refused.subject = sub if isinstance(sub, str) else None
        raise


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims as the token states them, before any check (to find the policy
    and key); malformed tokens are refused here."""
    if not isinstance(id_token, str) or len(id_token) > MAX_ID_TOKEN_CHARS:
        raise OidcRefused("malformed")
    try:
        compact = jws.extract_compact(id_token.encode("ascii"))
        header = compact.headers()
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise OidcRefused("malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OidcRefused("malformed")
    return header, claims


def _verified(
    id_token: str, header: dict[str, Any], candidates: list[OidcPolicy]
) -> tuple[dict[str, Any], list[OidcPolicy]]:
    """The token's claims, checked against each candidate policy's keys, and the policies whose
    keys verify it. The first reason a candidate fails is the refusal when none verifies."""
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    verified: list[OidcPolicy] = []
    claims: dict[str, Any] = {}
    reason = None
    for policy in candidates:
        try:
            key = oidc_jwks.key_for(pinned=policy.jwks, url=policy.jwks_url, kid=kid)
        except (oidc_jwks.JwksError, ValidationError):
            reason = reason or "keys_unavailable"
            continue
        if key is None:
            reason = reason or "unknown_kid"
            continue
        try:
            token = jwt.decode(id_token, key, algorithms=[header["alg"]])
        except (JoseError, ValueError, TypeError):
            reason = reason or "signature"
            continue
        claims = token.claims
        verified.append(policy)
    if not verified:
        raise OidcRefused(reason or "signature")
    return claims, verified


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _check_times(claims: dict[str, Any], now: datetime) -> None:
    moment = now.timestamp()
    exp = _number(claims.get("exp"))
    if exp is None:
        raise OidcRefused("no_expiry")
    if exp + SKEW_SECONDS <= moment:
        raise OidcRefused("expired")
    nbf = _number(claims.get("nbf"))
    if "nbf" in claims and (nbf is None or nbf - SKEW_SECONDS > moment):
        raise OidcRefused("not_yet_valid")
    iat = _number(claims.get("iat"))
    if "iat" in claims and (iat is None or iat - SKEW_SECONDS > moment):
        raise OidcRefused("issued_in_future")


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def _choose_policy(policies: list[OidcPolicy], claims: dict[str, Any]) -> OidcPolicy:
    """The first policy (oldest) the token's aud, sub, claims and environment match."""
    audiences = _audiences(claims)
    policies = [p for p in policies if p.audience in audiences]
    if not policies:
        raise OidcRefused("audience")
    sub = claims.get("sub")
    policies = [p for p in policies if isinstance(sub, str) and _subject_matches(p.subject, sub)]
    if not policies:
        raise OidcRefused("subject")
    policies = [p for p in policies if _claims_match(p.claims, claims)]
    if not policies:
        raise OidcRefused("claims")
    environment = claims.get("environment")
    if environment is not None:
        policies = [p for p in policies if environment in p.environments]
        if not policies:
            raise OidcRefused("environment")
    return policies[0]


def _subject_matches(pattern: str, subject: str) -> bool:
    """Exact, or a glob: `*` any run of characters, `?` one (fnmatch, case-sensitive)."""
    if not any(c in pattern for c in "*?["):
        return pattern == subject
    return fnmatch.fnmatchcase(subject, pattern)


def _claims_match(required: dict[str, Any], claims: dict[str, Any]) -> bool:
    for name, value in required.items():
        got = claims.get(name)
        # Exact, and of the same JSON type (true is not 1, "1" is not 1).
        if type(got) is not type(value) or got != value:
            return False
    return True


def _mint(
    *,
    deployment: Deployment,
    policy: OidcPolicy,
    claims: dict[str, Any],
    actor: Actor,
    now: datetime,
) -> Minted:
    subject = claims["sub"]
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise OidcRefused("no_jti", subject=subject)
    exp = datetime.fromtimestamp(_number(claims["exp"]), UTC)
    expires_at = min(now + timedelta(seconds=policy.ttl_seconds), exp)
    try:
        with transaction.atomic(durable=True):
            OidcUsedJti.objects.filter(expires_at__lt=now).delete()
            OidcUsedJti.objects.create(
                issuer=policy.issuer, jti=jti, expires_at=exp + timedelta(seconds=SKEW_SECONDS)
            )
            raw, digest, hint = new_token(OidcToken.PREFIX)
            token = OidcToken.objects.create(
                deployment=deployment,
                policy=policy,
                issuer=policy.issuer,
                subject=subject[:500],
                role=policy.role,
                environments=list(policy.environments),
                name=f"oidc {subject}"[:100],
                token_hash=digest,
                hint=hint,
                expires_at=expires_at,
            )
            audit.record(
                "oidc.exchange",
                actor=dataclasses.replace(actor, label=token.actor_label),
                deployment=deployment,
                target=subject,
                detail={
                    "policy": policy.pk,
                    "issuer": policy.issuer,
                    "role": token.role,
                    "environments": token.environments,
                    "expires_at": audit.stamp(expires_at),
                },
            )
    except IntegrityError:
        raise OidcRefused("replayed", subject=subject) from None
    return Minted(token=token, raw=raw)


def _record_refusal(refused: OidcRefused, *, deployment: Deployment | None, actor: Actor) -> None:
    """On record in its own transaction (the refusal raises after it). The subject is named
    only once the token's signature verified; nothing else of the token is kept."""
    label = f"oidc {refused.subject}" if refused.subject else "oidc (unverified token)"
    with transaction.atomic(durable=True):
        audit.record(
            "oidc.refused",
            actor=dataclasses.replace(actor, label=label),
            deployment=deployment,
            target=refused.reason,
            outcome=AuditEvent.Outcome.DENIED,
            detail={"reason": refused.reason},
        )
