"""Domains (SPEC §10): hostnames routed to an environment."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..models import Domain
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Name, Text
from .rows import deleted, deployment_ref, live_state, timestamp
from .schemas import (
    DELETED_WITH_PENDING,
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    LIVE_STATE,
    OPTIONAL_ENVIRONMENT_QUERY,
    TIMESTAMP,
    errors,
    json_content,
    ref,
)

DOMAIN = Body(
    "DomainInput",
    environment=Name(),
    hostname=Text(
        check=rules.validate_hostname,
        states={"minLength": 1, "maxLength": 253},
        example="shop.example.com",
        description="Lower-cased and IDNA-encoded; RFC 1123 labels, at least one dot; the "
        "apex domain only on production.",
    ),
)


def domain_row(domain: Domain) -> dict[str, Any]:
    return {
        "hostname": domain.hostname,
        "environment": domain.environment.name,
        "created_at": timestamp(domain.created_at),
    }


@api_endpoint(
    "GET",
    "POST",
    body={"POST": DOMAIN},
    need={"POST": (permissions.TO_MANAGE_DOMAINS, "Adding domains")},
)
def domains(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        environment = lookups.environment(request.deployment, request.body["environment"])
        domain = services.add_domain(
            environment=environment,
            hostname=request.body["hostname"],
            visible_deployment_ids=selectors.visible_deployment_ids(request.user),
            actor=request.actor,
        )
        domain.environment = environment
        return JsonResponse(domain_row(domain) | live_state(environment), status=201)
    rows = selectors.deployment_domains(
        lookups.environments_param(request.query, request.deployment)
    )
    return JsonResponse(
        {"deployment": deployment_ref(request.deployment), "domains": [domain_row(d) for d in rows]}
    )


@api_endpoint("DELETE", need={"DELETE": (permissions.TO_MANAGE_DOMAINS, "Removing domains")})
def domain_detail(request: ApiRequest, hostname: str) -> HttpResponse:
    try:
        hostname = rules.validate_hostname(hostname)
    except ValidationError:
        hostname = ""  # a hostname that cannot be attached is simply not there
    if not hostname:
        raise ApiError(404, "not_found", f"{request.deployment.name} has no such domain.")
    domain = selectors.deployment_domain(request.deployment, hostname)
    services.remove_domain(domain=domain, actor=request.actor)
    return deleted(domain.environment)


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "Domain": {
        "type": "object",
        "required": ["hostname", "environment", "created_at"],
        "additionalProperties": False,
        "properties": {
            "hostname": {"type": "string", "maxLength": 253},
            "environment": ENVIRONMENT_NAME,
            "created_at": TIMESTAMP,
        },
    },
    "WrittenDomain": {
        "type": "object",
        "required": ["hostname", "environment", "created_at", "pending", "live_release"],
        "additionalProperties": False,
        "properties": {
            "hostname": {"type": "string", "maxLength": 253},
            "environment": ENVIRONMENT_NAME,
            "created_at": TIMESTAMP,
            **LIVE_STATE,
        },
    },
    "DomainList": {
        "type": "object",
        "required": ["deployment", "domains"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "domains": {"type": "array", "items": ref("Domain")},
        },
    },
    **DOMAIN.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/domains": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listDomains",
            "summary": "The domains routed to the deployment's environments.",
            "parameters": [OPTIONAL_ENVIRONMENT_QUERY],
            "responses": {
                "200": json_content(ref("DomainList"), "The domains, by hostname."),
                **errors(400, 401, 404, 500),
            },
        },
        "post": {
            "operationId": "addDomain",
            "summary": "Route a hostname to an environment (admin). 409 domain_taken when "
            "it is attached anywhere (a deployment you cannot see is not named). Audited "
            "as domain.add.",
            "requestBody": DOMAIN.request_body(),
            "responses": {
                "201": json_content(ref("WrittenDomain"), "The domain."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/domains/{hostname}": {
        "parameters": [
            DEPLOYMENT_ID,
            {"name": "hostname", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "delete": {
            "operationId": "removeDomain",
            "summary": "Remove a domain (admin). Audited as domain.remove.",
            "responses": {
                "204": DELETED_WITH_PENDING,
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
}
