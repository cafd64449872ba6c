"""The runtime fetch (SPEC §4, §9, §11): what a runtime instance gets at boot, with its runtime
token, as JSON, a dotenv file or a shell script.

A whole fleet fetches its environment at boot, at once. `GET /api/v1/runtime/env` is a
bearer-token endpoint: no cookie, session, CSRF token, message, user or htmx header means
anything to it. RuntimeFetchMiddleware, right after SecurityMiddleware (HTTPS redirect, HSTS,
nosniff, referrer and opener policies still apply), answers it without the rest of the stack
and without URL resolution; every other request goes on as before.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.crypto import salted_hmac
from django.utils.http import parse_etags

from .. import rules, services
from ..models import Environment, RuntimeToken
from . import envfile
from .auth import actor_for, check_runtime_token, runtime_bearer
from .endpoint import RUNTIME, api_endpoint
from .errors import ApiError
from .schemas import (
    ENVIRONMENT_NAME,
    bodiless_errors,
    errors,
    ref,
)

RUNTIME_PATH = "/api/v1/runtime/env"

# What a runtime may call itself in X-Miosa-Instance (SPEC §9).
INSTANCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class RuntimeFetchMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != RUNTIME_PATH:
            return self.get_response(request)
        # ALLOWED_HOSTS, as CommonMiddleware would check it (DisallowedHost answers 400).
        request.get_host()
        response = framed(runtime_environment(request))
        # What the skipped middleware would have added that still matters to an API client.
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def framed(response: HttpResponse) -> HttpResponse:
    """The framing CommonMiddleware (skipped) would give, as RFC 9110 asks: an answer with a
    body says its length (else a server such as gunicorn chunks it, while HEAD, see
    api_endpoint, says the length), and a 304 has neither a length nor a Content-Type."""
    if response.status_code == 304:
        response.headers.pop("Content-Length", None)
    elif not response.streaming and "Content-Length" not in response:
        response["Content-Length"] = str(len(response.content))
    return response


# Runtime formats (SPEC §4, §11): the renderer of each text one.
TEXT_FORMATS = {"dotenv": envfile.render, "shell": envfile.render_shell}
FORMATS = ("json", *TEXT_FORMATS)


@api_endpoint("GET", "HEAD", auth=RUNTIME)
def runtime_environment(request: HttpRequest) -> HttpResponse:
    """GET, or HEAD: the same answer, headers, ETag and audit event, without the body.

    Boot storms hit this endpoint: it reaches it past the middleware it does not use
    (RuntimeFetchMiddleware, above) and fetches in one service call (two statements on
    PostgreSQL, see services.fetch_runtime_env_for_token).
    """
    raw = runtime_bearer(request)
    fmt = request.GET.get("format", "json")
    # From META, as request.headers would read them (it builds a dict of every header first).
    instance = request.META.get("HTTP_X_MIOSA_INSTANCE", "")
    bad_instance = bool(instance) and not INSTANCE_RE.fullmatch(instance)
    etags = parse_etags(request.META.get("HTTP_IF_NONE_MATCH", ""))

    def check(token: RuntimeToken) -> None:
        """Refusals once the token is known (an unknown token is a 401 first), before
        anything is recorded."""
        check_runtime_token(token)
        if fmt not in FORMATS:
            raise ApiError(400, "invalid", "format is json, dotenv or shell.", field="format")
        if bad_instance:
            raise ApiError(
                400,
                "invalid",
                "X-Miosa-Instance is 1 to 100 letters, digits, '.', '_', ':' or '-'.",
                field="X-Miosa-Instance",
            )
        # A runtime acts as its token, never as whoever's browser session rides along.
        request.user = AnonymousUser()

    tags: list[str] = []

    def not_modified(environment: Environment, revision: int) -> bool:
        tags.append(runtime_etag(environment, revision, fmt))
        return tags[0] in etags or f"W/{tags[0]}" in etags or "*" in etags

    fetch = services.fetch_runtime_env_for_token(
        token_hash=services.hash_token(raw),
        fmt=fmt,
        instance="" if bad_instance else instance,
        actor_for=lambda token: actor_for(request, token),
        check=check,
        not_modified=not_modified,
    )
    if fetch is None:
        raise ApiError(
            401,
            "invalid_token",
            "The token is unknown or has been revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="miosa"'},
        )
    config = fetch.config
    environment = fetch.token.environment
    release = config.release
    if fetch.not_modified:
        response = HttpResponseNotModified()  # no Content-Type (RFC 9110, 15.4.5)
    elif fmt in TEXT_FORMATS:
        response = HttpResponse(
            TEXT_FORMATS[fmt](config.env).encode("utf-8"),
            content_type="text/plain; charset=utf-8",
        )
    else:
        body = {
            "deployment": environment.deployment.name,
            "environment": environment.name,
            "version": release.version.number if release else None,
            "release": release.number if release else None,
            "config_revision": config.revision,
            "env": config.env,
        }
        response = HttpResponse(
            json.dumps(body, ensure_ascii=False).encode("utf-8"), content_type="application/json"
        )
    response["ETag"] = tags[0]
    response["Cache-Control"] = "no-store"
    return response


def runtime_etag(environment: Environment, revision: int, fmt: str) -> str:
    """The tag names the release (or, before any, the revision) and the format: it changes when
    what is live changes, not on a pending edit, and a 304 needs nothing decrypted. Keyed, so
    that it says nothing to whoever sees headers."""
    release = environment.live_release
    message = f"{environment.pk}/{release.number if release else 0}/{revision}/{fmt}"
    return f'"{_etag_hmac(settings.SECRET_KEY).copy_with(message).hexdigest()}"'


@dataclass(frozen=True)
class _KeyedHmac:
    """salted_hmac("environments.api.runtime-etag", …, algorithm="sha256") with its key derived
    once per SECRET_KEY (salted_hmac derives it at every call) instead of at every fetch."""

    base: hmac.HMAC

    def copy_with(self, message: str) -> hmac.HMAC:
        mac = self.base.copy()
        mac.update(message.encode())
        return mac


@functools.lru_cache(maxsize=4)
def _etag_hmac(secret: str) -> _KeyedHmac:
    return _KeyedHmac(salted_hmac("environments.api.runtime-etag", b"", secret, algorithm="sha256"))


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
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

_GET: dict[str, Any] = {
    "operationId": "runtimeEnv",
    "summary": "What a runtime instance gets at boot (runtime token). Every fetch "
    "is audited before anything is decrypted.",
    "security": [{"runtimeToken": []}],
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"enum": list(FORMATS), "default": "json"},
        },
        {
            "name": "X-Miosa-Instance",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "pattern": f"^{INSTANCE_RE.pattern}$"},
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
                "application/json": {"schema": ref("RuntimeEnv")},
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
        **errors(400, 401, 500, 503),
    },
}

_HEAD: dict[str, Any] = {
    "operationId": "runtimeEnvHead",
    "summary": "As GET (same status, headers, ETag, Content-Length and audit event), without "
    "a body: for checking the token or whether the live release changed.",
    "security": _GET["security"],
    "parameters": _GET["parameters"],
    "responses": {
        "200": {
            "description": "What GET would answer, without the body.",
            "headers": _GET["responses"]["200"]["headers"],
        },
        "304": {"description": "Unchanged since the ETag in If-None-Match."},
        **bodiless_errors(400, 401, 500, 503),
    },
}

PATHS: dict[str, Any] = {"/runtime/env": {"get": _GET, "head": _HEAD}}
