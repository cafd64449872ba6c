"""Personal API tokens and runtime tokens; only a token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import audit, rules
from ..actors import Actor
from ..errors import Conflict, validated
from ..models import ApiToken, Environment, RuntimeToken
from .environment_writes import lock_environment


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_token(prefix: str) -> tuple[str, str, str]:
    body = secrets.token_urlsafe(32)  # 256 bits
    raw = prefix + body
    return raw, hash_token(raw), body[:4]


def _expires_at(expires_in_days: object) -> datetime | None:
    days = validated(rules.validate_token_lifetime, expires_in_days, field="expires_in_days")
    return None if days is None else timezone.now() + timedelta(days=days)


def _expiry_note(token: ApiToken | RuntimeToken) -> str:
    if token.expires_at is None:
        return " (no expiry)"
    return f" (expires {token.expires_at:%Y-%m-%d %H:%M} UTC)"


@transaction.atomic(durable=True)
def create_api_token(
    *, user, name: str, actor: Actor, expires_in_days: int | None = rules.TOKEN_DEFAULT_DAYS
) -> tuple[ApiToken, str]:
    """Create a personal API token; returns (token, raw). The raw token is never stored.

    It expires in `expires_in_days` (1 to 365; default 90), or never when that is None. A user
    holds at most ApiToken.MAX_LIVE_PER_USER live tokens (409 too_many_tokens).

    Only a signed-in session (the API tokens page) or manage.py calls this: the JSON API does
    not, since a token minting tokens would outlive and outnumber its parent."""
    expires_at = _expires_at(expires_in_days)
    # The user's row is the lock: two creates at once cannot both see 49 live tokens.
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").get()
    now = timezone.now()
    live = (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )
    if live >= ApiToken.MAX_LIVE_PER_USER:
        raise Conflict(
            f"You have {live} live personal tokens and a user may hold at most "
            f"{ApiToken.MAX_LIVE_PER_USER}: revoke one you no longer use, then create this one.",
            code="too_many_tokens",
        )
    name = (name or "").strip() or "API token"
    raw, digest, hint = new_token(ApiToken.PREFIX)
    token = ApiToken.objects.create(
        user=user,
        name=name[: rules.TOKEN_NAME_MAX],
        token_hash=digest,
        hint=hint,
        expires_at=expires_at,
    )
    audit.record(
        "api_token.create",
        actor=actor,
        target=f"{user.get_username()}: {token.name}{_expiry_note(token)}",
    )
    return token, raw


@transaction.atomic(durable=True)
def revoke_api_token(*, token: ApiToken, actor: Actor) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record("api_token.revoke", actor=actor, target=token.name)


@transaction.atomic(durable=True)
def create_runtime_token(
    *, environment: Environment, name: str, actor: Actor, expires_in_days: int | None = None
) -> tuple[RuntimeToken, str]:
    """Create a runtime token; it never expires unless `expires_in_days` (1 to 365) says so."""
    expires_at = _expires_at(expires_in_days)
    lock_environment(environment)  # a delete racing this create is a 404, not an FK error
    name = (name or "").strip() or f"{environment.name} runtime"
    raw, digest, hint = new_token(RuntimeToken.PREFIX)
    token = RuntimeToken.objects.create(
        environment=environment,
        name=name[: rules.TOKEN_NAME_MAX],
        token_hash=digest,
        hint=hint,
        created_by=actor.user,
        expires_at=expires_at,
    )
    audit.record(
        "runtime_token.create",
        actor=actor,
        environment=environment,
        target=f"{token.name}{_expiry_note(token)}",
    )
    return token, raw


@transaction.atomic(durable=True)
def revoke_runtime_token(*, token: RuntimeToken, actor: Actor) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            "runtime_token.revoke", actor=actor, environment=token.environment, target=token.name
        )


def touch_token(token: ApiToken | RuntimeToken) -> None:
    """Record use, at most once a minute per token (a cheap conditional UPDATE)."""
    now = timezone.now()
    if token.last_used_at and (now - token.last_used_at).total_seconds() < 60:
        return
    type(token).objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=60))
    ).update(last_used_at=now)
    token.last_used_at = now
