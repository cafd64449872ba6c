"""The caller's own personal API tokens (SPEC §12): list, create, revoke.

A token sees and revokes only its own user's tokens (another user's is a 404 like a missing
one). Only the SHA-256 of a token is stored: the raw token is answered once, by the create.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import rules, selectors, services
from ..models import ApiToken
from .endpoint import ApiRequest, api_endpoint
from .inputs import Body, Number, Text
from .rows import moment_or_none, timestamp
from .schemas import NULLABLE_TIMESTAMP, TIMESTAMP, errors, json_content, ref

TOKEN = Body(
    "ApiTokenInput",
    name=Text(
        default="",
        strip=True,
        max_length=rules.TOKEN_NAME_MAX,
        description="Left out or blank: API token.",
    ),
    # Left out, the default lifetime; null, no expiry.
    expires_in_days=Number(
        nullable=True,
        maximum=rules.TOKEN_MAX_DAYS,
        default=rules.TOKEN_DEFAULT_DAYS,
        check=rules.validate_token_lifetime,
        description="Days until the token expires; null for no expiry.",
    ),
)


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


@api_endpoint("GET", "POST", body={"POST": TOKEN})
def tokens(request: ApiRequest) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse({"tokens": [token_row(t) for t in selectors.api_tokens(request.user)]})
    created, raw = services.create_api_token(
        user=request.user,
        name=request.body["name"],
        expires_in_days=request.body["expires_in_days"],
        actor=request.actor,
    )
    # The raw token is in this one answer and stored nowhere.
    return JsonResponse({**token_row(created), "token": raw}, status=201)


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
    "NewApiToken": {
        "type": "object",
        "description": "The new token; `token` is shown in this answer only.",
        "required": [*API_TOKEN_REQUIRED, "token"],
        "additionalProperties": False,
        "properties": {
            **API_TOKEN_PROPERTIES,
            "token": {"type": "string", "pattern": "^mio_pat_[A-Za-z0-9_-]{16,200}$"},
        },
    },
    **TOKEN.component(),
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
            "summary": "Create a personal API token for the token's user, acting with their roles. "
            f"It expires in {rules.TOKEN_DEFAULT_DAYS} days unless expires_in_days says otherwise "
            f"(1 to {rules.TOKEN_MAX_DAYS}, or null for no expiry). Audited as api_token.create.",
            "requestBody": TOKEN.request_body(),
            "responses": {
                "201": json_content(ref("NewApiToken"), "Created; the token is shown this once."),
                **errors(400, 401, 413, 415, 500),
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
