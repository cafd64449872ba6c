"""Rotations of a data service's credential (SPEC §14): start one (202: the worker does the
steps), follow it (how many instances are on the new credential, which are still on the old one,
what happens next and when), force the revocation (admin, with a reason) or cancel it. Never a
credential: counts, states and instance names only."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, selectors, services
from ..models import DataService, Role, Rotation
from ..services.rotations import MIN_REASON
from .endpoint import ApiRequest, api_endpoint
from .inputs import ROTATION_FORCE
from .rows import moment_or_none, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    NULLABLE_TIMESTAMP,
    NUMBER,
    TIMESTAMP,
    errors,
    json_content,
    ref,
)


def rotation_row(rotation: Rotation) -> dict[str, Any]:
    """A rotation as the API (and `miosa data rotate`) shows it."""
    waiting = selectors.convergence(rotation)
    upcoming = selectors.next_step(rotation, waiting)
    return {
        "id": rotation.pk,
        "data_service": rotation.service_id,
        "state": rotation.state,
        "trigger": rotation.trigger,
        "started_at": timestamp(rotation.started_at),
        "released_at": moment_or_none(rotation.released_at),
        "revoke_after": timestamp(rotation.revoke_after),
        "revoked_at": moment_or_none(rotation.revoked_at),
        "finished_at": moment_or_none(rotation.finished_at),
        "forced": rotation.forced_at is not None,
        "error": rotation.error or None,
        "instances": {"total": waiting.total, "on_new": waiting.on_new, "on_old": waiting.on_old},
        "instances_on_old": [
            {
                "id": i.instance,
                "release": i.release,
                "last_seen": timestamp(i.last_seen_at),
                "leaves_window_at": timestamp(i.leaves_window_at),
            }
            for i in waiting.old
        ],
        "next": {
            "step": upcoming.step,
            "at": moment_or_none(upcoming.at),
            "message": upcoming.message,
        },
    }


def _service(request: ApiRequest, service_id: int) -> DataService:
    return selectors.get_data_service(request.deployment, selectors.valid_id(service_id))


def _rotation(request: ApiRequest, service_id: int, rotation_id: int) -> Rotation:
    service = _service(request, service_id)
    return selectors.get_rotation(service, selectors.valid_id(rotation_id))


def _require_to_manage(request: ApiRequest, service: DataService, what: str) -> None:
    environment = service.environment
    need = permissions.to_manage_data_services(environment) if environment else Role.DEVELOPER
    request.require(need, f"{what} in {environment.name if environment else 'a deleted one'}")


def _answer(rotation: Rotation, status: int = 200) -> HttpResponse:
    fresh = selectors.get_rotation(rotation.service, rotation.pk)
    return JsonResponse({"rotation": rotation_row(fresh)}, status=status)


@api_endpoint("POST")
def rotate(request: ApiRequest, service_id: int) -> HttpResponse:
    service = _service(request, service_id)
    _require_to_manage(request, service, "Rotating data services")
    rotation = services.start_rotation(service=service, actor=request.actor)
    return _answer(rotation, 202)


@api_endpoint("GET")
def rotation_detail(request: ApiRequest, service_id: int, rotation_id: int) -> HttpResponse:
    return _answer(_rotation(request, service_id, rotation_id))


@api_endpoint("POST", body={"POST": ROTATION_FORCE})
def rotation_revoke(request: ApiRequest, service_id: int, rotation_id: int) -> HttpResponse:
    rotation = _rotation(request, service_id, rotation_id)
    request.require(Role.ADMIN, "Forcing a revocation")
    rotation = services.force_revoke(
        rotation=rotation, actor=request.actor, reason=request.body["reason"]
    )
    return _answer(rotation, 202)


@api_endpoint("POST")
def rotation_cancel(request: ApiRequest, service_id: int, rotation_id: int) -> HttpResponse:
    rotation = _rotation(request, service_id, rotation_id)
    _require_to_manage(request, rotation.service, "Cancelling rotations")
    rotation = services.cancel_rotation(rotation=rotation, actor=request.actor)
    return _answer(rotation, 202)


# OpenAPI ----------------------------------------------------------------------------------

SERVICE_ID = {
    "name": "service_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
ROTATION_ID = {
    "name": "rotation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
COUNT = {"type": "integer", "minimum": 0}

SCHEMAS: dict[str, Any] = {
    "Rotation": {
        "type": "object",
        "description": "A rotation of a data service's credential, and how far the instances "
        "have got: never a credential.",
        "required": [
            "id",
            "data_service",
            "state",
            "trigger",
            "started_at",
            "released_at",
            "revoke_after",
            "revoked_at",
            "finished_at",
            "forced",
            "error",
            "instances",
            "instances_on_old",
            "next",
        ],
        "additionalProperties": False,
        "properties": {
            "id": NUMBER,
            "data_service": NUMBER,
            "state": {
                "enum": list(Rotation.State.values),
                "description": "creating → released (pending Apply, staged environments) → "
                "converging → revoked; stuck past revoke_after (nothing revoked: an admin "
                "forces or cancels); failed (the new credential failed its test and was "
                "dropped; the old one untouched); cancelled.",
            },
            "trigger": {"enum": ["manual", "scheduled"]},
            "started_at": TIMESTAMP,
            "released_at": NULLABLE_TIMESTAMP,
            "revoke_after": TIMESTAMP,
            "revoked_at": NULLABLE_TIMESTAMP,
            "finished_at": NULLABLE_TIMESTAMP,
            "forced": {"type": "boolean"},
            "error": {
                "type": ["string", "null"],
                "description": "What failed: the step and the error's class, never a credential.",
            },
            "instances": {
                "type": "object",
                "description": "Instances seen in the last ROTATION_INSTANCE_WINDOW_SECONDS: "
                "on the new credential (their release holds it) or on the old one.",
                "required": ["total", "on_new", "on_old"],
                "additionalProperties": False,
                "properties": {"total": COUNT, "on_new": COUNT, "on_old": COUNT},
            },
            "instances_on_old": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "release", "last_seen", "leaves_window_at"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string"},
                        "release": {"type": ["integer", "null"], "minimum": 1},
                        "last_seen": TIMESTAMP,
                        "leaves_window_at": TIMESTAMP,
                    },
                },
            },
            "next": {
                "type": "object",
                "description": "What happens next, and when (null: when someone acts).",
                "required": ["step", "at", "message"],
                "additionalProperties": False,
                "properties": {
                    "step": {
                        "enum": [
                            "create",
                            "apply",
                            "revoke",
                            "stuck",
                            "admin",
                            "end_sessions",
                            "done",
                        ]
                    },
                    "at": NULLABLE_TIMESTAMP,
                    "message": {"type": "string"},
                },
            },
        },
    },
    "RotationAnswer": {
        "type": "object",
        "required": ["rotation"],
        "additionalProperties": False,
        "properties": {"rotation": ref("Rotation")},
    },
    **ROTATION_FORCE.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/data-services/{service_id}/rotate": {
        "parameters": [DEPLOYMENT_ID, SERVICE_ID],
        "post": {
            "operationId": "rotateDataService",
            "summary": "Rotate a ready data service's credential (developer; admin for "
            "production): the worker creates a second one, tests it, releases it, and revokes "
            "the old one once no instance seen lately runs on it. 409 rotation_in_progress, "
            "not_ready. Audited as rotation.start.",
            "responses": {
                "202": json_content(ref("RotationAnswer"), "Started."),
                **errors(400, 401, 403, 404, 409, 500, 503),
            },
        },
    },
    "/deployments/{deployment_id}/data-services/{service_id}/rotations/{rotation_id}": {
        "parameters": [DEPLOYMENT_ID, SERVICE_ID, ROTATION_ID],
        "get": {
            "operationId": "getRotation",
            "summary": "A rotation: its state, the instances on the new and the old credential "
            "(those on the old listed), and what happens next and when.",
            "responses": {
                "200": json_content(ref("RotationAnswer"), "The rotation."),
                **errors(400, 401, 404, 500),
            },
        },
    },
    "/deployments/{deployment_id}/data-services/{service_id}/rotations/{rotation_id}/revoke": {
        "parameters": [DEPLOYMENT_ID, SERVICE_ID, ROTATION_ID],
        "post": {
            "operationId": "forceRotationRevoke",
            "summary": "Revoke the old credential now, whatever instances still run on it "
            f"(admin; a reason of at least {MIN_REASON} characters; while converging or "
            "stuck, else 409 not_forceable). Audited as rotation.force.",
            "requestBody": ROTATION_FORCE.request_body(),
            "responses": {
                "202": json_content(ref("RotationAnswer"), "The worker revokes it."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/data-services/{service_id}/rotations/{rotation_id}/cancel": {
        "parameters": [DEPLOYMENT_ID, SERVICE_ID, ROTATION_ID],
        "post": {
            "operationId": "cancelRotation",
            "summary": "Cancel a released, converging or stuck rotation: the binding returns to "
            "the old credential (a new config change) and the new one is revoked. 409 "
            "not_cancellable, rotation_busy. Audited as rotation.cancel.",
            "responses": {
                "202": json_content(ref("RotationAnswer"), "Cancelled."),
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
}
