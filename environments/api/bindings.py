"""Data service bindings (SPEC §10): a credential URL stored as a secret variable, shown masked
and never returned."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .inputs import Body, Choice, Key, Name, Text
from .rows import deleted, deployment_ref, live_state, timestamp
from .schemas import (
    DELETED_WITH_PENDING,
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    LIVE_STATE,
    NUMBER,
    OPTIONAL_ENVIRONMENT_QUERY,
    TIMESTAMP,
    VARIABLE_KEY,
    errors,
    json_content,
    ref,
)

BINDING = Body(
    "BindingInput",
    environment=Name(),
    kind=Choice(rules.BINDING_KINDS, check=rules.validate_binding_kind, example="postgres"),
    name=Text(
        default="",
        states={"maxLength": 100},
        description="Default: the deployment's name and the kind (shop-postgres).",
    ),
    url=Text(
        states={"minLength": 1},
        example="postgres://app:secret@db.internal:5432/app",
        description="The credential; never returned. Its scheme must suit the kind: "
        + "; ".join(
            f"{kind}: {', '.join(spec.schemes)}" for kind, spec in rules.BINDING_KINDS.items()
        )
        + ". Special characters in the user name and password are percent-encoded ('@' as "
        "%40): a URL that parsers would read differently is a 400 invalid_binding_url.",
    ),
    variable_name=Key(
        default="",
        states={"pattern": f"^$|{rules.VARIABLE_KEY_RE}"},
        description="Left out or empty: "
        + ", ".join(f"{spec.variable_name} ({kind})" for kind, spec in rules.BINDING_KINDS.items())
        + ".",
    ),
)


def binding_row(row: selectors.VariableRow) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row.pk,
        "environment": row.environment,
        "kind": row.kind,
        "name": row.binding_name,
        "variable_name": row.key,
        "preview": row.preview,
        "is_secret": True,
        "updated_at": timestamp(row.updated_at),
    }
    if row.undecryptable:
        item["undecryptable"] = True
    if row.managed:
        item["managed"] = True
    return item


@api_endpoint(
    "GET",
    "POST",
    body={"POST": BINDING},
    need={"POST": (permissions.TO_MANAGE_BINDINGS, "Creating bindings")},
)
def bindings(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        body = request.body
        environment = lookups.environment(request.deployment, body["environment"])
        binding = services.create_binding(
            environment=environment,
            kind=body["kind"],
            name=body["name"],
            url=body["url"],
            variable_name=body["variable_name"],
            actor=request.actor,
        )
        binding.environment = environment
        return JsonResponse(
            binding_row(selectors.binding_row(binding)) | live_state(environment), status=201
        )
    rows = selectors.binding_rows(lookups.environments_param(request.query, request.deployment))
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "bindings": [binding_row(row) for row in rows],
        }
    )


@api_endpoint("DELETE", need={"DELETE": (permissions.TO_MANAGE_BINDINGS, "Deleting bindings")})
def binding_detail(request: ApiRequest, binding_id: int) -> HttpResponse:
    binding = selectors.deployment_binding(request.deployment, binding_id)
    services.delete_binding(binding=binding, actor=request.actor)
    return deleted(binding.environment)


# OpenAPI ----------------------------------------------------------------------------------


MANAGED = {
    "const": True,
    "description": "Present on the binding of a data service MIOSA manages (its URL cannot "
    "be edited; destroy or detach the data service instead).",
}


def binding_schema(description: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    extra = extra or {}
    return {
        "type": "object",
        "description": description,
        "required": [
            "id",
            "environment",
            "kind",
            "name",
            "variable_name",
            "preview",
            "is_secret",
            "updated_at",
            *extra,
        ],
        "additionalProperties": False,
        "properties": {
            "id": NUMBER,
            "environment": ENVIRONMENT_NAME,
            "kind": {"enum": sorted(rules.BINDING_KINDS)},
            "name": {"type": "string"},
            "variable_name": VARIABLE_KEY,
            "preview": {
                "type": ["string", "null"],
                "description": "null when the stored credential cannot be decrypted.",
            },
            "is_secret": {"const": True},
            "updated_at": TIMESTAMP,
            "undecryptable": {"const": True},
            "managed": MANAGED,
            **extra,
        },
        "allOf": [
            {
                "if": {"properties": {"preview": {"const": None}}},
                "then": {
                    "required": ["undecryptable"],
                    "properties": {"undecryptable": {"const": True}},
                },
                "else": {"properties": {"undecryptable": False}},
            }
        ],
    }


SCHEMAS: dict[str, Any] = {
    "Binding": binding_schema(
        "A data service binding. Never its credential: `preview` is the URL with its "
        "password (and credential-like query values) replaced by '••••'."
    ),
    "WrittenBinding": binding_schema(
        "The created binding, masked like the list (never the URL), and whether it is live.",
        LIVE_STATE,
    ),
    "BindingList": {
        "type": "object",
        "required": ["deployment", "bindings"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "bindings": {"type": "array", "items": ref("Binding")},
        },
    },
    **BINDING.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/bindings": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listBindings",
            "summary": "Data service bindings with masked previews; never a credential.",
            "parameters": [OPTIONAL_ENVIRONMENT_QUERY],
            "responses": {
                "200": json_content(ref("BindingList"), "The bindings."),
                **errors(400, 401, 404, 500),
            },
        },
        "post": {
            "operationId": "createBinding",
            "summary": "Bind a data service (admin); the answer shows it masked, never the "
            "URL. 409 binding_exists or variable_clash. Audited as binding.create.",
            "requestBody": BINDING.request_body(),
            "responses": {
                "201": json_content(ref("WrittenBinding"), "The binding, masked."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/bindings/{binding_id}": {
        "parameters": [
            DEPLOYMENT_ID,
            {
                "name": "binding_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            },
        ],
        "delete": {
            "operationId": "deleteBinding",
            "summary": "Remove a binding (admin). Audited as binding.delete.",
            "responses": {
                "204": DELETED_WITH_PENDING,
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
}
