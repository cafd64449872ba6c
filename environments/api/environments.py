"""Environments of a deployment (SPEC §10): list, create (empty or as a copy), delete."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..models import Environment
from ..services.data_services import DATA_CHOICES
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Choice, Moment, Name
from .rows import deployment_ref, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    NUMBER,
    TIMESTAMP,
    errors,
    json_content,
    ref,
)

ENVIRONMENT = Body(
    "EnvironmentInput",
    name=Name(
        states={"maxLength": 127},
        example="preview/pr-42",
        description="Lower-case letters, digits and hyphens, optionally with one '/' part "
        "(preview/pr-42); no '..'.",
    ),
    copy_from=Name(
        required=False,
        nullable=True,
        description="Start with a copy of this environment's variables (secrets included: "
        "it needs the role that writes it, admin for production). Left out: empty.",
    ),
    promotes_to=Name(
        required=False,
        nullable=True,
        description="Default: staging for preview/*, else none.",
    ),
    config_changes=Choice(
        Environment.ConfigChanges, default=Environment.ConfigChanges.IMMEDIATE.value
    ),
    expires_at=Moment(
        required=False,
        nullable=True,
        description="ISO 8601 with a zone, in the future; only for preview/* environments: "
        "on any other name it is a 400 (field expires_at).",
    ),
    data=Choice(
        DATA_CHOICES,
        required=False,
        nullable=True,
        description="With copy_from, what the new environment gets of its data services: "
        "copy (its own, Postgres with the source's data), empty (its own, empty) or none. "
        "Default: empty for preview/*, else none. Never the source's credentials; production "
        "is never a data source for copy (409 production_data).",
    ),
)


def environment_row(
    environment: Environment, summary: selectors.ReleaseSummary | None
) -> dict[str, Any]:
    live = environment.live_release
    return {
        "name": environment.name,
        "promotes_to": environment.promotes_to.name if environment.promotes_to else None,
        "config_changes": environment.config_changes,
        "config_revision": environment.config_revision,
        "expires_at": timestamp(environment.expires_at) if environment.expires_at else None,
        "release": (
            {
                "number": live.number,
                "version": live.version.number,
                "config_revision": live.config_revision,
            }
            if live
            else None
        ),
        "pending": summary.pending if summary else 0,
        "created_at": timestamp(environment.created_at),
    }


@api_endpoint(
    "GET",
    "POST",
    body={"POST": ENVIRONMENT},
    need={"POST": (permissions.TO_MANAGE_ENVIRONMENTS, "Creating environments")},
)
def environments(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        return _create_environment(request)
    rows = selectors.environments_with_releases(request.deployment)
    summaries = selectors.release_summaries(rows)
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "environments": [environment_row(e, summaries.get(e.pk)) for e in rows],
        }
    )


def _optional_environment(request: ApiRequest, field: str) -> Environment | None:
    name = request.body.get(field)
    return None if name is None else lookups.environment(request.deployment, name, field=field)


def _create_environment(request: ApiRequest) -> HttpResponse:
    deployment, body, role = request.deployment, request.body, request.role
    copy_from = _optional_environment(request, "copy_from")
    if copy_from is not None:
        # A copy holds the source's secrets: copying needs the role that may write them.
        need = permissions.to_write_variables(copy_from)
        if not permissions.has_role(role, need):
            raise ApiError(
                403,
                "forbidden",
                f"Copying {copy_from.name} needs the {need} role or higher: the copy would "
                f"hold its secrets. You are {role}.",
                field="copy_from",
            )
    environment = services.create_environment(
        deployment=deployment,
        name=body["name"],
        copy_from=copy_from,
        promotes_to=_optional_environment(request, "promotes_to"),
        config_changes=body["config_changes"],
        expires_at=body.get("expires_at"),
        data=body.get("data"),
        actor=request.actor,
    )
    environment = selectors.get_environment(deployment, environment.name)
    summary = selectors.release_summaries([environment])[environment.pk]
    return JsonResponse(environment_row(environment, summary), status=201)


@api_endpoint(
    "DELETE", need={"DELETE": (permissions.TO_MANAGE_ENVIRONMENTS, "Deleting environments")}
)
def environment_detail(request: ApiRequest, name: str) -> HttpResponse:
    try:
        name = rules.validate_environment_name(name)
    except ValidationError:
        name = ""  # a name that cannot exist is simply not there
    if not name:
        raise ApiError(404, "not_found", f"{request.deployment.name} has no such environment.")
    environment = lookups.environment(request.deployment, name)
    services.delete_environment(environment=environment, actor=request.actor)
    return HttpResponse(status=204)


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
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
            "config_changes": {"enum": list(Environment.ConfigChanges.values)},
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
                "items": ref("Environment"),
            },
        },
    },
    **ENVIRONMENT.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/environments": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listEnvironments",
            "summary": "The environments with their live release and pending count.",
            "responses": {
                "200": json_content(ref("EnvironmentList"), "The environments."),
                **errors(400, 401, 404, 500),
            },
        },
        "post": {
            "operationId": "createEnvironment",
            "summary": "Create a custom environment, empty or as a copy of another one's "
            "variables (developer; copying production needs admin). 409 name_taken when "
            "the name exists, too_many_environments beyond 200, production_data when asked to "
            'copy production\'s data ("data": "copy"). Audited as environment.create.',
            "requestBody": ENVIRONMENT.request_body(),
            "responses": {
                "201": json_content(ref("Environment"), "The new environment."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500, 503),
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
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
}
