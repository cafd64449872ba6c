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
    401: "No token, or an unknown, revoked, malformed or wrong-kind token; code token_expired "
    "for a token past its expiry.",
    403: "The token's user has a role too low for this.",
    404: "No such deployment (or not visible to this token), environment, variable, release "
    "or revision.",
    409: "Conflict: a secret cannot become plain; a key clashes with a binding; nothing to "
    "apply, a stale expected_revision, nothing deployed yet, a release already live, or a "
    "release that would lack a required key (missing_required_keys, naming them).",
    413: "Too large: the body (over 1 MiB), a value (32 KiB), or the environment's values "
    "(64 KiB, 500 keys).",
    415: "The body is not application/json.",
    429: "The token made more requests this minute than its rate limit allows (code "
    "rate_limited); Retry-After says in how many seconds the minute ends.",
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
                                "required": [
                                    "name",
                                    "version",
                                    "promotes_to",
                                    "release",
                                    "pending",
                                ],
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
                                    "release": {
                                        "type": ["integer", "null"],
                                        "minimum": 1,
                                        "description": "The live release's number; null "
                                        "before the first deploy.",
                                    },
                                    "pending": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "description": "How many keys were added, changed or "
                                        "removed since the live release and wait for an "
                                        "apply (staged environments).",
                                    },
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
        "required": ["deployment", "environment", "version", "release", "config_revision", "env"],
        "additionalProperties": False,
        "properties": {
            "deployment": {"type": "string"},
            "environment": ENVIRONMENT_NAME,
            "version": {"type": ["integer", "null"], "minimum": 1},
            "release": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The live release; null before the first deploy.",
            },
            "config_revision": {
                "type": "integer",
                "minimum": 1,
                "description": "The config revision served: the live release's (the current "
                "one before the first deploy).",
            },
            "env": {
                "type": "object",
                "description": "Every variable, secret and binding of the live release, raw, "
                "plus MIOSA_DEPLOYMENT, MIOSA_ENVIRONMENT, MIOSA_VERSION and MIOSA_RELEASE "
                "(while a version is deployed) and MIOSA_DOMAINS (comma-separated, when the "
                "environment has domains).",
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

DEPLOYMENT_REF = {
    "type": "object",
    "required": ["id", "name"],
    "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
NUMBER = {"type": "integer", "minimum": 1}
LIVE_STATE = {
    "pending": {
        "type": "boolean",
        "description": "True when the environment stages its config changes and this write "
        "is not live yet: it waits for an apply, a deploy or a promotion.",
    },
    "live_release": {
        "type": ["integer", "null"],
        "minimum": 1,
        "description": "The live release after the write (a new one when the environment "
        "takes changes live immediately); null before the first deploy.",
    },
}

SCHEMAS.update(
    {
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
                        "allOf": [_ref("VariableRow")],
                        "properties": {"value": False},
                    },
                },
                **LIVE_STATE,
            },
        },
        "Release": {
            "type": "object",
            "description": "A version and a config revision, live together (SPEC §9). "
            "Releases are never edited or deleted.",
            "required": [
                "environment",
                "number",
                "version",
                "config_revision",
                "kind",
                "actor",
                "created_at",
            ],
            "additionalProperties": False,
            "properties": {
                "environment": ENVIRONMENT_NAME,
                "number": {**NUMBER, "description": "1, 2, 3… per environment."},
                "version": NUMBER,
                "config_revision": NUMBER,
                "kind": {"enum": ["deploy", "promote", "rollback", "apply", "config"]},
                "actor": {"type": "string"},
                "created_at": TIMESTAMP,
                "rollback_of": {
                    **NUMBER,
                    "description": "For a rollback: the release it went back to.",
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "rollback"}}},
                    "then": {"required": ["rollback_of"], "properties": {"rollback_of": NUMBER}},
                    "else": {"properties": {"rollback_of": False}},
                }
            ],
        },
        "ReleaseList": {
            "type": "object",
            "required": ["deployment", "environment", "releases", "next"],
            "additionalProperties": False,
            "properties": {
                "deployment": DEPLOYMENT_REF,
                "environment": ENVIRONMENT_NAME,
                "releases": {
                    "type": "array",
                    "description": "Newest first.",
                    "items": _ref("Release"),
                },
                "next": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "Pass it as `before` for the next (older) page; null on "
                    "the last page.",
                },
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
        "RequiredKeys": {
            "type": "object",
            "required": ["deployment", "keys"],
            "additionalProperties": False,
            "properties": {
                "deployment": DEPLOYMENT_REF,
                "keys": {
                    "type": "array",
                    "items": VARIABLE_KEY,
                    "description": "Sorted, each once.",
                },
            },
        },
        "ApplyInput": {
            "type": "object",
            "required": ["environment"],
            "additionalProperties": False,
            "properties": {
                "environment": ENVIRONMENT_NAME,
                "expected_revision": {
                    **NUMBER,
                    "description": "The config revision you reviewed; if the environment has "
                    "moved on, 409 stale and nothing goes live.",
                },
            },
        },
        "RollbackInput": {
            "type": "object",
            "required": ["environment", "release"],
            "additionalProperties": False,
            "properties": {
                "environment": ENVIRONMENT_NAME,
                "release": {**NUMBER, "description": "That environment's release number."},
                "config": {
                    "enum": ["restore", "keep"],
                    "default": "restore",
                    "description": "restore: the release's version and its configuration; "
                    "keep: its version with the current configuration.",
                },
            },
        },
        "RestoreInput": {
            "type": "object",
            "required": ["environment", "revision"],
            "additionalProperties": False,
            "properties": {
                "environment": ENVIRONMENT_NAME,
                "revision": {
                    **NUMBER,
                    "description": "The config revision whose value comes back (as a new "
                    "revision); a secret is restored without being shown.",
                },
            },
        },
        "RequiredKeysInput": {
            "type": "object",
            "required": ["keys"],
            "additionalProperties": False,
            "properties": {"keys": {"type": "array", "items": INPUT_KEY}},
        },
    }
)

