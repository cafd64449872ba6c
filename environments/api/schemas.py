"""The pieces of the OpenAPI document that several resources share: references, error answers,
common properties and parameters. Each resource module holds its own paths and schemas;
openapi.py assembles them."""

from __future__ import annotations

from typing import Any

from .. import rules
from . import lookups
from .inputs import ENVIRONMENT_NAME, ref

__all__ = ["ENVIRONMENT_NAME", "ref"]

TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
    "description": "ISO 8601, UTC.",
}
NULLABLE_TIMESTAMP = {**TIMESTAMP, "type": ["string", "null"]}
VARIABLE_KEY = {"type": "string", "pattern": rules.VARIABLE_KEY_RE}
NUMBER = {"type": "integer", "minimum": 1}
NULLABLE_NUMBER = {"type": ["integer", "null"], "minimum": 1}
DEPLOYMENT_REF = {
    "type": "object",
    "required": ["id", "name"],
    "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
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
# What GET env adds to each secret's row (SPEC §14): names and counts, never a value.
SECRET_AGE = {
    "set_at": {
        **TIMESTAMP,
        "description": "Secrets (and bindings) in GET env: when the current value was "
        "written. Writing the same value again does not reset it; a value restored or set "
        "after another one counts from then.",
    },
    "instances_on_older_value": {
        "type": "integer",
        "minimum": 0,
        "description": "Secrets (and bindings) in GET env: how many live instances (seen "
        "within ROTATION_INSTANCE_WINDOW_SECONDS, default 900) booted on a release that does "
        "not hold the current value — an older value, or none (the key was absent, or the "
        "instance fetched before the first release). Compared by keyed fingerprints, so an "
        "identical value restored counts as the same. An instance that fetched without "
        "X-Miosa-Instance counts as one, named by its token. Restart them to pick it up.",
    },
    "overdue": {
        "type": "boolean",
        "description": "Secrets (and bindings) in GET env, only when the deployment sets "
        "max_secret_age_days: true when the current value is older than that.",
    },
}
SECRET_AGE_REQUIRED = ["set_at", "instances_on_older_value"]

NEXT = {
    "type": ["integer", "null"],
    "minimum": 1,
    "description": "Pass it as `before` for the next (older) page; null on the last page.",
}

# Parameters ---------------------------------------------------------------------------------

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
OPTIONAL_ENVIRONMENT_QUERY = {
    "name": "environment",
    "in": "query",
    "required": False,
    "schema": ENVIRONMENT_NAME,
    "description": "Only this environment (else every one).",
}


def page_parameters(what: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "before",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": lookups.MAX_NUMBER_PARAM},
            "description": f"Only {what} numbered below this one.",
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": lookups.MAX_PAGE,
                "default": lookups.PAGE,
            },
        },
    ]


PENDING_HEADER = {
    "description": "true when the environment stages its config changes and the change "
    "waits for an apply, a deploy or a promotion; false when it is live.",
    "schema": {"enum": ["true", "false"]},
}
DELETED_WITH_PENDING = {
    "description": "Deleted. No body: the header says whether the removal waits for an apply.",
    "headers": {"X-Miosa-Pending": PENDING_HEADER},
}

# Answers ------------------------------------------------------------------------------------


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_DESCRIPTIONS = {
    400: "Bad input (the field is named), malformed JSON, or a token in the query string.",
    401: "No token, or an unknown, revoked, malformed or wrong-kind token; code token_expired "
    "for a token past its expiry.",
    403: "The token's user has a role too low for this (or a token from an OIDC exchange would "
    "write an environment outside its policy: code environment_not_allowed).",
    404: "No such deployment (or not visible to this token), environment, variable, release "
    "or revision.",
    409: "Conflict: a secret cannot become plain; a key clashes with a binding; nothing to "
    "apply, a stale expected_revision, nothing deployed yet, a release already live, or a "
    "release that would lack a required key (missing_required_keys, naming them).",
    413: "Too large: the body (over 1 MiB), a value (32 KiB), or the environment's values "
    "(64 KiB, 500 keys).",
    415: "The body is not application/json.",
    429: "The token, or its user's personal tokens together, made more requests this minute than "
    "the rate limit allows (code rate_limited); Retry-After says in how many seconds the minute "
    "ends.",
    500: "An unexpected error; the body never carries details.",
    503: "A stored value cannot be decrypted with the configured keys; nothing was returned.",
}
RETRY_AFTER = {
    "description": "Seconds until the current minute's window ends.",
    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
}


def errors(*statuses: int) -> dict[str, Any]:
    """The error answers of an operation behind a token: those given, and 429 (SPEC §12:
    personal tokens have a limit per minute, runtime tokens when a setting sets one)."""
    return {
        str(status): {"$ref": f"#/components/responses/E{status}"}
        for status in sorted({*statuses, 429})
    }


def bodiless_errors(*statuses: int) -> dict[str, Any]:
    """Error answers of a HEAD: the status and headers, no body."""
    answers: dict[str, Any] = {
        str(status): {"description": f"{ERROR_DESCRIPTIONS[status]} No body."}
        for status in sorted({*statuses, 429})
    }
    answers["429"]["headers"] = {"Retry-After": RETRY_AFTER}
    return answers


ERROR_SCHEMA = {
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
}


def error_responses() -> dict[str, Any]:
    responses = {
        f"E{status}": json_content(ref("Error"), description)
        for status, description in ERROR_DESCRIPTIONS.items()
    }
    responses["E429"]["headers"] = {"Retry-After": RETRY_AFTER}
    return responses
