"""Shared groups from an environment's side (SPEC §19): the groups it links, in order, and one
key's chain through groups, bindings and other environments (`explain`). The groups themselves
and their variables are in groups.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, resolver, rules, selectors, services
from ..errors import validated
from ..services.resolution import problem_error
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .groups import GROUP_NAME, REFUSALS
from .inputs import Body, Field, invalid
from .rows import deployment_ref, live_state
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    ENVIRONMENT_QUERY,
    KEY,
    LIVE_STATE,
    NUMBER,
    VARIABLE_KEY,
    errors,
    json_content,
    ref,
)


class GroupNames(Field):
    kind = ("array",)

    def clean(self, value: Any, pointer: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid("Give the groups as a list of names.", pointer)
        for position, name in enumerate(value):
            validated(rules.validate_group_name, name, field=f"{pointer}[{position}]")
        return value

    def base_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": GROUP_NAME}


LINKS = Body(
    "GroupLinksInput",
    groups=GroupNames(
        description="The groups, in order: a later one overrides an earlier one, and the "
        "environment's own variables override them all."
    ),
)


# Links


@api_endpoint("GET", "PUT", body={"PUT": LINKS})
def environment_groups(request: ApiRequest, name: str) -> HttpResponse:
    environment = lookups.environment(request.deployment, name, field="name")
    if request.method == "PUT":
        request.require(
            permissions.to_write_variables(environment),
            f"Linking groups to {environment.name}",
        )
        services.set_environment_groups(
            environment=environment, groups=request.body["groups"], actor=request.actor
        )
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "environment": environment.name,
            "groups": selectors.linked_groups(environment),
            **live_state(environment),
        }
    )


# Explain


@api_endpoint("GET")
def explain(request: ApiRequest, key: str) -> HttpResponse:
    environment = lookups.environment_param(request.query, request.deployment)
    reveal = lookups.true_or_false(request.query, "reveal")
    if reveal:
        request.require(permissions.TO_REVEAL, "Revealing values")
    try:
        if reveal:
            explanation, values = services.reveal_explanation(
                environment=environment, key=key, actor=request.actor
            )
        else:
            explanation, values = selectors.explain(environment, key), None
    except resolver.ReferenceProblem as problem:
        raise problem_error(problem) from None
    steps = []
    for position, step in enumerate(explanation.steps):
        item: dict[str, Any] = {
            "depth": step.depth,
            "source": step.source,
            "scope": step.scope,
            "key": step.key,
            "revision": step.revision,
            "is_secret": step.is_secret,
        }
        if values is not None and values[position] is not None:
            item["value"] = values[position]
        steps.append(item)
    answer: dict[str, Any] = {
        "deployment": deployment_ref(request.deployment),
        "environment": environment.name,
        "key": key,
        "is_secret": explanation.is_secret,
        "preview": explanation.preview,
        "steps": steps,
    }
    if values is not None and explanation.value is not None:
        answer["value"] = explanation.value
    return JsonResponse(answer)


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "EnvironmentGroups": {
        "type": "object",
        "required": ["deployment", "environment", "groups", "pending", "live_release"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "environment": ENVIRONMENT_NAME,
            "groups": {"type": "array", "items": GROUP_NAME},
            **LIVE_STATE,
        },
    },
    "Explanation": {
        "type": "object",
        "required": ["deployment", "environment", "key", "is_secret", "preview", "steps"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "environment": ENVIRONMENT_NAME,
            "key": VARIABLE_KEY,
            "is_secret": {"type": "boolean"},
            "preview": {"type": "string"},
            "value": {
                "type": "string",
                "description": "The resolved value: only with reveal=true (admins), and "
                "only for a key that is not, and reads no, secret.",
            },
            "steps": {
                "type": "array",
                "description": "The chain, depth first: the value that defines the key, then "
                "each value it references.",
                "items": {
                    "type": "object",
                    "required": ["depth", "source", "scope", "key", "revision", "is_secret"],
                    "additionalProperties": False,
                    "properties": {
                        "depth": {"type": "integer", "minimum": 0},
                        "source": {"enum": ["own", "binding", "group", "environment"]},
                        "scope": {
                            "type": "string",
                            "description": "The environment or group it is written in.",
                        },
                        "key": VARIABLE_KEY,
                        "revision": NUMBER,
                        "is_secret": {"type": "boolean"},
                        "value": {
                            "type": "string",
                            "description": "As written, with its references: only with "
                            "reveal=true, and only for a plain variable.",
                        },
                    },
                },
            },
        },
    },
    **LINKS.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/environments/{name}/groups": {
        "parameters": [
            DEPLOYMENT_ID,
            {"name": "name", "in": "path", "required": True, "schema": ENVIRONMENT_NAME},
        ],
        "get": {
            "operationId": "getEnvironmentGroups",
            "summary": "The groups an environment links, in order.",
            "responses": {
                "200": json_content(ref("EnvironmentGroups"), "The linked groups."),
                **errors(400, 401, 404, 500),
            },
        },
        "put": {
            "operationId": "setEnvironmentGroups",
            "summary": "Link groups, in order (a later one overrides an earlier one; the "
            "environment's own variables override them all). Role: as writing the "
            "environment's variables. A config change where what it resolves to changes. "
            + REFUSALS,
            "requestBody": LINKS.request_body(),
            "responses": {
                "200": json_content(ref("EnvironmentGroups"), "The linked groups."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500, 503),
            },
        },
    },
    "/deployments/{deployment_id}/env/{key}/explain": {
        "parameters": [DEPLOYMENT_ID, KEY],
        "get": {
            "operationId": "explainVariable",
            "summary": "One key's chain: each step's source (own, binding, group, another "
            "environment) and revision. reveal=true (admins, audited) adds the values of "
            "plain steps, and the resolved value unless it reads a secret.",
            "parameters": [
                ENVIRONMENT_QUERY,
                {
                    "name": "reveal",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["true", "false"]},
                },
            ],
            "responses": {
                "200": json_content(ref("Explanation"), "The chain."),
                **errors(400, 401, 403, 404, 500, 503),
            },
        },
    },
}
