"""The deployments the token's user can see, with their environments (SPEC §4)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import rules, selectors
from ..models import OidcToken
from . import scope
from .endpoint import ApiRequest, api_endpoint
from .schemas import ENVIRONMENT_NAME, errors, json_content, ref


@api_endpoint("GET")
def deployment_list(request: ApiRequest) -> HttpResponse:
    if isinstance(request.token, OidcToken):
        deployments = selectors.oidc_token_deployments(request.token)
    else:
        deployments = selectors.deployments_for_user(request.user)
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
                        for environment in scope.visible(
                            selectors.production_first(deployment.environments.all())
                        )
                    ],
                }
                for deployment in deployments
            ]
        }
    )


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "DeploymentList": {
        "type": "object",
        "required": ["deployments"],
        "additionalProperties": False,
        "properties": {
            "deployments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "environments"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer", "minimum": 1},
                        "name": {"type": "string", "pattern": rules.DEPLOYMENT_NAME_RE},
                        "environments": {
                            "type": "array",
                            "description": "production, staging, then the others by name.",
                            "items": {
                                "type": "object",
                                "required": [
                                    "name",
                                    "version",
                                    "promotes_to",
                                    "release",
                                    "pending",
                                ],
                                "additionalProperties": False,
                                "properties": {
                                    "name": ENVIRONMENT_NAME,
                                    "version": {
                                        "type": ["integer", "null"],
                                        "minimum": 1,
                                        "description": "The active version; null when "
                                        "nothing is deployed.",
                                    },
                                    "promotes_to": {"type": ["string", "null"]},
                                    "release": {
                                        "type": ["integer", "null"],
                                        "minimum": 1,
                                        "description": "The live release's number; null "
                                        "before the first deploy.",
                                    },
                                    "pending": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "description": "How many keys were added, changed or "
                                        "removed since the live release and wait for an "
                                        "apply (staged environments).",
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    },
}

PATHS: dict[str, Any] = {
    "/deployments": {
        "get": {
            "operationId": "listDeployments",
            "summary": "The deployments the token's user can see, with their environments.",
            "responses": {
                "200": json_content(ref("DeploymentList"), "The visible deployments."),
                **errors(400, 401, 500),
            },
        }
    },
}
