"""Versions of a deployment (SPEC §10): the builds CI registers, newest first."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..models import Version
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .inputs import Body, Text
from .rows import deployment_ref, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    NEXT,
    NUMBER,
    TIMESTAMP,
    errors,
    json_content,
    page_parameters,
    ref,
)

VERSION = Body(
    "VersionInput",
    label=Text(
        default="",
        states={"maxLength": rules.MAX_VERSION_LABEL},
        description=f"A git ref or short sha, say; at most {rules.MAX_VERSION_LABEL} "
        "characters (blanks around it are dropped).",
    ),
    notes=Text(
        default="",
        description=f"At most {rules.MAX_VERSION_NOTES_BYTES // 1024} KiB "
        f"({rules.MAX_VERSION_NOTES_BYTES} bytes of UTF-8); more is a 413 notes_too_large.",
    ),
)


def version_row(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "label": version.label,
        "notes": version.notes,
        "created_at": timestamp(version.created_at),
        "created_by": version.created_by.get_username() if version.created_by else None,
    }


@api_endpoint(
    "GET",
    "POST",
    body={"POST": VERSION},
    need={"POST": (permissions.TO_CREATE_VERSIONS, "Registering versions")},
)
def versions(request: ApiRequest) -> HttpResponse:
    deployment = request.deployment
    if request.method == "POST":
        version = services.create_version(
            deployment=deployment,
            label=request.body["label"],
            notes=request.body["notes"],
            actor=request.actor,
        )
        version.created_by = request.user
        return JsonResponse(version_row(version), status=201)
    found = lookups.page(request.query, lambda **page: selectors.versions(deployment, **page))
    return JsonResponse(
        {
            "deployment": deployment_ref(deployment),
            "versions": [version_row(version) for version in found],
            "next": found.next,
        }
    )


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "Version": {
        "type": "object",
        "description": "A build of the deployment, numbered 1, 2, 3… (never reused).",
        "required": ["number", "label", "notes", "created_at", "created_by"],
        "additionalProperties": False,
        "properties": {
            "number": NUMBER,
            "label": {"type": "string", "maxLength": rules.MAX_VERSION_LABEL},
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
                "items": ref("Version"),
            },
            "next": NEXT,
        },
    },
    **VERSION.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/versions": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listVersions",
            "summary": "The deployment's versions, newest first, a page at a time: pass "
            "the answer's `next` as `before` for the next page.",
            "parameters": page_parameters("versions"),
            "responses": {
                "200": json_content(ref("VersionList"), "A page of versions."),
                **errors(400, 401, 404, 500),
            },
        },
        "post": {
            "operationId": "createVersion",
            "summary": "Register a version (developer). Audited as version.create.",
            "requestBody": VERSION.request_body(),
            "responses": {
                "201": json_content(ref("Version"), "The new version."),
                **errors(400, 401, 403, 404, 413, 415, 500),
            },
        },
    },
}
