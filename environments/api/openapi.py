"""The OpenAPI 3.1 description of the JSON API, served at /api/v1/openapi.json.

Hand-written, and kept honest by tests that validate real responses of every endpoint against
these schemas (tests/api/test_openapi.py) and by a property-based fuzz (tests/api/test_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from .. import rules

TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
    "description": "ISO 8601, UTC.",
}
ENVIRONMENT_NAME = {"type": "string", "pattern": rules.ENVIRONMENT_NAME_RE}
VARIABLE_KEY = {"type": "string", "pattern": rules.VARIABLE_KEY_RE}

INPUT_KEY = {
    **VARIABLE_KEY,
    "description": "Keys starting MIOSA_ are reserved.",
    "not": {"pattern": "^[Mm][Ii][Oo][Ss][Aa]_"},
}
INPUT_VALUE = {"type": "string", "description": "UTF-8 text without NUL, at most 32 KiB."}
INPUT_IS_SECRET = {
    "type": "boolean",
    "description": "Defaults to false for a new variable; left out on an update, the variable "
    "keeps its kind; false on a secret is a 409.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/E{status}"} for status in statuses}


ERROR_DESCRIPTIONS = {
    400: "Bad input (the field is named), malformed JSON, or a token in the query string.",
    401: "No token, or an unknown, revoked, malformed or wrong-kind token.",
    403: "The token's user has a role too low for this.",
    404: "No such deployment (or not visible to this token), environment or variable.",
    409: "Conflict: a secret cannot become plain; a key clashes with a binding.",
    413: "Too large: the body (over 1 MiB), a value (32 KiB), or the environment's values "
    "(64 KiB, 500 keys).",
    415: "The body is not application/json.",
    500: "An unexpected error; the body never carries details.",
    503: "A stored value cannot be decrypted with the configured keys; nothing was returned.",
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                    "message": {"type": "string", "minLength": 1},
                    "field": {"type": "string", "minLength": 1},
                },
            }
        },
    },
    "DeploymentList": {
        "type": "object",
        "required": ["deployments"],
        "additionalProperties": False,
        "properties": {
            "deployments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "environments"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer", "minimum": 1},
                        "name": {"type": "string", "pattern": rules.DEPLOYMENT_NAME_RE},
                        "environments": {
                            "type": "array",
                            "description": "production, staging, then the others by name.",
                            "items": {
                                "type": "object",
                                "required": ["name", "version", "promotes_to"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": ENVIRONMENT_NAME,
                                    "version": {
                                        "type": ["integer", "null"],
                                        "minimum": 1,
                                        "description": "The active version; null when "
                                        "nothing is deployed.",
                                    },
                                    "promotes_to": {"type": ["string", "null"]},
                                },
                            },
                        },
                    },
                },
            }
        },
    },
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
            "source": {"enum": ["env", "binding"]},
            "updated_at": TIMESTAMP,
            "value": {"type": "string", "description": "Only with reveal=true (admins)."},
            "undecryptable": {
                "const": True,
                "description": "Present when the stored value cannot be decrypted.",
            },
        },
        # `"value": False` says "never present"; written so, each clause names what it
        # requires (Redocly's no-required-schema-properties-undefined).
        "allOf": [
            {
                "if": {"properties": {"is_secret": {"const": True}}},
                "then": {"properties": {"value": False}},
            },
            {
                "if": {"properties": {"is_secret": {"const": True}, "source": {"const": "env"}}},
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
            "variables": {"type": "array", "items": _ref("VariableRow")},
        },
    },
    "VariableInput": {
        "type": "object",
        "required": ["key", "value"],
        "additionalProperties": False,
        "properties": {"key": INPUT_KEY, "value": INPUT_VALUE, "is_secret": INPUT_IS_SECRET},
    },
    "WriteOne": {
        "type": "object",
        "required": ["environment", "key", "value"],
        "additionalProperties": False,
        "properties": {
            "environment": ENVIRONMENT_NAME,
            "key": INPUT_KEY,
            "value": INPUT_VALUE,
            "is_secret": INPUT_IS_SECRET,
        },
    },
    "WriteMany": {
        "type": "object",
        "description": "A batch, written all or nothing.",
        "required": ["environment", "variables"],
        "additionalProperties": False,
        "properties": {
            "environment": ENVIRONMENT_NAME,
            "variables": {
                "type": "array",
                "minItems": 1,
                "items": _ref("VariableInput"),
                "description": "Each key at most once in a batch: a key given twice is a 400 "
                "(code duplicate_key, field variables[i].key) and nothing is written.",
            },
        },
    },
    "RuntimeEnv": {
        "type": "object",
        "required": ["deployment", "environment", "version", "env"],
        "additionalProperties": False,
        "properties": {
            "deployment": {"type": "string"},
            "environment": ENVIRONMENT_NAME,
            "version": {"type": ["integer", "null"], "minimum": 1},
            "env": {
                "type": "object",
                "description": "Every variable, secret and binding, raw, plus MIOSA_DEPLOYMENT, "
                "MIOSA_ENVIRONMENT, MIOSA_VERSION (while a version is deployed) and "
                "MIOSA_DOMAINS (comma-separated, when the environment has domains).",
                "propertyNames": {"pattern": rules.VARIABLE_KEY_RE},
                "additionalProperties": {"type": "string"},
                "required": ["MIOSA_DEPLOYMENT", "MIOSA_ENVIRONMENT"],
                "properties": {
                    "MIOSA_DEPLOYMENT": {"type": "string"},
                    "MIOSA_ENVIRONMENT": ENVIRONMENT_NAME,
                },
            },
        },
    },
}

DEPLOYMENT_ID = {
    "name": "deployment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "MIOSA Environments API",
        "version": "1.0.0",
        "description": "Per-environment variables, write-only secrets and bindings of MIOSA "
        "deployments, and the runtime boot endpoint. Send tokens only in the header "
        "`Authorization: Bearer <token>`: a token in the query string is refused with 400. "
        'Every error is `{"error": {"code", "message", "field"?}}`; a method a path does not '
        "list is answered 405 with that body and an `Allow` header, an unknown path 404.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"apiToken": []}],
    "paths": {
        "/deployments": {
            "get": {
                "operationId": "listDeployments",
                "summary": "The deployments the token's user can see, with their environments.",
                "responses": {
                    "200": _json(_ref("DeploymentList"), "The visible deployments."),
                    **_errors(400, 401, 500),
                },
            }
        },
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
                    "200": _json(_ref("VariableList"), "The variables."),
                    **_errors(400, 401, 403, 404, 500, 503),
                },
            },
            "post": {
                "operationId": "writeVariables",
                "summary": "Upsert one variable (201 created, 200 replaced) or several at once "
                "(200, all or nothing). Production needs admin, other environments developer.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [_ref("WriteOne"), _ref("WriteMany")]}
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("VariableList"), "Replaced, or a batch written."),
                    "201": _json(_ref("VariableList"), "Created."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
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
                    "204": {"description": "Deleted."},
                    **_errors(400, 401, 403, 404, 500),
                },
            },
        },
        "/runtime/env": {
            "get": {
                "operationId": "runtimeEnv",
                "summary": "What a runtime instance gets at boot (runtime token). Every fetch "
                "is audited before anything is decrypted.",
                "security": [{"runtimeToken": []}],
                "parameters": [
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["json", "dotenv"], "default": "json"},
                    },
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The environment. Cache-Control: no-store.",
                        "headers": {
                            "ETag": {"schema": {"type": "string"}},
                            "Cache-Control": {"schema": {"const": "no-store"}},
                        },
                        "content": {
                            "application/json": {"schema": _ref("RuntimeEnv")},
                            "text/plain": {
                                "schema": {
                                    "type": "string",
                                    "description": 'With format=dotenv: KEY="value" lines; '
                                    '\\, ", newline and carriage return escaped as \\\\, '
                                    '\\", \\n and \\r; $ as it is.',
                                }
                            },
                        },
                    },
                    "304": {"description": "Unchanged since the ETag in If-None-Match."},
                    **_errors(400, 401, 500, 503),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI document."),
                    **_errors(400),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "apiToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token, mio_pat_…, acting with its user's roles.",
            },
            "runtimeToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A runtime token, mio_rt_…, scoped to one environment.",
            },
        },
        "schemas": SCHEMAS,
        "responses": {
            f"E{status}": _json(_ref("Error"), description)
            for status, description in ERROR_DESCRIPTIONS.items()
        },
    },
}
