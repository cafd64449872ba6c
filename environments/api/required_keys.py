"""The keys every release of a deployment must define (SPEC §9)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, services
from .endpoint import ApiRequest, api_endpoint
from .inputs import Body, KeyList
from .rows import deployment_ref
from .schemas import DEPLOYMENT_ID, DEPLOYMENT_REF, VARIABLE_KEY, errors, json_content, ref

REQUIRED_KEYS = Body("RequiredKeysInput", keys=KeyList())


@api_endpoint(
    "GET",
    "PUT",
    body={"PUT": REQUIRED_KEYS},
    need={"PUT": (permissions.TO_MANAGE_REQUIRED_KEYS, "Setting required keys")},
)
def required_keys(request: ApiRequest) -> HttpResponse:
    deployment = request.deployment
    keys = deployment.required_keys
    if request.method == "PUT":
        keys = services.set_required_keys(
            deployment=deployment, keys=request.body["keys"], actor=request.actor
        )
    return JsonResponse({"deployment": deployment_ref(deployment), "keys": keys})


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
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
    **REQUIRED_KEYS.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/required-keys": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "getRequiredKeys",
            "summary": "The keys every release of the deployment must define.",
            "responses": {
                "200": json_content(ref("RequiredKeys"), "The required keys."),
                **errors(400, 401, 404, 500),
            },
        },
        "put": {
            "operationId": "setRequiredKeys",
            "summary": "Replace the required keys (admin). A deploy, promotion, apply or "
            "rollback whose configuration lacks one is then refused with 409 "
            "missing_required_keys. Audited as required_keys.set.",
            "requestBody": REQUIRED_KEYS.request_body(),
            "responses": {
                "200": json_content(ref("RequiredKeys"), "The required keys, as stored."),
                **errors(400, 401, 403, 404, 413, 415, 500),
            },
        },
    },
}
