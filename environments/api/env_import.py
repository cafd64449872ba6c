"""POST /api/v1/deployments/:id/env/import (SPEC §10): a dotenv file (text/plain) or a JSON
object of strings, written all or nothing; `dry_run=true` answers the diff by key name."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from .. import import_parser, permissions, rules, services
from ..errors import Invalid
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Key, Text
from .payload import is_utf8, read_body
from .rows import deployment_ref, written_variables
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    ENVIRONMENT_QUERY,
    VARIABLE_KEY,
    errors,
    json_content,
    ref,
)

MEDIA_TYPES = ("text/plain", "application/json")


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


def _items(request: HttpRequest) -> list[import_parser.ImportItem]:
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
        return import_parser.parse_dotenv(text)
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
    return import_parser.parse_object(parsed)


@api_endpoint("POST")
def import_variables(request: ApiRequest) -> HttpResponse:
    deployment = request.deployment
    environment = lookups.environment_param(request.query, deployment)
    request.require(
        permissions.to_write_variables(environment),
        f"Importing variables into {environment.name}",
    )
    dry_run = lookups.true_or_false(request.query, "dry_run")
    items = _items(request.http)
    secret_keys = import_parser.parse_secret_keys(request.query.getlist("secret_keys"), items)
    actor = request.actor
    if dry_run:
        diff = services.preview_import(
            environment=environment, items=items, secret_keys=secret_keys, actor=actor
        )
        return JsonResponse(
            {
                "deployment": deployment_ref(deployment),
                "environment": environment.name,
                "dry_run": True,
                "added": diff.added,
                "changed": diff.changed,
                "unchanged": diff.unchanged,
                "replaced": diff.replaced,
                "secret_keys": diff.secret_keys,
            }
        )
    _, written = services.import_variables(
        environment=environment, items=items, secret_keys=secret_keys, actor=actor
    )
    return JsonResponse(
        written_variables(deployment, environment, written, [item.value for item in items])
    )


# OpenAPI ----------------------------------------------------------------------------------

IMPORT_VALUE = Text(
    plain=False,
    description=f"UTF-8 text without NUL, at most {rules.MAX_VALUE_BYTES // 1024} KiB.",
)
SCHEMAS: dict[str, Any] = {
    "ImportObject": {
        "type": "object",
        "description": 'A JSON import: `{"KEY": "value", …}`, every value a string, each '
        "key once. Mark secrets with the secret_keys query parameter.",
        "minProperties": 1,
        "propertyNames": Key().schema(),
        "additionalProperties": IMPORT_VALUE.schema(),
    },
    "ImportDiff": {
        "type": "object",
        "description": "What the import would do, by key name only (a dry run writes "
        "nothing but its audit event). changed/unchanged compare keyed fingerprints of plain "
        "variables; a plain variable that becomes a secret is changed. An existing secret is "
        "replaced, whether its value is the same or not: a dry run never tells whether a "
        "value matches a secret.",
        "required": [
            "deployment",
            "environment",
            "dry_run",
            "added",
            "changed",
            "unchanged",
            "replaced",
            "secret_keys",
        ],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "environment": ENVIRONMENT_NAME,
            "dry_run": {"const": True},
            "added": {"type": "array", "items": VARIABLE_KEY},
            "changed": {"type": "array", "items": VARIABLE_KEY},
            "unchanged": {"type": "array", "items": VARIABLE_KEY},
            "replaced": {
                "type": "array",
                "items": VARIABLE_KEY,
                "description": "Existing secrets the import overwrites; never said to be "
                "changed or unchanged.",
            },
            "secret_keys": {
                "type": "array",
                "items": VARIABLE_KEY,
                "description": "The imported keys that are secrets after the import "
                "(named in secret_keys, or secrets already).",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/env/import": {
        "parameters": [DEPLOYMENT_ID],
        "post": {
            "operationId": "importVariables",
            "summary": "Import a dotenv file or a JSON object into one environment, all or "
            "nothing, as one config revision. Production needs admin, other environments "
            "developer. Audited as variable.import (key names and count, never values).",
            "description": "A dotenv file (text/plain; charset=utf-8) is read with "
            "python-dotenv's grammar without interpolation: `export` prefixes, single and double "
            "quotes, escapes in double quotes, comments, multi-line quoted values. A line it "
            "cannot read, a NUL, a key without '=', an invalid or reserved (MIOSA_) key or a key "
            "defined twice is a 400 naming the line (field `line N`; the line is never quoted); a "
            "value over 32 KiB a 413. Limits are those of a batch: 500 keys and 64 KiB per "
            "environment (413 too_many_variables, environment_too_large); an import of more "
            "than 500 keys is refused when the key over the limit is read, and a file of more "
            f"than {rules.MAX_IMPORT_LINES} lines (comments included) is a 413 too_many_lines. "
            "A key of a binding is a 409. A key left out of secret_keys keeps "
            "its kind (a secret stays a secret; a new key is plain); a plain key named in "
            "secret_keys becomes a secret. Nothing is written on any error.",
            "parameters": [
                ENVIRONMENT_QUERY,
                {
                    "name": "dry_run",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["true", "false"], "default": "false"},
                    "description": "true: answer the diff by key name and write nothing.",
                },
                {
                    "name": "secret_keys",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Comma-separated keys to store as secrets; each must be in the "
                    "import (else 400 unknown_secret_key).",
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "text/plain": {
                        "schema": {"type": "string", "description": "A dotenv file, UTF-8."}
                    },
                    "application/json": {"schema": ref("ImportObject")},
                },
            },
            "responses": {
                "200": {
                    "description": "Imported: the written variables as the list shows them "
                    "(previews only) and whether the import is live; or, with dry_run=true, the "
                    "diff by key name.",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [ref("WrittenVariables"), ref("ImportDiff")]}
                        }
                    },
                },
                **errors(400, 401, 403, 404, 409, 413),
                "415": json_content(
                    ref("Error"),
                    "The body is neither text/plain nor application/json, or not UTF-8.",
                ),
                **errors(500),
            },
        },
    },
}
