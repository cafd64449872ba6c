"""POST /api/v1/deployments/:id/env/import (SPEC §10): a dotenv file (text/plain) or a JSON
object of strings, written all or nothing; `dry_run=true` answers the diff by key name."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from .. import imports, permissions, services
from ..errors import Invalid
from .auth import actor_for, authenticate_user
from .errors import ApiError, api_endpoint
from .payload import is_utf8, read_body
from .views import (
    _deployment,
    _deployment_ref,
    _environment_param,
    _live_state,
    _require,
    _written_row,
)

MEDIA_TYPES = ("text/plain", "application/json")


def _dry_run(request: HttpRequest) -> bool:
    value = request.GET.get("dry_run", "false")
    if value not in ("true", "false"):
        raise ApiError(400, "invalid", "dry_run is true or false.", field="dry_run")
    return value == "true"


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise Invalid(
                f"{name[:100]} appears twice in the object.", code="duplicate_key", field=name[:200]
            )
        members[name] = value
    return members


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _items(request: HttpRequest) -> list[imports.ImportItem]:
    if request.content_type not in MEDIA_TYPES or not is_utf8(request):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send a dotenv file as Content-Type: text/plain; charset=utf-8, or a JSON object "
            "of strings as application/json.",
        )
    body = read_body(request)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            400, "invalid_encoding", "The body is not UTF-8 text.", field="body"
        ) from None
    if request.content_type == "text/plain":
        return imports.parse_dotenv(text)
    try:
        parsed = json.loads(
            text, object_pairs_hook=_unique_members, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ApiError(
            400, "invalid_body", 'The request body must be a JSON object {"KEY": "value", …}.'
        )
    return imports.parse_object(parsed)


@api_endpoint("POST")
def import_variables(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    environment = _environment_param(request, deployment)
    _require(
        role,
        permissions.to_write_variables(environment),
        f"Importing variables into {environment.name}",
    )
    dry_run = _dry_run(request)
    items = _items(request)
    secret_keys = imports.parse_secret_keys(request.GET.getlist("secret_keys"), items)
    actor = actor_for(request, token)
    if dry_run:
        diff = services.preview_import(
            environment=environment, items=items, secret_keys=secret_keys, actor=actor
        )
        return JsonResponse(
            {
                "deployment": _deployment_ref(deployment),
                "environment": environment.name,
                "dry_run": True,
                "added": diff.added,
                "changed": diff.changed,
                "unchanged": diff.unchanged,
                "secret_keys": diff.secret_keys,
            }
        )
    _, written = services.import_variables(
        environment=environment, items=items, secret_keys=secret_keys, actor=actor
    )
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
            "variables": [
                _written_row(environment, variable, item.value)
                for (variable, _), item in zip(written, items, strict=True)
            ],
            **_live_state(environment),
        }
    )
