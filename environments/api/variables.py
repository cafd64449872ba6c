"""Variables and secrets of an environment (SPEC §4): list (reveal for admins), write one or a
batch, delete, a key's history and restoring an earlier value."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Flag, Items, Key, Name, Number, OneOf, Text
from .rows import deleted, deployment_ref, live_state, timestamp, variable_row, written_variables
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    ENVIRONMENT_QUERY,
    KEY,
    LIVE_STATE,
    NUMBER,
    PENDING_HEADER,
    SECRET_AGE,
    SECRET_AGE_REQUIRED,
    TIMESTAMP,
    VARIABLE_KEY,
    errors,
    json_content,
    ref,
)

# Request bodies ---------------------------------------------------------------------------


def _value() -> Text:
    return Text(
        plain=False,
        description=f"UTF-8 text without NUL, at most {rules.MAX_VALUE_BYTES // 1024} KiB "
        "(more is a 413).",
    )


def _is_secret() -> Flag:
    return Flag(
        required=False,
        description="Defaults to false for a new variable; left out on an update, the "
        "variable keeps its kind; false on a secret is a 409.",
    )


VARIABLE = Body("VariableInput", key=Key(), value=_value(), is_secret=_is_secret())
WRITE_ONE = Body("WriteOne", environment=Name(), key=Key(), value=_value(), is_secret=_is_secret())


def _too_many(pointer: str) -> ApiError:
    # Every key of a batch counts towards the environment's limit: more is refused before
    # any item is read or any variable looked up.
    limit = rules.MAX_KEYS_PER_ENVIRONMENT
    return ApiError(
        413,
        "too_many_variables",
        f"The batch has more than {limit} variables; an environment holds at most {limit} "
        "variables and bindings.",
        field=pointer,
    )


WRITE_MANY = Body(
    "WriteMany",
    description="A batch, written all or nothing.",
    environment=Name(),
    variables=Items(
        VARIABLE,
        message="variables must be a non-empty list of objects.",
        limit=rules.MAX_KEYS_PER_ENVIRONMENT,
        too_many=_too_many,
        description="Each key at most once in a batch: a key given twice is a 400 (code "
        "duplicate_key, field variables[i].key) and nothing is written. More than "
        f"{rules.MAX_KEYS_PER_ENVIRONMENT} items is a 413 (too_many_variables) before any "
        "is read.",
    ),
)
WRITE = OneOf("variables", then=WRITE_MANY, otherwise=WRITE_ONE)
RESTORE = Body(
    "RestoreInput",
    environment=Name(),
    revision=Number(
        description="The config revision whose value comes back (as a new revision); a "
        "secret is restored without being shown."
    ),
)


# Listing and writing ------------------------------------------------------------------------


@api_endpoint("GET", "POST", body={"POST": WRITE})
def environment_variables(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        return _write_variables(request)
    return _list_variables(request)


def _list_variables(request: ApiRequest) -> HttpResponse:
    deployment = request.deployment
    reveal = lookups.true_or_false(request.query, "reveal")
    environments = lookups.environments_param(request.query, deployment)
    environment = environments[0] if request.query.get("environment") is not None else None
    if reveal:
        request.require(permissions.TO_REVEAL, "Revealing values")
    rows = selectors.variable_rows(environments)
    ages = selectors.secret_ages(deployment, environments)
    items = [variable_row(row, ages.get((row.environment, row.key))) for row in rows]
    if reveal:
        plain = [row for row in rows if row.source in ("env", "group") and not row.is_secret]
        keys = [row.key if environment else f"{row.environment}/{row.key}" for row in plain]
        values = services.reveal_plain_values(
            deployment=deployment,
            environments=environments,
            environment=environment,
            keys=keys,
            actor=request.actor,
        )
        for item in items:
            value = values.get((item["environment"], item["key"]))
            if item["source"] in ("env", "group") and not item["is_secret"] and value is not None:
                item["value"] = value
    return JsonResponse({"deployment": deployment_ref(deployment), "variables": items})


def _write_variables(request: ApiRequest) -> HttpResponse:
    body, deployment = request.body, request.deployment
    environment = lookups.environment(deployment, body["environment"])
    request.require(
        permissions.to_write_variables(environment), f"Writing variables in {environment.name}"
    )
    if "variables" not in body:
        variable, created = services.set_variable(
            environment=environment,
            key=body["key"],
            value=body["value"],
            is_secret=body.get("is_secret"),
            actor=request.actor,
        )
        answer = written_variables(deployment, environment, [(variable, created)], [body["value"]])
        return JsonResponse(answer, status=201 if created else 200)
    items = [
        services.VariableInput(
            key=item["key"], value=item["value"], is_secret=item.get("is_secret")
        )
        for item in body["variables"]
    ]
    written = services.set_variables(environment=environment, items=items, actor=request.actor)
    return JsonResponse(
        written_variables(deployment, environment, written, [item.value for item in items])
    )


# One key: delete, history, restore ----------------------------------------------------------


@api_endpoint("DELETE")
def variable_detail(request: ApiRequest, key: str) -> HttpResponse:
    environment = lookups.environment_param(request.query, request.deployment)
    request.require(
        permissions.to_write_variables(environment), f"Deleting variables in {environment.name}"
    )
    key = lookups.variable_key(environment, key)
    services.delete_variable(environment=environment, key=key, actor=request.actor)
    return deleted(environment)


@api_endpoint("GET")
def variable_history(request: ApiRequest, key: str) -> HttpResponse:
    environment = lookups.environment_param(request.query, request.deployment)
    key = lookups.variable_key(environment, key)
    rows = selectors.key_history(environment, key)
    if not rows:
        raise ApiError(
            404, "not_found", f"{key} has never been set in {environment.name}.", field="key"
        )
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "environment": environment.name,
            "key": key,
            "history": [
                {
                    "revision": row.revision,
                    "action": row.action,
                    "is_secret": row.is_secret,
                    "source": row.source,
                    "actor": row.by,
                    "at": timestamp(row.at),
                    "same_as": row.same_as,
                    "restorable": row.restorable,
                }
                for row in rows
            ],
        }
    )


@api_endpoint("POST", body={"POST": RESTORE})
def variable_restore(request: ApiRequest, key: str) -> HttpResponse:
    environment = lookups.environment(request.deployment, request.body["environment"])
    request.require(
        permissions.to_write_variables(environment), f"Restoring variables in {environment.name}"
    )
    key = lookups.variable_key(environment, key)
    services.restore_variable(
        environment=environment, key=key, revision=request.body["revision"], actor=request.actor
    )
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "variables": [variable_row(selectors.variable_row(environment, key))],
            **live_state(environment),
        }
    )


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "VariableRow": {
        "type": "object",
        "description": "A variable, secret or binding. `value` only with reveal=true, and "
        "only for plain variables; secrets and bindings never carry one.",
        "required": ["environment", "key", "preview", "is_secret", "source", "updated_at"],
        "additionalProperties": False,
        "properties": {
            "environment": ENVIRONMENT_NAME,
            "key": VARIABLE_KEY,
            "preview": {
                "type": ["string", "null"],
                "description": "A plain value itself up to 8 characters, else its first 8 "
                "followed by '…'; '••••' for every secret; a binding's URL with its password "
                "replaced by '••••'; null when the stored value cannot be decrypted.",
            },
            "is_secret": {"type": "boolean"},
            "source": {
                "enum": ["env", "binding", "group"],
                "description": "env: the environment's own variable; binding: a data service "
                "binding; group: a key of a linked shared group (SPEC §19).",
            },
            "group": {
                "type": "string",
                "description": "The shared group the value comes from.",
            },
            "resolved": {
                "const": True,
                "description": "Present when the preview (and value) is resolved from a group "
                "or through references; a variable that references a secret is a secret.",
            },
            "updated_at": TIMESTAMP,
            "value": {"type": "string", "description": "Only with reveal=true (admins)."},
            "undecryptable": {
                "const": True,
                "description": "Present when the stored value cannot be decrypted.",
            },
            "managed": {
                "const": True,
                "description": "Present on a binding MIOSA manages for a data service.",
            },
            **SECRET_AGE,
        },
        # `"value": False` says "never present"; written so, each clause names what it
        # requires (Redocly's no-required-schema-properties-undefined).
        "allOf": [
            {
                "if": {"properties": {"is_secret": {"const": True}}},
                "then": {"properties": {"value": False}},
            },
            {
                "if": {
                    "properties": {
                        "is_secret": {"const": True},
                        "source": {"enum": ["env", "group"]},
                    }
                },
                "then": {"properties": {"preview": {"enum": [rules.SECRET_PREVIEW, None]}}},
            },
            {
                "if": {"properties": {"preview": {"const": None}}},
                "then": {
                    "required": ["undecryptable"],
                    "properties": {"undecryptable": {"const": True}, "value": False},
                },
                "else": {"properties": {"undecryptable": False}},
            },
            {
                "if": {"properties": {"source": {"const": "binding"}}},
                "then": {"properties": {"is_secret": {"const": True}}},
            },
            {
                "if": {"properties": {"is_secret": {"const": False}}},
                "then": {"properties": dict.fromkeys(SECRET_AGE, False)},
            },
        ],
    },
    "VariableList": {
        "type": "object",
        "required": ["deployment", "variables"],
        "additionalProperties": False,
        "properties": {
            "deployment": {
                "type": "object",
                "required": ["id", "name"],
                "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            },
            "variables": {
                "type": "array",
                "items": {
                    "allOf": [ref("VariableRow")],
                    "description": "A secret's or binding's row carries set_at and "
                    "instances_on_older_value (and overdue when the deployment sets "
                    "max_secret_age_days); a plain variable's carries none of them, nor "
                    "need a resolved one (SPEC §19).",
                    "if": {
                        "properties": {"is_secret": {"const": True}},
                        "not": {
                            "required": ["resolved"],
                            "properties": {"resolved": {"const": True}},
                        },
                    },
                    "then": {"required": SECRET_AGE_REQUIRED, "properties": SECRET_AGE},
                },
            },
        },
    },
    "WrittenVariables": {
        "type": "object",
        "description": "The written variables as the list shows them (previews only), "
        "and whether the write is live.",
        "required": ["deployment", "variables", "pending", "live_release"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "variables": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "allOf": [ref("VariableRow")],
                    "properties": {"value": False},
                },
            },
            **LIVE_STATE,
        },
    },
    "KeyHistory": {
        "type": "object",
        "description": "A key's history, newest first. Never a value or a preview: "
        "`same_as` compares keyed fingerprints.",
        "required": ["deployment", "environment", "key", "history"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "environment": ENVIRONMENT_NAME,
            "key": VARIABLE_KEY,
            "history": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": [
                        "revision",
                        "action",
                        "is_secret",
                        "source",
                        "actor",
                        "at",
                        "same_as",
                        "restorable",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "revision": {
                            **NUMBER,
                            "description": "The config revision of the change.",
                        },
                        "action": {"enum": ["set", "deleted"]},
                        "is_secret": {"type": "boolean"},
                        "source": {"enum": ["env", "binding"]},
                        "actor": {"type": "string"},
                        "at": TIMESTAMP,
                        "same_as": {
                            "type": ["integer", "null"],
                            "minimum": 1,
                            "description": "An earlier revision that set the same value.",
                        },
                        "restorable": {
                            "type": "boolean",
                            "description": "A variable's earlier value, which restore "
                            "can bring back (not a deletion, not the current value).",
                        },
                    },
                },
            },
        },
    },
    **WRITE.component(),
    **RESTORE.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/env": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listVariables",
            "summary": "Variables, secrets and bindings with previews; reveal=true adds "
            "the values of plain variables (admins only, audited).",
            "parameters": [
                {
                    "name": "environment",
                    "in": "query",
                    "required": False,
                    "schema": ENVIRONMENT_NAME,
                    "description": "Only this environment (else every one).",
                },
                {
                    "name": "reveal",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["true", "false"], "default": "false"},
                },
            ],
            "responses": {
                "200": json_content(ref("VariableList"), "The variables."),
                **errors(400, 401, 403, 404, 500, 503),
            },
        },
        "post": {
            "operationId": "writeVariables",
            "summary": "Upsert one variable (201 created, 200 replaced) or several at once "
            "(200, all or nothing). Production needs admin, other environments developer.",
            "requestBody": WRITE.request_body(),
            "responses": {
                "200": json_content(ref("WrittenVariables"), "Replaced, or a batch written."),
                "201": json_content(ref("WrittenVariables"), "Created."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/env/{key}": {
        "parameters": [
            DEPLOYMENT_ID,
            {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "delete": {
            "operationId": "deleteVariable",
            "summary": "Delete a variable or secret from one environment (a binding's key is "
            "a 404 here). Production needs admin, other environments developer.",
            "parameters": [
                {
                    "name": "environment",
                    "in": "query",
                    "required": True,
                    "schema": ENVIRONMENT_NAME,
                }
            ],
            "responses": {
                "204": {
                    "description": "Deleted. No body: the header says whether the deletion "
                    "waits for an apply.",
                    "headers": {"X-Miosa-Pending": PENDING_HEADER},
                },
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    "/deployments/{deployment_id}/env/{key}/history": {
        "parameters": [DEPLOYMENT_ID, KEY],
        "get": {
            "operationId": "variableHistory",
            "summary": "The key's history in one environment: revision, set or deleted, "
            "secret or not, who, when, and which earlier revision had the same value. "
            "Never a value.",
            "parameters": [ENVIRONMENT_QUERY],
            "responses": {
                "200": json_content(ref("KeyHistory"), "The history, newest first."),
                **errors(400, 401, 404, 500),
            },
        },
    },
    "/deployments/{deployment_id}/env/{key}/restore": {
        "parameters": [DEPLOYMENT_ID, KEY],
        "post": {
            "operationId": "restoreVariable",
            "summary": "Set the variable back to the value it had at a config revision, "
            "as a new revision; a secret comes back a secret, never shown. Production "
            "needs admin, other environments developer. Audited as variable.restore.",
            "requestBody": RESTORE.request_body(),
            "responses": {
                "200": json_content(ref("WrittenVariables"), "Restored (previews only)."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500, 503),
            },
        },
    },
}
