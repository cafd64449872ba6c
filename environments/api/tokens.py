"""The caller's own personal API tokens (SPEC §12): list, create, revoke.

A token sees and revokes only its own user's tokens (another user's is a 404 like a missing
one). Only the SHA-256 of a token is stored: the raw token is answered once, by the create.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from .. import rules, selectors, services
from ..models import ApiToken
from .auth import actor_for, authenticate_user
from .errors import ApiError, api_endpoint
from .payload import read_json_object
from .views import _check_fields, timestamp

TOKEN_FIELDS = frozenset({"name", "expires_in_days"})


def _row(token: ApiToken) -> dict[str, Any]:
    def moment(value):
        return timestamp(value) if value else None

    return {
        "id": token.pk,
        "name": token.name,
        "hint": f"{token.PREFIX}{token.hint}…",
        "created_at": timestamp(token.created_at),
        "last_used_at": moment(token.last_used_at),
        "expires_at": moment(token.expires_at),
        "revoked_at": moment(token.revoked_at),
    }


def _name(body: dict[str, Any]) -> str:
    name = body.get("name", "")
    if not isinstance(name, str):
        raise ApiError(400, "invalid", "name must be a string.", field="name")
    name = name.strip()
    if len(name) > rules.TOKEN_NAME_MAX:
        raise ApiError(
            400,
            "invalid",
            f"name is at most {rules.TOKEN_NAME_MAX} characters.",
            field="name",
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid", "name must be UTF-8 text.", field="name") from None
    return name


@api_endpoint("GET", "POST")
def tokens(request: HttpRequest) -> HttpResponse:
    token = authenticate_user(request)
    if request.method == "GET":
        return JsonResponse({"tokens": [_row(t) for t in selectors.api_tokens(token.user)]})
    body = read_json_object(request)
    _check_fields(body, TOKEN_FIELDS)
    # Left out, the default lifetime; null, no expiry. The service validates the bounds.
    days = body.get("expires_in_days", rules.TOKEN_DEFAULT_DAYS)
    created, raw = services.create_api_token(
        user=token.user,
        name=_name(body),
        expires_in_days=days,
        actor=actor_for(request, token),
    )
    # The raw token is in this one answer and stored nowhere.
    return JsonResponse({**_row(created), "token": raw}, status=201)


@api_endpoint("DELETE")
def token_detail(request: HttpRequest, token_id: int) -> HttpResponse:
    token = authenticate_user(request)
    revoked = selectors.get_api_token(token.user, token_id)
    services.revoke_api_token(token=revoked, actor=actor_for(request, token))
    return HttpResponse(status=204)
