"""The caller's own personal API tokens (SPEC §12): list and revoke.

A token sees and revokes only its own user's tokens (another user's is a 404 like a missing
one). A token never creates one: new tokens come from a signed-in session (the API tokens page,
/account/tokens/) or manage.py create_api_token. A token that could mint tokens would outlive
(a 1-day token making permanent ones, surviving its revocation) and outnumber (a rate budget
each) the one it came from, so POST answers 403 session_required.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import rules, selectors, services
from ..models import ApiToken
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .rows import moment_or_none, timestamp
from .schemas import NULLABLE_TIMESTAMP, TIMESTAMP, errors, json_content, ref

# Where new personal tokens are made (web/urls.py: api_tokens).
TOKENS_PAGE = "/account/tokens/"


def token_row(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "hint": f"{token.PREFIX}{token.hint}…",
        "created_at": timestamp(token.created_at),
        "last_used_at": moment_or_none(token.last_used_at),
        "expires_at": moment_or_none(token.expires_at),
        "revoked_at": moment_or_none(token.revoked_at),
    }


@api_endpoint("GET", "POST")
def tokens(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        raise ApiError(
            403,
            "session_required",
            f"Personal API tokens are created on the API tokens page ({TOKENS_PAGE}), signed "
            "in, or with manage.py create_api_token; a token cannot create tokens. With a "
            "token you can list (GET) and revoke (DELETE) them.",
        )
    return JsonResponse({"tokens": [token_row(t) for t in selectors.api_tokens(request.user)]})


@api_endpoint("DELETE")
def token_detail(request: ApiRequest, token_id: int) -> HttpResponse:
    revoked = selectors.get_api_token(request.user, token_id)
    services.revoke_api_token(token=revoked, actor=request.actor)
    return HttpResponse(status=204)


# OpenAPI ----------------------------------------------------------------------------------

API_TOKEN_PROPERTIES = {
    "id": {"type": "integer", "minimum": 1},
    "name": {"type": "string", "maxLength": rules.TOKEN_NAME_MAX},
    "hint": {
        "type": "string",
        "pattern": "^mio_pat_.{4}…$",
        "description": "The prefix and the first 4 characters, to tell tokens apart.",
    },
    "created_at": TIMESTAMP,
    "last_used_at": {**NULLABLE_TIMESTAMP, "description": "Updated at most once a minute."},
    "expires_at": {**NULLABLE_TIMESTAMP, "description": "null: the token never expires."},
    "revoked_at": NULLABLE_TIMESTAMP,
}
API_TOKEN_REQUIRED = list(API_TOKEN_PROPERTIES)

SCHEMAS: dict[str, Any] = {
    "ApiToken": {
        "type": "object",
        "description": "A personal API token, without the token itself (only its hash is stored).",
        "required": API_TOKEN_REQUIRED,
        "additionalProperties": False,
        "properties": API_TOKEN_PROPERTIES,
    },
    "ApiTokenList": {
        "type": "object",
        "required": ["tokens"],
        "additionalProperties": False,
        "properties": {
            "tokens": {
                "type": "array",
                "description": "Newest first, revoked ones included.",
                "items": ref("ApiToken"),
            }
        },
    },
}

PATHS: dict[str, Any] = {
    "/tokens": {
        "get": {
            "operationId": "listApiTokens",
            "summary": "The personal API tokens of the token's user.",
            "responses": {
                "200": json_content(ref("ApiTokenList"), "The user's tokens."),
                **errors(400, 401, 500),
            },
        },
        "post": {
            "operationId": "createApiToken",
            "summary": "Refused: a token cannot create tokens (403 session_required). New personal "
            f"tokens are created signed in, on the API tokens page ({TOKENS_PAGE}), or with "
            "manage.py create_api_token; a user holds at most "
            f"{ApiToken.MAX_LIVE_PER_USER} live ones. The request body is not read.",
            "responses": {
                "403": json_content(
                    ref("Error"),
                    "Always, with code session_required: only a signed-in session creates "
                    "personal tokens.",
                ),
                **errors(400, 401, 500),
            },
        },
    },
    "/tokens/{token_id}": {
        "parameters": [
            {"name": "token_id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ],
        "delete": {
            "operationId": "revokeApiToken",
            "summary": "Revoke one of the user's own personal API tokens (this one included). "
            "Audited as api_token.revoke.",
            "responses": {
                "204": {"description": "Revoked (or already revoked)."},
                **errors(400, 401, 404, 500),
            },
        },
    },
}
