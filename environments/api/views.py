"""The JSON API (SPEC §4): thin function views over the selectors (reads) and services (writes).

Every view goes through `api_endpoint` (methods, tokens in the URL, JSON errors) and
authenticates first; permissions come from `environments.permissions`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import salted_hmac
from django.utils.http import parse_etags

from .. import permissions, rules, selectors, services
from ..errors import validated
from ..models import Deployment, Environment, Release, RuntimeToken, Variable
from ..services.releases import ROLLBACK_CONFIG
from . import envfile, openapi
from .auth import actor_for, authenticate_user, check_runtime_token, runtime_bearer
from .errors import ApiError, api_endpoint
from .payload import read_json_object

# What a runtime may call itself in X-Miosa-Instance (SPEC §9).
INSTANCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,100}")

# Release and revision numbers are 32-bit; a larger one names nothing.
MAX_NUMBER = rules.MAX_NUMBER
NUMBER_PARAM_RE = re.compile(r"[1-9][0-9]{0,18}")
RELEASE_PAGE = 50
MAX_RELEASE_PAGE = 100

SINGLE_FIELDS = frozenset({"environment", "key", "value", "is_secret"})
BATCH_FIELDS = frozenset({"environment", "variables"})
ITEM_FIELDS = frozenset({"key", "value", "is_secret"})
APPLY_FIELDS = frozenset({"environment", "expected_revision"})
ROLLBACK_FIELDS = frozenset({"environment", "release", "config"})
RESTORE_FIELDS = frozenset({"environment", "revision"})
REQUIRED_KEYS_FIELDS = frozenset({"keys"})


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Look-ups ---------------------------------------------------------------------------------


def _deployment(user, deployment_id: int) -> selectors.DeploymentAccess:
    """The deployment and the user's role on it; 404 alike for unknown ones, ones the user
    cannot see and ids out of range (the selector guards them)."""
    return selectors.get_deployment_for_user(user, deployment_id)


def _environment_name(value: Any, *, field: str = "environment") -> str:
    if not isinstance(value, str):
        raise ApiError(400, "invalid", "Name the environment as a string.", field=field)
    return validated(rules.validate_environment_name, value, field=field)


def _environment(deployment: Deployment, name: str) -> Environment:
    try:
        return selectors.get_environment(deployment, name)
    except Http404:
        raise ApiError(
            404,
            "not_found",
            f"{deployment.name} has no environment named {name}.",
            field="environment",
        ) from None


def _environment_param(request: HttpRequest, deployment: Deployment) -> Environment:
    """The environment named by ?environment=, which these endpoints require."""
    name = request.GET.get("environment")
    if name is None:
        raise ApiError(
            400, "required", "Name the environment: ?environment=<name>.", field="environment"
        )
    return _environment(deployment, _environment_name(name))


def _environments_param(request: HttpRequest, deployment: Deployment) -> list[Environment]:
    """?environment=<name> (that one), else every environment of the deployment."""
    name = request.GET.get("environment")
    if name is not None:
        return [_environment(deployment, _environment_name(name))]
    return selectors.deployment_environments(deployment)


def _body_environment(deployment: Deployment, body: dict[str, Any]) -> Environment:
    if "environment" not in body:
        raise ApiError(400, "required", "environment is required.", field="environment")
    return _environment(deployment, _environment_name(body["environment"]))


def _number(body: dict[str, Any], field: str) -> int:
    """A release or revision number from a JSON body: a whole number of 1 or more."""
    if field not in body:
        raise ApiError(400, "required", f"{field} is required.", field=field)
    value = body[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "invalid", f"{field} must be a whole number.", field=field)
    if value < 1:
        raise ApiError(400, "invalid", f"{field} starts at 1.", field=field)
    return value


def _number_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name)
    if value is None:
        return None
    if not NUMBER_PARAM_RE.fullmatch(value):
        raise ApiError(400, "invalid", f"{name} is a whole number of 1 or more.", field=name)
    return int(value)


def _variable_key(environment: Environment, key: str) -> str:
    try:
        return rules.validate_variable_key(key)
    except ValidationError:
        # A key that cannot exist is simply not there.
        raise ApiError(
            404, "not_found", f"{environment.name} has no such variable.", field="key"
        ) from None


def _require(role: str, need: str, what: str) -> None:
    if not permissions.has_role(role, need):
        raise ApiError(403, "forbidden", f"{what} needs the {need} role or higher; you are {role}.")


# Rows -------------------------------------------------------------------------------------


def _row(row: selectors.VariableRow) -> dict[str, Any]:
    item: dict[str, Any] = {
        "environment": row.environment,
        "key": row.key,
        "preview": row.preview,
        "is_secret": row.is_secret,
        "source": row.source,
        "updated_at": timestamp(row.updated_at),
    }
    if row.undecryptable:
        item["undecryptable"] = True
    return item


def _written_row(environment: Environment, variable: Variable, value: str) -> dict[str, Any]:
    return {
        "environment": environment.name,
        "key": variable.key,
        "preview": rules.SECRET_PREVIEW if variable.is_secret else rules.plain_preview(value),
        "is_secret": variable.is_secret,
        "source": "env",
        "updated_at": timestamp(variable.updated_at),
    }


def _deployment_ref(deployment: Deployment) -> dict[str, Any]:
    return {"id": deployment.pk, "name": deployment.name}


def _live_state(environment: Environment) -> dict[str, Any]:
    """After a write: whether it waits for an Apply (staged), and the live release."""
    state = selectors.live_state(environment)
    return {"pending": state.pending, "live_release": state.live_release}


def _release(environment: Environment, release: Release) -> dict[str, Any]:
    item: dict[str, Any] = {
        "environment": environment.name,
        "number": release.number,
        "version": release.version.number,
        "config_revision": release.config_revision,
        "kind": release.kind,
        "actor": release.actor_label,
        "created_at": timestamp(release.created_at),
    }
    if release.rollback_of is not None:
        item["rollback_of"] = release.rollback_of
    return item


# Endpoints --------------------------------------------------------------------------------


@api_endpoint("GET")
def deployment_list(request: HttpRequest) -> HttpResponse:
    token = authenticate_user(request)
    deployments = selectors.deployments_for_user(token.user)
    summaries = selectors.release_summaries(
        environment for deployment in deployments for environment in deployment.environments.all()
    )
    return JsonResponse(
        {
            "deployments": [
                {
                    "id": deployment.pk,
                    "name": deployment.name,
                    "environments": [
                        {
                            "name": environment.name,
                            "version": (
                                environment.active_version.number
                                if environment.active_version
                                else None
                            ),
                            "promotes_to": (
                                environment.promotes_to.name if environment.promotes_to else None
                            ),
                            "release": summaries[environment.pk].release,
                            "pending": summaries[environment.pk].pending,
                        }
                        # production, staging, then the others by name, as in SPEC §4
                        for environment in sorted(
                            deployment.environments.all(),
                            key=lambda e: (-e.pipeline_rank, e.name),
                        )
                    ],
                }
                for deployment in deployments
            ]
        }
    )


@api_endpoint("GET", "POST")
def environment_variables(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    if request.method == "POST":
        return _write_variables(request, token, deployment, role)
    return _list_variables(request, token, deployment, role)


def _reveal_requested(request: HttpRequest) -> bool:
    reveal = request.GET.get("reveal", "false")
    if reveal not in ("true", "false"):
        raise ApiError(400, "invalid", "reveal is true or false.", field="reveal")
    return reveal == "true"


def _list_variables(request: HttpRequest, token, deployment: Deployment, role: str) -> HttpResponse:
    reveal = _reveal_requested(request)
    environments = _environments_param(request, deployment)
    environment = environments[0] if request.GET.get("environment") is not None else None
    if reveal:
        _require(role, permissions.TO_REVEAL, "Revealing values")
    rows = selectors.variable_rows(environments)
    items = [_row(row) for row in rows]
    if reveal:
        plain = [row for row in rows if row.source == "env" and not row.is_secret]
        keys = [row.key if environment else f"{row.environment}/{row.key}" for row in plain]
        values = services.reveal_plain_values(
            deployment=deployment,
            environments=environments,
            environment=environment,
            keys=keys,
            actor=actor_for(request, token),
        )
        for item in items:
            value = values.get((item["environment"], item["key"]))
            if item["source"] == "env" and not item["is_secret"] and value is not None:
                item["value"] = value
    return JsonResponse({"deployment": _deployment_ref(deployment), "variables": items})


def _check_fields(given: dict[str, Any], allowed: frozenset[str], *, prefix: str = "") -> None:
    for name in given:
        if name not in allowed:
            raise ApiError(
                400,
                "unknown_field",
                f"{name[:100]} is not a field here; the fields are {', '.join(sorted(allowed))}.",
                field=f"{prefix}{name}"[:200],
            )


def _variable_input(item: dict[str, Any], *, prefix: str = "") -> services.VariableInput:
    _check_fields(item, ITEM_FIELDS, prefix=prefix)
    for name in ("key", "value"):
        if name not in item:
            raise ApiError(400, "required", f"{name} is required.", field=f"{prefix}{name}")
        if not isinstance(item[name], str):
            raise ApiError(400, "invalid", f"{name} must be a string.", field=f"{prefix}{name}")
    is_secret = item.get("is_secret")
    if "is_secret" in item and not isinstance(is_secret, bool):
        raise ApiError(
            400, "invalid", "is_secret must be true or false.", field=f"{prefix}is_secret"
        )
    return services.VariableInput(key=item["key"], value=item["value"], is_secret=is_secret)


def _write_variables(
    request: HttpRequest, token, deployment: Deployment, role: str
) -> HttpResponse:
    body = read_json_object(request)
    batch = "variables" in body
    _check_fields(body, BATCH_FIELDS if batch else SINGLE_FIELDS)
    if "environment" not in body:
        raise ApiError(400, "required", "environment is required.", field="environment")
    environment = _environment(deployment, _environment_name(body["environment"]))
    _require(
        role,
        permissions.to_write_variables(environment),
        f"Writing variables in {environment.name}",
    )
    actor = actor_for(request, token)
    if not batch:
        item = _variable_input({k: v for k, v in body.items() if k != "environment"})
        variable, created = services.set_variable(
            environment=environment,
            key=item.key,
            value=item.value,
            is_secret=item.is_secret,
            actor=actor,
        )
        return JsonResponse(
            {
                "deployment": _deployment_ref(deployment),
                "variables": [_written_row(environment, variable, item.value)],
                **_live_state(environment),
            },
            status=201 if created else 200,
        )
    given = body["variables"]
    if not isinstance(given, list) or not given:
        raise ApiError(
            400, "invalid", "variables must be a non-empty list of objects.", field="variables"
        )
    items = []
    for position, item in enumerate(given):
        prefix = f"variables[{position}]."
        if not isinstance(item, dict):
            raise ApiError(400, "invalid", "Each variable is an object.", field=prefix[:-1])
        items.append(_variable_input(item, prefix=prefix))
    written = services.set_variables(environment=environment, items=items, actor=actor)
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


@api_endpoint("DELETE")
def variable_detail(request: HttpRequest, deployment_id: int, key: str) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    name = request.GET.get("environment")
    if name is None:
        raise ApiError(
            400, "required", "Name the environment: ?environment=<name>.", field="environment"
        )
    environment = _environment(deployment, _environment_name(name))
    _require(
        role,
        permissions.to_write_variables(environment),
        f"Deleting variables in {environment.name}",
    )
    key = _variable_key(environment, key)
    services.delete_variable(environment=environment, key=key, actor=actor_for(request, token))
    response = HttpResponse(status=204)
    # No body to say it in: a staged environment's delete waits for an Apply.
    response["X-Miosa-Pending"] = "true" if selectors.live_state(environment).pending else "false"
    return response


@api_endpoint("GET")
def variable_history(request: HttpRequest, deployment_id: int, key: str) -> HttpResponse:
    token = authenticate_user(request)
    deployment = _deployment(token.user, deployment_id).deployment
    environment = _environment_param(request, deployment)
    key = _variable_key(environment, key)
    rows = selectors.key_history(environment, key)
    if not rows:
        raise ApiError(
            404, "not_found", f"{key} has never been set in {environment.name}.", field="key"
        )
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
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


@api_endpoint("POST")
def variable_restore(request: HttpRequest, deployment_id: int, key: str) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    body = read_json_object(request)
    _check_fields(body, RESTORE_FIELDS)
    environment = _body_environment(deployment, body)
    _require(
        role,
        permissions.to_write_variables(environment),
        f"Restoring variables in {environment.name}",
    )
    key = _variable_key(environment, key)
    revision = _number(body, "revision")
    services.restore_variable(
        environment=environment, key=key, revision=revision, actor=actor_for(request, token)
    )
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
            "variables": [_row(selectors.variable_row(environment, key))],
            **_live_state(environment),
        }
    )


@api_endpoint("GET")
def release_list(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """Newest first, a page at a time: `next` is the `before` of the next page (keyset
    paging, so a page costs the same however deep it is), null on the last page."""
    token = authenticate_user(request)
    deployment = _deployment(token.user, deployment_id).deployment
    environment = _environment_param(request, deployment)
    before = _number_param(request, "before")
    limit = _number_param(request, "limit") or RELEASE_PAGE
    if limit > MAX_RELEASE_PAGE:
        raise ApiError(400, "invalid", f"limit is at most {MAX_RELEASE_PAGE}.", field="limit")
    rows = selectors.releases(
        environment,
        before=min(before, MAX_NUMBER + 1) if before else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
            "environment": environment.name,
            "releases": [_release(environment, release) for release in page],
            "next": page[-1].number if len(rows) > limit else None,
        }
    )


@api_endpoint("POST")
def apply_changes(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    body = read_json_object(request)
    _check_fields(body, APPLY_FIELDS)
    environment = _body_environment(deployment, body)
    _require(
        role,
        permissions.to_deploy_into(environment),
        f"Applying changes in {environment.name}",
    )
    expected = _number(body, "expected_revision") if "expected_revision" in body else None
    release = services.apply_changes(
        environment=environment, actor=actor_for(request, token), expected_revision=expected
    )
    return JsonResponse(_release(environment, release), status=201)


@api_endpoint("POST")
def rollback(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    body = read_json_object(request)
    _check_fields(body, ROLLBACK_FIELDS)
    environment = _body_environment(deployment, body)
    _require(
        role,
        permissions.to_deploy_into(environment),
        f"Rolling back {environment.name}",
    )
    number = _number(body, "release")
    config = body.get("config", "restore")
    if config not in ROLLBACK_CONFIG:
        raise ApiError(
            400,
            "invalid",
            "config is restore (the release's version and configuration) or keep (its "
            "version with the current configuration).",
            field="config",
        )
    release = services.rollback(
        environment=environment, release=number, config=config, actor=actor_for(request, token)
    )
    return JsonResponse(_release(environment, release), status=201)


@api_endpoint("GET", "PUT")
def required_keys(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    keys = deployment.required_keys
    if request.method == "PUT":
        _require(role, permissions.TO_MANAGE_REQUIRED_KEYS, "Setting required keys")
        body = read_json_object(request)
        _check_fields(body, REQUIRED_KEYS_FIELDS)
        if "keys" not in body:
            raise ApiError(400, "required", "keys is required.", field="keys")
        keys = services.set_required_keys(
            deployment=deployment, keys=body["keys"], actor=actor_for(request, token)
        )
    return JsonResponse({"deployment": _deployment_ref(deployment), "keys": keys})


# Runtime formats (SPEC §4, §11): the renderer of each text one.
TEXT_FORMATS = {"dotenv": envfile.render, "shell": envfile.render_shell}


@api_endpoint("GET", "HEAD")
def runtime_environment(request: HttpRequest) -> HttpResponse:
    """GET, or HEAD: the same answer, headers, ETag and audit event, without the body.

    Boot storms hit this endpoint (issue 12): it reaches it past the middleware it does not
    use (runtime.RuntimeFetchMiddleware) and fetches in one service call (two statements on
    PostgreSQL, see services.fetch_runtime_env_for_token).
    """
    raw = runtime_bearer(request)
    fmt = request.GET.get("format", "json")
    instance = request.headers.get("X-Miosa-Instance", "")
    bad_instance = bool(instance) and not INSTANCE_RE.fullmatch(instance)
    etags = parse_etags(request.headers.get("If-None-Match", ""))

    def check(token: RuntimeToken) -> None:
        """Refusals once the token is known (an unknown token is a 401 first), before
        anything is recorded."""
        check_runtime_token(token)
        if fmt not in ("json", *TEXT_FORMATS):
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
        response = HttpResponse(status=304)
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
    return '"{}"'.format(
        salted_hmac(
            "environments.api.runtime-etag",
            f"{environment.pk}/{release.number if release else 0}/{revision}/{fmt}",
            algorithm="sha256",
        ).hexdigest()
    )


@api_endpoint("GET")
def openapi_document(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi.DOCUMENT)
