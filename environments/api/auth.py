"""Bearer-token authentication: personal API tokens, the short-lived tokens an OIDC exchange
mints (SPEC §16), and runtime tokens.

Only `Authorization: Bearer <token>` counts; a browser session never authenticates an API
request. Only the SHA-256 of a token is stored, so a token is found by its hash.
"""

from __future__ import annotations

import dataclasses
import re

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from .. import selectors, services
from ..actors import Actor
from ..models import ApiToken, OidcToken, RuntimeToken
from . import ratelimit
from .errors import ApiError

_TOKEN_BODY = re.compile(r"^[A-Za-z0-9_-]{16,200}$")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="miosa"'}


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers=_CHALLENGE)


def _bearer(request: HttpRequest, prefix: str, kind: str) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "").strip()  # request.headers' Authorization
    if not header:
        raise _unauthorized(
            "not_authenticated", f"Send a {kind} in the header Authorization: Bearer <token>."
        )
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise _unauthorized(
            "invalid_token", "The Authorization header must be of the form Bearer <token>."
        )
    if not raw.startswith(prefix):
        other = RuntimeToken.PREFIX if prefix == ApiToken.PREFIX else ApiToken.PREFIX
        if raw.startswith(other):
            raise _unauthorized(
                "wrong_token_kind", f"This endpoint needs a {kind} ({prefix}…), not a {other}… one."
            )
        raise _unauthorized("invalid_token", f"That is not a {kind} ({prefix}…).")
    if not _TOKEN_BODY.match(raw[len(prefix) :]):
        raise _unauthorized("invalid_token", f"That is not a well-formed {kind}.")
    return raw


def runtime_bearer(request: HttpRequest) -> str:
    """The runtime token the request bears, not yet looked up (the runtime fetch looks it up
    itself, see runtime.runtime_environment); 401 when there is none or it is malformed."""
    return _bearer(request, RuntimeToken.PREFIX, "runtime token")


def _refuse_expired(token: ApiToken | OidcToken | RuntimeToken) -> None:
    if token.is_expired():
        raise _unauthorized(
            "token_expired",
            f"The token {token.name} expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; "
            "create a new one.",
        )


def check_runtime_token(token: RuntimeToken) -> None:
    """What a live runtime token must still pass: its expiry, then its rate limit (if a
    setting sets one). The runtime fetch calls this once it has found the token."""
    _refuse_expired(token)
    ratelimit.enforce("runtime", token.pk, settings.RUNTIME_RATE_LIMIT_PER_MINUTE)


def _bears_oidc_token(request: HttpRequest) -> bool:
    scheme, _, raw = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and raw.strip().startswith(OidcToken.PREFIX)


def authenticate_user(request: HttpRequest) -> ApiToken | OidcToken:
    """The personal API token of the request, which sets `request.user` to its user; or a
    token minted by an OIDC exchange, which acts for no user (`request.user` stays anonymous)."""
    if _bears_oidc_token(request):
        return _authenticate_oidc(request)
    raw = _bearer(request, ApiToken.PREFIX, "personal API token")
    token = selectors.live_api_token(services.hash_token(raw))
    if token is None or not token.user.is_active:
        raise _unauthorized("invalid_token", "The token is unknown or has been revoked.")
    _refuse_expired(token)
    # The token's own budget, and its user's (all their personal tokens together), at once.
    ratelimit.enforce_all(
        [
            ratelimit.Budget("api", token.pk, settings.API_RATE_LIMIT_PER_MINUTE),
            ratelimit.Budget("user", token.user_id, settings.API_RATE_LIMIT_PER_USER_PER_MINUTE),
        ]
    )
    services.touch_token(token)
    request.user = token.user
    return token


def _authenticate_oidc(request: HttpRequest) -> OidcToken:
    raw = _bearer(request, OidcToken.PREFIX, "token")
    token = selectors.live_oidc_token(services.hash_token(raw))
    if token is None:
        raise _unauthorized("invalid_token", "The token is unknown or has been revoked.")
    _refuse_expired(token)
    ratelimit.enforce("oidc", token.pk, settings.API_RATE_LIMIT_PER_MINUTE)
    services.touch_token(token)
    request.user = AnonymousUser()  # a browser session that came along does not act
    return token


def actor_for(request: HttpRequest, token: ApiToken | OidcToken | RuntimeToken) -> Actor:
    if isinstance(token, OidcToken):
        # No user acts: the subject of the ID token it was exchanged for does.
        return dataclasses.replace(Actor.from_request(request), label=token.actor_label[:200])
    return Actor.from_request(request, token_name=token.name)
