"""The JSON API (SPEC §4): thin function views over the selectors (reads) and services (writes).

Every view goes through `api_endpoint` (methods, tokens in the URL, JSON errors) and
authenticates first; permissions come from `environments.permissions`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import salted_hmac
from django.utils.http import parse_etags

from .. import permissions, rules, selectors, services
from ..errors import validated
from ..models import Deployment, Environment, Variable
from . import envfile, openapi
from .auth import actor_for, authenticate_runtime, authenticate_user
from .errors import ApiError, api_endpoint
from .payload import read_json_object

SINGLE_FIELDS = frozenset({"environment", "key", "value", "is_secret"})
BATCH_FIELDS = frozenset({"environment", "variables"})
ITEM_FIELDS = frozenset({"key", "value", "is_secret"})


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Look-ups ---------------------------------------------------------------------------------


def _deployment(user, deployment_id: int) -> Deployment:
    """The deployment with `.role`; 404 alike for unknown ones, ones the user cannot see and
    ids out of range (the selector guards them)."""
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


def _require(deployment: Deployment, need: str, what: str) -> None:
    if not permissions.has_role(deployment.role, need):
        raise ApiError(
            403, "forbidden", f"{what} needs the {need} role or higher; you are {deployment.role}."
        )


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


# Endpoints --------------------------------------------------------------------------------


@api_endpoint("GET")
def deployment_list(request: HttpRequest) -> HttpResponse:
    token = authenticate_user(request)
    deployments = selectors.deployments_for_user(token.user)
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
    deployment = _deployment(token.user, deployment_id)
    if request.method == "POST":
        return _write_variables(request, token, deployment)
    return _list_variables(request, token, deployment)


def _reveal_requested(request: HttpRequest) -> bool:
    reveal = request.GET.get("reveal", "false")
    if reveal not in ("true", "false"):
        raise ApiError(400, "invalid", "reveal is true or false.", field="reveal")
    return reveal == "true"


def _list_variables(request: HttpRequest, token, deployment: Deployment) -> HttpResponse:
    reveal = _reveal_requested(request)
    name = request.GET.get("environment")
    if name is not None:
        environment = _environment(deployment, _environment_name(name))
        environments = [environment]
    else:
        environment = None
        environments = list(deployment.environments.all())
        for each in environments:
            each.deployment = deployment
    if reveal:
        _require(deployment, permissions.TO_REVEAL, "Revealing values")
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


def _write_variables(request: HttpRequest, token, deployment: Deployment) -> HttpResponse:
    body = read_json_object(request)
    batch = "variables" in body
    _check_fields(body, BATCH_FIELDS if batch else SINGLE_FIELDS)
    if "environment" not in body:
        raise ApiError(400, "required", "environment is required.", field="environment")
    environment = _environment(deployment, _environment_name(body["environment"]))
    _require(
        deployment,
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
        }
    )


@api_endpoint("DELETE")
def variable_detail(request: HttpRequest, deployment_id: int, key: str) -> HttpResponse:
    token = authenticate_user(request)
    deployment = _deployment(token.user, deployment_id)
    name = request.GET.get("environment")
    if name is None:
        raise ApiError(
            400, "required", "Name the environment: ?environment=<name>.", field="environment"
        )
    environment = _environment(deployment, _environment_name(name))
    _require(
        deployment,
        permissions.to_write_variables(environment),
        f"Deleting variables in {environment.name}",
    )
    try:
        key = rules.validate_variable_key(key)
    except ValidationError:
        # A key that cannot exist is simply not there.
        raise ApiError(
            404, "not_found", f"{environment.name} has no such variable.", field="key"
        ) from None
    services.delete_variable(environment=environment, key=key, actor=actor_for(request, token))
    return HttpResponse(status=204)


@api_endpoint("GET")
def runtime_environment(request: HttpRequest) -> HttpResponse:
    token = authenticate_runtime(request)
    fmt = request.GET.get("format", "json")
    if fmt not in ("json", "dotenv"):
        raise ApiError(400, "invalid", "format is json or dotenv.", field="format")
    environment = token.environment
    env = services.fetch_runtime_env(
        environment=environment, fmt=fmt, actor=actor_for(request, token)
    )
    if fmt == "dotenv":
        body = envfile.render(env).encode("utf-8")
        content_type = "text/plain; charset=utf-8"
    else:
        version = environment.active_version
        body = json.dumps(
            {
                "deployment": environment.deployment.name,
                "environment": environment.name,
                "version": version.number if version else None,
                "env": env,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        content_type = "application/json"
    # Keyed, so that the tag says nothing about the values to whoever sees headers.
    etag = '"{}"'.format(
        salted_hmac("environments.api.runtime-etag", body, algorithm="sha256").hexdigest()
    )
    if_none_match = parse_etags(request.headers.get("If-None-Match", ""))
    if etag in if_none_match or f"W/{etag}" in if_none_match or "*" in if_none_match:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = "no-store"
    return response


@api_endpoint("GET")
def openapi_document(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi.DOCUMENT)
