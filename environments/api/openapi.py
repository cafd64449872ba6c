"""The OpenAPI 3.1 description of the JSON API, served at /api/v1/openapi.json.

Assembled from the resource modules: each holds its views, their request bodies (declared once,
see inputs.py) and its PATHS and SCHEMAS. Tests validate real responses of every endpoint
against it (tests/api/test_openapi.py), and requests: what the document says a body may hold
is what the views accept (tests/api/test_openapi_requests.py).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from . import (
    bindings,
    change_requests,
    data_services,
    deployments,
    domains,
    env_import,
    environments,
    group_links,
    groups,
    oidc,
    releases,
    required_keys,
    rotations,
    runtime,
    tokens,
    variables,
    versions,
    webhooks,
)
from .endpoint import PUBLIC, api_endpoint
from .schemas import ERROR_SCHEMA, error_responses, json_content

# In the order the document lists them.
RESOURCES = (
    deployments,
    variables,
    env_import,
    releases,
    required_keys,
    versions,
    environments,
    groups,
    group_links,
    bindings,
    data_services,
    rotations,
    domains,
    tokens,
    runtime,
    oidc,
    webhooks,
    change_requests,
)

PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": json_content({"type": "object"}, "The OpenAPI document."),
                "400": {"$ref": "#/components/responses/E400"},
            },
        }
    },
}


def _merged(part: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for module in RESOURCES:
        clash = merged.keys() & getattr(module, part).keys()
        if clash:
            raise ValueError(f"{module.__name__} declares {sorted(clash)} again")
        merged |= getattr(module, part)
    return merged


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "MIOSA Environments API",
        "version": "1.0.0",
        "description": "Per-environment variables, write-only secrets and bindings of MIOSA "
        "deployments, and the runtime boot endpoint. Send tokens only in the header "
        "`Authorization: Bearer <token>`: a token in the query string is refused with 400. "
        'Every error is `{"error": {"code", "message", "field"?}}`; a method a path does not '
        "list is answered 405 with that body and an `Allow` header, an unknown path 404. "
        "A whole number in a body is written without a fraction: 532, not 532.0 (a 400).",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"apiToken": []}],
    "paths": _merged("PATHS") | PATHS,
    "components": {
        "securitySchemes": {
            "apiToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token, mio_pat_…, acting with its user's roles; "
                "or a token from an OIDC exchange, mio_oidc_…, acting on one deployment's CI "
                "endpoints with its trust policy's role and environments (POST /oidc/token).",
            },
            "runtimeToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A runtime token, mio_rt_…, scoped to one environment.",
            },
        },
        "schemas": {"Error": ERROR_SCHEMA, **_merged("SCHEMAS")},
        "responses": error_responses(),
    },
}


@api_endpoint("GET", auth=PUBLIC)
def openapi_document(request: HttpRequest) -> HttpResponse:
    return JsonResponse(DOCUMENT)