DEPLOYMENT_ID = {
    "name": "deployment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
ENVIRONMENT_QUERY = {
    "name": "environment",
    "in": "query",
    "required": True,
    "schema": ENVIRONMENT_NAME,
}
PENDING_HEADER = {
    "description": "true when the environment stages its config changes and the change "
    "waits for an apply, a deploy or a promotion; false when it is live.",
    "schema": {"enum": ["true", "false"]},
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


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
                    "200": _json(_ref("WrittenVariables"), "Replaced, or a batch written."),
                    "201": _json(_ref("WrittenVariables"), "Created."),
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
                    "204": {
                        "description": "Deleted. No body: the header says whether the deletion "
                        "waits for an apply.",
                        "headers": {"X-Miosa-Pending": PENDING_HEADER},
                    },
                    **_errors(400, 401, 403, 404, 500),
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
                    "200": _json(_ref("KeyHistory"), "The history, newest first."),
                    **_errors(400, 401, 404, 500),
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
                "requestBody": _body("RestoreInput"),
                "responses": {
                    "200": _json(_ref("WrittenVariables"), "Restored (previews only)."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500, 503),
                },
            },
        },
        "/deployments/{deployment_id}/releases": {
            "parameters": [DEPLOYMENT_ID],
            "get": {
                "operationId": "listReleases",
                "summary": "An environment's releases, newest first, a page at a time: pass the "
                "answer's `next` as `before` for the next page (null on the last one).",
                "parameters": [
                    ENVIRONMENT_QUERY,
                    {
                        "name": "before",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "Only releases numbered below this one.",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                    },
                ],
                "responses": {
                    "200": _json(_ref("ReleaseList"), "A page of releases."),
                    **_errors(400, 401, 404, 500),
                },
            },
        },
        "/deployments/{deployment_id}/apply": {
            "parameters": [DEPLOYMENT_ID],
            "post": {
                "operationId": "applyChanges",
                "summary": "Make a staged environment's pending changes live: a release of the "
                "same version with the current config revision. Production needs admin, other "
                "environments developer. Audited as release.apply.",
                "requestBody": _body("ApplyInput"),
                "responses": {
                    "201": _json(_ref("Release"), "The new live release."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
                },
            },
        },
        "/deployments/{deployment_id}/rollback": {
            "parameters": [DEPLOYMENT_ID],
            "post": {
                "operationId": "rollback",
                "summary": "Go back to an earlier release's version, with its configuration "
                "(restore, the default) or with the current one (keep): a new release; "
                "nothing is rewritten. Production needs admin, other environments developer. "
                "Audited as release.rollback.",
                "requestBody": _body("RollbackInput"),
                "responses": {
                    "201": _json(_ref("Release"), "The new live release."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
                },
            },
        },
        "/deployments/{deployment_id}/required-keys": {
            "parameters": [DEPLOYMENT_ID],
            "get": {
                "operationId": "getRequiredKeys",
                "summary": "The keys every release of the deployment must define.",
                "responses": {
                    "200": _json(_ref("RequiredKeys"), "The required keys."),
                    **_errors(400, 401, 404, 500),
                },
            },
            "put": {
                "operationId": "setRequiredKeys",
                "summary": "Replace the required keys (admin). A deploy, promotion, apply or "
                "rollback whose configuration lacks one is then refused with 409 "
                "missing_required_keys. Audited as required_keys.set.",
                "requestBody": _body("RequiredKeysInput"),
                "responses": {
                    "200": _json(_ref("RequiredKeys"), "The required keys, as stored."),
                    **_errors(400, 401, 403, 404, 413, 415, 500),
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
                        "schema": {"enum": ["json", "dotenv", "shell"], "default": "json"},
                    },
                    {
                        "name": "X-Miosa-Instance",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,100}$"},
                        "description": "The instance's id, recorded with the release it got "
                        "(else the token's name).",
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
                                    '\\", \\n and \\r; $ as it is. With format=shell: '
                                    "export KEY='value' lines, ' written as '\\'', which "
                                    "`set -a; . ./file` in any POSIX shell reads back exactly "
                                    "and without running anything.",
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


# The JSON API for CI (SPEC §10): versions, environments, deploy, promote, bindings, domains --

PAGE_PARAMETERS = [
    {
        "name": "before",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
        "description": "Only rows numbered below this one.",
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    },
]
OPTIONAL_ENVIRONMENT_QUERY = {
    "name": "environment",
    "in": "query",
    "required": False,
    "schema": ENVIRONMENT_NAME,
    "description": "Only this environment (else every one).",
}
NEXT = {
    "type": ["integer", "null"],
    "minimum": 1,
    "description": "Pass it as `before` for the next (older) page; null on the last page.",
}
NULLABLE_NUMBER = {"type": ["integer", "null"], "minimum": 1}


def _binding_schema(description: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
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


SCHEMAS.update(
    {
        "Version": {
            "type": "object",
            "description": "A build of the deployment, numbered 1, 2, 3… (never reused).",
            "required": ["number", "label", "notes", "created_at", "created_by"],
            "additionalProperties": False,
            "properties": {
                "number": NUMBER,
                "label": {"type": "string", "maxLength": 200},
                "notes": {"type": "string"},
                "created_at": TIMESTAMP,
                "created_by": {
                    "type": ["string", "null"],
                    "description": "The user who registered it; null once that user is gone.",
                },
            },
        },
        "VersionList": {
            "type": "object",
            "required": ["deployment", "versions", "next"],
            "additionalProperties": False,
            "properties": {
                "deployment": DEPLOYMENT_REF,
                "versions": {
                    "type": "array",
                    "description": "Newest first.",
                    "items": _ref("Version"),
                },
                "next": NEXT,
            },
        },
        "VersionInput": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "label": {
                    "type": "string",
                    "maxLength": 200,
                    "description": "A git ref or short sha, say; at most 200 characters.",
                },
                "notes": {
                    "type": "string",
                    "description": "At most 4 KiB (4096 bytes of UTF-8); more is a 413 "
                    "notes_too_large.",
                },
            },
        },
        "Environment": {
            "type": "object",
            "required": [
                "name",
                "promotes_to",
                "config_changes",
                "config_revision",
                "expires_at",
                "release",
                "pending",
                "created_at",
            ],
            "additionalProperties": False,
            "properties": {
                "name": ENVIRONMENT_NAME,
                "promotes_to": {"type": ["string", "null"]},
                "config_changes": {"enum": ["immediate", "staged"]},
                "config_revision": {
                    **NUMBER,
                    "description": "The current config revision (the live release may be on "
                    "an earlier one while changes are pending).",
                },
                "expires_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When expire_environments deletes it (preview/* only).",
                },
                "release": {
                    "description": "The live release; null before the first deploy.",
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["number", "version", "config_revision"],
                            "additionalProperties": False,
                            "properties": {
                                "number": NUMBER,
                                "version": NUMBER,
                                "config_revision": NUMBER,
                            },
                        },
                    ],
                },
                "pending": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many keys were added, changed or removed since the "
                    "live release and wait for an apply.",
                },
                "created_at": TIMESTAMP,
            },
        },
        "EnvironmentList": {
            "type": "object",
            "required": ["deployment", "environments"],
            "additionalProperties": False,
            "properties": {
                "deployment": DEPLOYMENT_REF,
                "environments": {
                    "type": "array",
                    "description": "production, staging, then the others by name.",
                    "items": _ref("Environment"),
                },
            },
        },
        "EnvironmentInput": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {
                    **ENVIRONMENT_NAME,
                    "maxLength": 127,
                    "description": "Lower-case letters, digits and hyphens, optionally with "
                    "one '/' part (preview/pr-42); no '..'.",
                },
                "copy_from": {
                    "type": ["string", "null"],
                    "description": "Start with a copy of this environment's variables "
                    "(secrets included: it needs the role that writes it, admin for "
                    "production). Left out: empty.",
                },
                "promotes_to": {
                    "type": ["string", "null"],
                    "description": "Default: staging for preview/*, else none.",
                },
                "config_changes": {"enum": ["immediate", "staged"], "default": "immediate"},
                "expires_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "ISO 8601 with a zone, in the future; only for preview/* "
                    "environments.",
                },
            },
        },
        "DeployInput": {
            "type": "object",
            "required": ["environment", "version"],
            "additionalProperties": False,
            "properties": {"environment": ENVIRONMENT_NAME, "version": NUMBER},
        },
        "PromoteInput": {
            "type": "object",
            "required": ["from"],
            "additionalProperties": False,
            "properties": {
                "from": ENVIRONMENT_NAME,
                "to": {
                    **ENVIRONMENT_NAME,
                    "description": "Must be `from`'s promotion target (else 409 wrong_target).",
                },
                "expected_version": {
                    **NULLABLE_NUMBER,
                    "description": "The version you believe `to` runs now (null: nothing); "
                    "if it runs another, 409 stale and nothing moves. Left out, whatever it "
                    "runs is replaced.",
                },
            },
        },
        "Binding": _binding_schema(
            "A data service binding. Never its credential: `preview` is the URL with its "
            "password (and credential-like query values) replaced by '••••'."
        ),
        "WrittenBinding": _binding_schema(
            "The created binding, masked like the list (never the URL), and whether it is live.",
            LIVE_STATE,
        ),
        "BindingList": {
            "type": "object",
            "required": ["deployment", "bindings"],
            "additionalProperties": False,
            "properties": {
                "deployment": DEPLOYMENT_REF,
                "bindings": {"type": "array", "items": _ref("Binding")},
            },
        },
        "BindingInput": {
            "type": "object",
            "required": ["environment", "kind", "url"],
            "additionalProperties": False,
            "properties": {
                "environment": ENVIRONMENT_NAME,
                "kind": {"enum": sorted(rules.BINDING_KINDS)},
                "name": {"type": "string", "maxLength": 100},
                "url": {"type": "string", "description": "The credential; never returned."},
                "variable_name": {
                    **INPUT_KEY,
                    "description": "Default: DATABASE_URL, REDIS_URL or BUCKET_URL by kind.",
                },
            },
        },
        "Domain": {
            "type": "object",
            "required": ["hostname", "environment", "created_at"],
            "additionalProperties": False,
            "properties": {
                "hostname": {"type": "string", "maxLength": 253},
                "environment": ENVIRONMENT_NAME,
                "created_at": TIMESTAMP,
            },
        },
        "WrittenDomain": {
            "type": "object",
            "required": ["hostname", "environment", "created_at", "pending", "live_release"],
            "additionalProperties": False,
            "properties": {
                "hostname": {"type": "string", "maxLength": 253},
                "environment": ENVIRONMENT_NAME,
                "created_at": TIMESTAMP,
                **LIVE_STATE,
            },
        },
        "DomainList": {
            "type": "object",
            "required": ["deployment", "domains"],
            "additionalProperties": False,
            "properties": {
                "deployment": DEPLOYMENT_REF,
                "domains": {"type": "array", "items": _ref("Domain")},
            },
        },
        "DomainInput": {
            "type": "object",
            "required": ["environment", "hostname"],
            "additionalProperties": False,
            "properties": {
                "environment": ENVIRONMENT_NAME,
                "hostname": {
                    "type": "string",
                    "description": "Lower-cased and IDNA-encoded; RFC 1123 labels, at least "
                    "one dot; the apex domain only on production.",
                },
            },
        },
    }
)


# --- G: import (SPEC §10) ------------------------------------------------------------------

SCHEMAS.update(
    {
        "ImportObject": {
            "type": "object",
            "description": 'A JSON import: `{"KEY": "value", …}`, every value a string, each '
            "key once. Mark secrets with the secret_keys query parameter.",
            "minProperties": 1,
            "propertyNames": {
                "pattern": rules.VARIABLE_KEY_RE,
                "not": {"pattern": "^[Mm][Ii][Oo][Ss][Aa]_"},
            },
            "additionalProperties": INPUT_VALUE,
        },
        "ImportDiff": {
            "type": "object",
            "description": "What the import would do, by key name only (a dry run writes "
            "nothing but its audit event). changed/unchanged compare keyed fingerprints; a "
            "plain variable that becomes a secret is changed.",
            "required": [
                "deployment",
                "environment",
                "dry_run",
                "added",
                "changed",
                "unchanged",
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
                "secret_keys": {
                    "type": "array",
                    "items": VARIABLE_KEY,
                    "description": "The imported keys that are secrets after the import "
                    "(named in secret_keys, or secrets already).",
                },
            },
        },
    }
)

DELETED_WITH_PENDING = {
    "description": "Deleted. No body: the header says whether the removal waits for an apply.",
    "headers": {"X-Miosa-Pending": PENDING_HEADER},
}

DOCUMENT["paths"].update(
    {
        "/deployments/{deployment_id}/versions": {
            "parameters": [DEPLOYMENT_ID],
            "get": {
                "operationId": "listVersions",
                "summary": "The deployment's versions, newest first, a page at a time: pass "
                "the answer's `next` as `before` for the next page.",
                "parameters": PAGE_PARAMETERS,
                "responses": {
                    "200": _json(_ref("VersionList"), "A page of versions."),
                    **_errors(400, 401, 404, 500),
                },
            },
            "post": {
                "operationId": "createVersion",
                "summary": "Register a version (developer). Audited as version.create.",
                "requestBody": _body("VersionInput"),
                "responses": {
                    "201": _json(_ref("Version"), "The new version."),
                    **_errors(400, 401, 403, 404, 413, 415, 500),
                },
            },
        },
        "/deployments/{deployment_id}/environments": {
            "parameters": [DEPLOYMENT_ID],
            "get": {
                "operationId": "listEnvironments",
                "summary": "The environments with their live release and pending count.",
                "responses": {
                    "200": _json(_ref("EnvironmentList"), "The environments."),
                    **_errors(400, 401, 404, 500),
                },
            },
            "post": {
                "operationId": "createEnvironment",
                "summary": "Create a custom environment, empty or as a copy of another one's "
                "variables (developer; copying production needs admin). 409 name_taken when "
                "the name exists, too_many_environments beyond 200. Audited as "
                "environment.create.",
                "requestBody": _body("EnvironmentInput"),
                "responses": {
                    "201": _json(_ref("Environment"), "The new environment."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500, 503),
                },
            },
        },
        "/deployments/{deployment_id}/environments/{name}": {
            "parameters": [
                DEPLOYMENT_ID,
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The environment's name; its '/' may be written as it is "
                    "(environments/preview/pr-42).",
                },
            ],
            "delete": {
                "operationId": "deleteEnvironment",
                "summary": "Delete a custom environment with its variables, bindings, domains "
                "and runtime tokens (developer). production and staging: 409 "
                "protected_environment. Audited as environment.delete.",
                "responses": {
                    "204": {"description": "Deleted."},
                    **_errors(400, 401, 403, 404, 409, 500),
                },
            },
        },
        "/deployments/{deployment_id}/deploy": {
            "parameters": [DEPLOYMENT_ID],
            "post": {
                "operationId": "deploy",
                "summary": "Make a version active in an environment: a release with the "
                "environment's current configuration (production needs admin). 409 "
                "already_active, staging_first (production takes only a version that ran in "
                "staging) or missing_required_keys. Audited as version.deploy.",
                "requestBody": _body("DeployInput"),
                "responses": {
                    "201": _json(_ref("Release"), "The new live release."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
                },
            },
        },
        "/deployments/{deployment_id}/promote": {
            "parameters": [DEPLOYMENT_ID],
            "post": {
                "operationId": "promote",
                "summary": "Copy `from`'s active version into its promotion target; the target "
                "keeps its own configuration (role as deploying into the target). 409 stale "
                "(the target no longer runs expected_version), staging_first, wrong_target, "
                "no_target, nothing_to_promote, already_active or missing_required_keys. "
                "Audited as version.promote.",
                "requestBody": _body("PromoteInput"),
                "responses": {
                    "201": _json(_ref("Release"), "The target's new live release."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
                },
            },
        },
        "/deployments/{deployment_id}/bindings": {
            "parameters": [DEPLOYMENT_ID],
            "get": {
                "operationId": "listBindings",
                "summary": "Data service bindings with masked previews; never a credential.",
                "parameters": [OPTIONAL_ENVIRONMENT_QUERY],
                "responses": {
                    "200": _json(_ref("BindingList"), "The bindings."),
                    **_errors(400, 401, 404, 500),
                },
            },
            "post": {
                "operationId": "createBinding",
                "summary": "Bind a data service (admin); the answer shows it masked, never the "
                "URL. 409 binding_exists or variable_clash. Audited as binding.create.",
                "requestBody": _body("BindingInput"),
                "responses": {
                    "201": _json(_ref("WrittenBinding"), "The binding, masked."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
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
                    **_errors(400, 401, 403, 404, 500),
                },
            },
        },
        "/deployments/{deployment_id}/domains": {
            "parameters": [DEPLOYMENT_ID],
            "get": {
                "operationId": "listDomains",
                "summary": "The domains routed to the deployment's environments.",
                "parameters": [OPTIONAL_ENVIRONMENT_QUERY],
                "responses": {
                    "200": _json(_ref("DomainList"), "The domains, by hostname."),
                    **_errors(400, 401, 404, 500),
                },
            },
            "post": {
                "operationId": "addDomain",
                "summary": "Route a hostname to an environment (admin). 409 domain_taken when "
                "it is attached anywhere (a deployment you cannot see is not named). Audited "
                "as domain.add.",
                "requestBody": _body("DomainInput"),
                "responses": {
                    "201": _json(_ref("WrittenDomain"), "The domain."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 500),
                },
            },
        },
        "/deployments/{deployment_id}/domains/{hostname}": {
            "parameters": [
                DEPLOYMENT_ID,
                {"name": "hostname", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "delete": {
                "operationId": "removeDomain",
                "summary": "Remove a domain (admin). Audited as domain.remove.",
                "responses": {
                    "204": DELETED_WITH_PENDING,
                    **_errors(400, 401, 403, 404, 500),
                },
            },
        },
    }
)

DOCUMENT["paths"]["/deployments/{deployment_id}/env/import"] = {
    "parameters": [DEPLOYMENT_ID],
    "post": {
        "operationId": "importVariables",
        "summary": "Import a dotenv file or a JSON object into one environment, all or nothing, "
        "as one config revision. Production needs admin, other environments developer. "
        "Audited as variable.import (key names and count, never values).",
        "description": "A dotenv file (text/plain; charset=utf-8) is read with python-dotenv's "
        "grammar without interpolation: `export` prefixes, single and double quotes, escapes in "
        "double quotes, comments, multi-line quoted values. A line it cannot read, a NUL, a "
        "key without '=', an invalid or reserved (MIOSA_) key or a key defined twice is a 400 "
        "naming the line (field `line N`; the line is never quoted); a value over 32 KiB a 413. "
        "Limits are those of a batch: 500 keys and 64 KiB per environment (413); a key of a "
        "binding is a 409. A key left out of secret_keys keeps its kind (a secret stays a "
        "secret; a new key is plain); a plain key named in secret_keys becomes a secret. "
        "Nothing is written on any error.",
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
                "application/json": {"schema": _ref("ImportObject")},
            },
        },
        "responses": {
            "200": {
                "description": "Imported: the written variables as the list shows them "
                "(previews only) and whether the import is live; or, with dry_run=true, the "
                "diff by key name.",
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [_ref("WrittenVariables"), _ref("ImportDiff")]}
                    }
                },
            },
            **_errors(400, 401, 403, 404, 409, 413),
            "415": _json(
                _ref("Error"),
                "The body is neither text/plain nor application/json, or not UTF-8.",
            ),
            **_errors(500),
        },
    },
}

_RUNTIME_GET = DOCUMENT["paths"]["/runtime/env"]["get"]
DOCUMENT["paths"]["/runtime/env"]["head"] = {
    "operationId": "runtimeEnvHead",
    "summary": "As GET (same status, headers, ETag, Content-Length and audit event), without "
    "a body: for checking the token or whether the live release changed.",
    "security": _RUNTIME_GET["security"],
    "parameters": _RUNTIME_GET["parameters"],
    "responses": {
        "200": {
            "description": "What GET would answer, without the body.",
            "headers": _RUNTIME_GET["responses"]["200"]["headers"],
        },
        "304": {"description": "Unchanged since the ETag in If-None-Match."},
        **{
            str(status): {"description": f"{ERROR_DESCRIPTIONS[status]} No body."}
            for status in (400, 401, 500, 503)
        },
    },
}

# --- end G ----------------------------------------------------------------------------------


# Personal API tokens and rate limits (SPEC §12) ----------------------------------------------

NULLABLE_TIMESTAMP = {**TIMESTAMP, "type": ["string", "null"]}
API_TOKEN_PROPERTIES = {
    "id": {"type": "integer", "minimum": 1},
    "name": {"type": "string", "maxLength": 100},
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
SCHEMAS.update(
    {
        "ApiToken": {
            "type": "object",
            "description": "A personal API token, without the token itself (only its hash is "
            "stored).",
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
                    "items": _ref("ApiToken"),
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
        "ApiTokenInput": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "maxLength": 100, "default": "API token"},
                "expires_in_days": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": rules.TOKEN_MAX_DAYS,
                    "default": rules.TOKEN_DEFAULT_DAYS,
                    "description": "Days until the token expires; null for no expiry.",
                },
            },
        },
    }
)
DOCUMENT["paths"]["/tokens"] = {
    "get": {
        "operationId": "listApiTokens",
        "summary": "The personal API tokens of the token's user.",
        "responses": {
            "200": _json(_ref("ApiTokenList"), "The user's tokens."),
            **_errors(400, 401, 500),
        },
    },
    "post": {
        "operationId": "createApiToken",
        "summary": "Create a personal API token for the token's user, acting with their roles. "
        "It expires in 90 days unless expires_in_days says otherwise (1 to 365, or null for no "
        "expiry). Audited as api_token.create.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("ApiTokenInput")}},
        },
        "responses": {
            "201": _json(_ref("NewApiToken"), "Created; the token is shown this once."),
            **_errors(400, 401, 413, 415, 500),
        },
    },
}
DOCUMENT["paths"]["/tokens/{token_id}"] = {
    "parameters": [
        {"name": "token_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ],
    "delete": {
        "operationId": "revokeApiToken",
        "summary": "Revoke one of the user's own personal API tokens (this one included). "
        "Audited as api_token.revoke.",
        "responses": {
            "204": {"description": "Revoked (or already revoked)."},
            **_errors(400, 401, 404, 500),
        },
    },
}

# Every operation behind a token may be answered 429 (SPEC §12): personal tokens have a limit
# per minute; runtime tokens only when RUNTIME_RATE_LIMIT_PER_MINUTE sets one.
RETRY_AFTER = {
    "description": "Seconds until the current minute's window ends.",
    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
}
DOCUMENT["components"]["responses"]["E429"]["headers"] = {"Retry-After": RETRY_AFTER}
for _item in DOCUMENT["paths"].values():
    for _method, _operation in _item.items():
        if _method == "parameters" or _operation.get("security") == []:
            continue
        if _method == "head":
            _operation["responses"]["429"] = {
                "description": f"{ERROR_DESCRIPTIONS[429]} No body.",
                "headers": {"Retry-After": RETRY_AFTER},
            }
        else:
            _operation["responses"]["429"] = {"$ref": "#/components/responses/E429"}
