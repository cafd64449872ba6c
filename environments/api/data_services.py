"""Data services (SPEC §13): a Postgres, Redis or bucket MIOSA creates for an environment, binds
and owns. Create, retry and delete answer 202: the worker does the work, the state says how far
it got. Never a URL or a password: the credential lives only in the managed binding."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..errors import Conflict
from ..models import DataServer, DataService, Environment, Role
from ..services.data_services import MODES
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Choice, Key, Name, Number, Text
from .rows import deployment_ref, moment_or_none, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    NULLABLE_TIMESTAMP,
    NUMBER,
    OPTIONAL_ENVIRONMENT_QUERY,
    TIMESTAMP,
    VARIABLE_KEY,
    errors,
    json_content,
    ref,
)

DATA_SERVICE = Body(
    "DataServiceInput",
    environment=Name(),
    kind=Choice(DataServer.Kind, example="postgres"),
    server=Text(
        required=False,
        nullable=True,
        pattern=rules.DEPLOYMENT_NAME_RE,
        check=rules.validate_deployment_name,
        description="A data server's name. Left out: the first of the kind available to "
        "the deployment (or, for a copy, its source's server).",
    ),
    name=Text(
        required=False,
        nullable=True,
        max_length=100,
        description="Default: the deployment's name and the kind (shop-postgres).",
    ),
    variable=Key(
        required=False,
        check=rules.validate_variable_key,
        description="The variable its URL is injected as. Left out: "
        + ", ".join(
            f"{spec.variable_name} ({kind})"
            for kind, spec in rules.BINDING_KINDS.items()
            if kind in DataServer.Kind.values
        )
        + ".",
    ),
    copy_from=Name(
        required=False,
        nullable=True,
        description="Copy this environment's ready service of the same kind: Postgres copies "
        "schema and data; Redis and buckets start empty. Never production (409 "
        "production_data).",
    ),
    rotate_every_days=Number(
        required=False,
        nullable=True,
        maximum=rules.MAX_ROTATE_EVERY_DAYS,
        description="Rotate its credential every this many days (a periodic task starts due "
        "rotations); null or left out: only when asked.",
    ),
)
DATA_SERVICE_UPDATE = Body(
    "DataServiceUpdate",
    rotate_every_days=Number(
        nullable=True,
        maximum=rules.MAX_ROTATE_EVERY_DAYS,
        description="Rotate its credential every this many days; null: only when asked. "
        "Audited as data_service.schedule.",
    ),
)


def data_service_row(service: DataService) -> dict[str, Any]:
    """A data service as the API shows it: where and what it is, never its credential."""
    binding = getattr(service, "binding", None)
    return {
        "id": service.pk,
        "environment": service.environment_name,
        "kind": service.kind,
        "name": service.name,
        "variable": service.variable,
        "server": service.server.name,
        "state": service.state,
        "error": service.error or None,
        "managed": binding is not None,
        "binding": binding.pk if binding is not None else None,
        "copy_from": service.copy_from_environment or None,
        "created_at": timestamp(service.created_at),
        "updated_at": timestamp(service.updated_at),
        "ready_at": moment_or_none(service.ready_at),
        "rotate_every_days": service.rotate_every_days,
    }


def _accepted(request: ApiRequest, service: DataService) -> HttpResponse:
    """202: the service as it is now (the worker takes it from here)."""
    fresh = selectors.get_data_service(request.deployment, service.pk)
    return JsonResponse({"data_service": data_service_row(fresh)}, status=202)


def _require_to_manage(request: ApiRequest, environment: Environment | None, what: str) -> None:
    # A service whose environment is gone (being destroyed) was never production's.
    need = permissions.to_manage_data_services(environment) if environment else Role.DEVELOPER
    name = environment.name if environment else "a deleted environment"
    request.require(need, f"{what} in {name}")


def _service(request: ApiRequest, service_id: int) -> DataService:
    return selectors.get_data_service(request.deployment, selectors.valid_id(service_id))


@api_endpoint("GET", "POST", body={"POST": DATA_SERVICE})
def data_services(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        return _create(request)
    name = request.query.get("environment")
    environment = None
    if name is not None:
        environment = lookups.environment(request.deployment, lookups.environment_name(name))
    rows = selectors.data_services(request.deployment, environment=environment)
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "data_services": [data_service_row(service) for service in rows],
        }
    )


def _create(request: ApiRequest) -> HttpResponse:
    body, deployment = request.body, request.deployment
    environment = lookups.environment(deployment, body["environment"])
    copy_from = None
    if body.get("copy_from") is not None:
        copy_from = lookups.environment(deployment, body["copy_from"], field="copy_from")
    _require_to_manage(request, environment, "Creating data services")
    if not selectors.available_servers(deployment, body["kind"]).exists():
        # Before the body's finer points: without a server nothing else matters.
        raise Conflict(
            f"No {body['kind']} data server is available to {deployment.name}. A superuser "
            f"registers one with `manage.py add_data_server {body['kind']} NAME --url-file "
            "FILE` or on the data servers page.",
            code="no_data_server",
            field="server",
        )
    service = services.create_data_service(
        environment=environment,
        kind=body["kind"],
        server=body.get("server"),
        name=body.get("name"),
        variable=body.get("variable"),
        copy_from=copy_from,
        rotate_every_days=body.get("rotate_every_days"),
        actor=request.actor,
    )
    return _accepted(request, service)


@api_endpoint("GET", "PATCH", "DELETE", body={"PATCH": DATA_SERVICE_UPDATE})
def data_service_detail(request: ApiRequest, service_id: int) -> HttpResponse:
    service = _service(request, service_id)
    if request.method == "GET":
        return JsonResponse({"data_service": data_service_row(service)})
    if request.method == "PATCH":
        _require_to_manage(request, service.environment, "Scheduling rotations")
        service = services.set_rotation_schedule(
            service=service, days=request.body["rotate_every_days"], actor=request.actor
        )
        return JsonResponse({"data_service": data_service_row(service)})
    _require_to_manage(request, service.environment, "Deleting data services")
    mode = request.query.get("mode", "destroy")
    if mode not in MODES:
        raise ApiError(400, "invalid", f"mode is {' or '.join(MODES)}.", field="mode")
    service = services.delete_data_service(service=service, actor=request.actor, mode=mode)
    return _accepted(request, service)


@api_endpoint("POST")
def data_service_retry(request: ApiRequest, service_id: int) -> HttpResponse:
    service = _service(request, service_id)
    _require_to_manage(request, service.environment, "Retrying data services")
    service = services.retry_data_service(service=service, actor=request.actor)
    return _accepted(request, service)


# OpenAPI ----------------------------------------------------------------------------------

SERVICE_ID = {
    "name": "service_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
ANSWER = {
    "type": "object",
    "required": ["data_service"],
    "additionalProperties": False,
    "properties": {"data_service": ref("DataService")},
}

SCHEMAS: dict[str, Any] = {
    "DataService": {
        "type": "object",
        "description": "A data service MIOSA created (or is creating) for an environment. "
        "Never its URL or password: those reach only the runtime, through its managed "
        "binding.",
        "required": [
            "id",
            "environment",
            "kind",
            "name",
            "variable",
            "server",
            "state",
            "error",
            "managed",
            "binding",
            "copy_from",
            "created_at",
            "updated_at",
            "ready_at",
            "rotate_every_days",
        ],
        "additionalProperties": False,
        "properties": {
            "id": NUMBER,
            "environment": ENVIRONMENT_NAME,
            "kind": {"enum": list(DataServer.Kind.values)},
            "name": {"type": "string"},
            "variable": VARIABLE_KEY,
            "server": {"type": "string", "description": "The data server it lives on."},
            "state": {
                "enum": list(DataService.State.values),
                "description": "provisioning → ready | failed (retry); destroying until the "
                "worker has removed it (then 404); detached: kept on its server, unbound.",
            },
            "error": {
                "type": ["string", "null"],
                "description": "What failed: the step and the error's class, never a "
                "credential; null when nothing did.",
            },
            "managed": {
                "type": "boolean",
                "description": "Whether its managed binding injects it now.",
            },
            "binding": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The id of its managed binding (see the bindings list).",
            },
            "copy_from": {
                "type": ["string", "null"],
                "description": "The environment it was copied from.",
            },
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "ready_at": NULLABLE_TIMESTAMP,
            "rotate_every_days": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 365,
                "description": "Scheduled rotation: a new credential every this many days "
                "(SPEC §14); null when only rotated by hand.",
            },
        },
    },
    "DataServiceAnswer": ANSWER,
    "DataServiceList": {
        "type": "object",
        "required": ["deployment", "data_services"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "data_services": {"type": "array", "items": ref("DataService")},
        },
    },
    **DATA_SERVICE.component(),
    **DATA_SERVICE_UPDATE.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/data-services": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listDataServices",
            "summary": "The deployment's data services, with their state; never a credential.",
            "parameters": [OPTIONAL_ENVIRONMENT_QUERY],
            "responses": {
                "200": json_content(ref("DataServiceList"), "The data services."),
                **errors(400, 401, 404, 500),
            },
        },
        "post": {
            "operationId": "createDataService",
            "summary": "Create a Postgres, Redis or bucket for an environment (developer; admin "
            "for production); the worker provisions it and binds it (managed). 409 "
            "no_data_server, variable_taken, production_data, no_source_service. Audited as "
            "data_service.create.",
            "requestBody": DATA_SERVICE.request_body(),
            "responses": {
                "202": json_content(ref("DataServiceAnswer"), "Provisioning."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/data-services/{service_id}": {
        "parameters": [DEPLOYMENT_ID, SERVICE_ID],
        "get": {
            "operationId": "getDataService",
            "summary": "One data service and its state (404 once destroyed).",
            "responses": {
                "200": json_content(ref("DataServiceAnswer"), "The data service."),
                **errors(400, 401, 404, 500),
            },
        },
        "patch": {
            "operationId": "updateDataService",
            "summary": "Set how often its credential rotates (developer; admin for "
            "production). Audited as data_service.schedule.",
            "requestBody": DATA_SERVICE_UPDATE.request_body(),
            "responses": {
                "200": json_content(ref("DataServiceAnswer"), "The data service."),
                **errors(400, 401, 403, 404, 413, 415, 500),
            },
        },
        "delete": {
            "operationId": "deleteDataService",
            "summary": "destroy (default): its binding goes now, the worker drops what it made "
            "on the server, then it is gone (404); detach: its binding goes, the resource "
            "stays on its server. Audited as data_service.destroy or .detach.",
            "parameters": [
                {
                    "name": "mode",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": list(MODES), "default": "destroy"},
                }
            ],
            "responses": {
                "202": json_content(
                    ref("DataServiceAnswer"), "Destroying, or detached (a ready one only)."
                ),
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
    "/deployments/{deployment_id}/data-services/{service_id}/retry": {
        "parameters": [DEPLOYMENT_ID, SERVICE_ID],
        "post": {
            "operationId": "retryDataService",
            "summary": "Provision a failed data service again (or a destroy that failed); what "
            "exists is kept. 409 not_failed otherwise. Audited as data_service.retry.",
            "responses": {
                "202": json_content(ref("DataServiceAnswer"), "Under way again."),
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
}
