"""Releases (SPEC §9, §10): the list, and what makes a new one live: deploy a version, promote
it to the next environment, apply staged changes, roll back to an earlier release."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import rules, selectors, services
from ..models import ChangeRequest, Release
from ..services.releases import ROLLBACK_CONFIG
from . import lookups, scope
from .change_requests import OPENED, REASON, may_release, opened
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Choice, Name, Number
from .rows import deployment_ref, release_row
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    ENVIRONMENT_QUERY,
    NUMBER,
    TIMESTAMP,
    errors,
    json_content,
    page_parameters,
    ref,
)

# Request bodies ---------------------------------------------------------------------------

DEPLOY = Body("DeployInput", environment=Name(), version=Number(), reason=REASON)
PROMOTE = Body(
    "PromoteInput",
    **{
        "from": Name(),
        "to": Name(
            required=False,
            description="Must be `from`'s promotion target (else 409 wrong_target).",
        ),
        "expected_version": Number(
            required=False,
            nullable=True,
            description="The version you believe `to` runs now (null: nothing); if it runs "
            "another, 409 stale and nothing moves. Left out, whatever it runs is replaced.",
        ),
        "reason": REASON,
    },
)
APPLY = Body(
    "ApplyInput",
    environment=Name(),
    expected_revision=Number(
        required=False,
        description="The config revision you reviewed; if the environment has moved on, 409 "
        "stale and nothing goes live.",
    ),
    reason=REASON,
)
ROLLBACK = Body(
    "RollbackInput",
    environment=Name(),
    release=Number(description="That environment's release number."),
    config=Choice(
        ROLLBACK_CONFIG,
        default="restore",
        message="config is restore (the release's version and configuration) or keep (its "
        "version with the current configuration).",
        description="restore: the release's version and its configuration; keep: its version "
        "with the current configuration.",
    ),
    reason=REASON,
)


# The release list ---------------------------------------------------------------------------


@api_endpoint("GET")
def release_list(request: ApiRequest) -> HttpResponse:
    environment = lookups.environment_param(request.query, request.deployment)
    releases = lookups.page(request.query, lambda **page: selectors.releases(environment, **page))
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "environment": environment.name,
            "releases": [release_row(environment, release) for release in releases],
            "next": releases.next,
        }
    )


# New releases -------------------------------------------------------------------------------


@api_endpoint("POST", body={"POST": DEPLOY})
def deploy(request: ApiRequest) -> HttpResponse:
    deployment = request.deployment
    environment = lookups.environment(deployment, request.body["environment"])
    releasing = may_release(request, environment, f"Deploying to {environment.name}")
    number = request.body["version"]
    version = selectors.find_version(deployment, number) if number <= rules.MAX_NUMBER else None
    if version is None:
        raise ApiError(404, "not_found", f"{deployment.name} has no v{number}.", field="version")
    release = services.deploy_version(
        environment=environment,
        version=version,
        actor=request.actor,
        reason=request.body.get("reason", ""),
        may_release=releasing,
    )
    if isinstance(release, ChangeRequest):
        return opened(release)
    return JsonResponse(release_row(environment, release), status=201)


@api_endpoint("POST", body={"POST": PROMOTE})
def promote(request: ApiRequest) -> HttpResponse:
    """Promote `from`'s active version into its promotion target. `to`, when given, must be
    that target (409 wrong_target otherwise: a CI job never promotes somewhere it did not
    expect). `expected_version` is what the caller believes `to` runs now (null: nothing);
    left out, whatever it runs when the lock is taken is replaced."""
    body, deployment = request.body, request.deployment
    source = lookups.environment(deployment, body["from"])
    target = source.promotes_to
    if target is None:
        raise ApiError(409, "no_target", f"{source.name} does not promote to another environment.")
    if "to" in body and body["to"] != target.name:
        raise ApiError(
            409,
            "wrong_target",
            f"{source.name} promotes to {target.name}, not {body['to']}.",
            field="to",
        )
    scope.check(target)
    releasing = may_release(request, target, f"Promoting to {target.name}")
    if source.active_version is None:
        raise ApiError(409, "nothing_to_promote", f"Nothing is deployed in {source.name} yet.")
    release = services.promote(
        source=source,
        version_number=source.active_version.number,
        expected_target_version=body.get("expected_version", services.ANY_VERSION),
        target_id=target.pk,
        actor=request.actor,
        reason=body.get("reason", ""),
        may_release=releasing,
    )
    if isinstance(release, ChangeRequest):
        return opened(release)
    target.deployment = deployment
    return JsonResponse(release_row(target, release), status=201)


@api_endpoint("POST", body={"POST": APPLY})
def apply_changes(request: ApiRequest) -> HttpResponse:
    environment = lookups.environment(request.deployment, request.body["environment"])
    releasing = may_release(request, environment, f"Applying changes in {environment.name}")
    release = services.apply_changes(
        environment=environment,
        actor=request.actor,
        expected_revision=request.body.get("expected_revision"),
        reason=request.body.get("reason", ""),
        may_release=releasing,
    )
    if isinstance(release, ChangeRequest):
        return opened(release)
    return JsonResponse(release_row(environment, release), status=201)


@api_endpoint("POST", body={"POST": ROLLBACK})
def rollback(request: ApiRequest) -> HttpResponse:
    environment = lookups.environment(request.deployment, request.body["environment"])
    releasing = may_release(request, environment, f"Rolling back {environment.name}")
    release = services.rollback(
        environment=environment,
        release=request.body["release"],
        config=request.body["config"],
        actor=request.actor,
        reason=request.body.get("reason", ""),
        may_release=releasing,
    )
    if isinstance(release, ChangeRequest):
        return opened(release)
    return JsonResponse(release_row(environment, release), status=201)


# OpenAPI ----------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "Release": {
        "type": "object",
        "description": "A version and a config revision, live together (SPEC §9). "
        "Releases are never edited or deleted.",
        "required": [
            "environment",
            "number",
            "version",
            "config_revision",
            "kind",
            "actor",
            "created_at",
        ],
        "additionalProperties": False,
        "properties": {
            "environment": ENVIRONMENT_NAME,
            "number": {**NUMBER, "description": "1, 2, 3… per environment."},
            "version": NUMBER,
            "config_revision": NUMBER,
            "kind": {"enum": list(Release.Kind.values)},
            "actor": {"type": "string"},
            "created_at": TIMESTAMP,
            "rollback_of": {
                **NUMBER,
                "description": "For a rollback: the release it went back to.",
            },
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": "rollback"}}},
                "then": {"required": ["rollback_of"], "properties": {"rollback_of": NUMBER}},
                "else": {"properties": {"rollback_of": False}},
            }
        ],
    },
    "ReleaseList": {
        "type": "object",
        "required": ["deployment", "environment", "releases", "next"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "environment": ENVIRONMENT_NAME,
            "releases": {
                "type": "array",
                "description": "Newest first.",
                "items": ref("Release"),
            },
            "next": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "Pass it as `before` for the next (older) page; null on "
                "the last page.",
            },
        },
    },
    **DEPLOY.component(),
    **PROMOTE.component(),
    **APPLY.component(),
    **ROLLBACK.component(),
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/releases": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listReleases",
            "summary": "An environment's releases, newest first, a page at a time: pass the "
            "answer's `next` as `before` for the next page (null on the last one).",
            "parameters": [ENVIRONMENT_QUERY, *page_parameters("releases")],
            "responses": {
                "200": json_content(ref("ReleaseList"), "A page of releases."),
                **errors(400, 401, 404, 500),
            },
        },
    },
    "/deployments/{deployment_id}/apply": {
        "parameters": [DEPLOYMENT_ID],
        "post": {
            "operationId": "applyChanges",
            "summary": "Make a staged environment's pending changes live: a release of the "
            "same version with the current config revision. Production needs admin, other "
            "environments developer. Audited as release.apply.",
            "requestBody": APPLY.request_body(),
            "responses": {
                "201": json_content(ref("Release"), "The new live release."),
                "202": OPENED,
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/rollback": {
        "parameters": [DEPLOYMENT_ID],
        "post": {
            "operationId": "rollback",
            "summary": "Go back to an earlier release's version, with its configuration "
            "(restore, the default) or with the current one (keep): a new release; "
            "nothing is rewritten. Production needs admin, other environments developer. "
            "Audited as release.rollback.",
            "requestBody": ROLLBACK.request_body(),
            "responses": {
                "201": json_content(ref("Release"), "The new live release."),
                "202": OPENED,
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/deploy": {
        "parameters": [DEPLOYMENT_ID],
        "post": {
            "operationId": "deploy",
            "summary": "Make a version active in an environment: a release with the "
            "environment's current configuration (production needs admin). 409 "
            "already_active, staging_first (production takes only a version that ran in "
            "staging) or missing_required_keys. Audited as version.deploy.",
            "requestBody": DEPLOY.request_body(),
            "responses": {
                "201": json_content(ref("Release"), "The new live release."),
                "202": OPENED,
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/promote": {
        "parameters": [DEPLOYMENT_ID],
        "post": {
            "operationId": "promote",
            "summary": "Copy `from`'s active version into its promotion target; the target "
            "keeps its own configuration (role as deploying into the target). 409 stale "
            "(the target no longer runs expected_version), staging_first, wrong_target, "
            "no_target, nothing_to_promote, already_active or missing_required_keys. "
            "Audited as version.promote.",
            "requestBody": PROMOTE.request_body(),
            "responses": {
                "201": json_content(ref("Release"), "The target's new live release."),
                "202": OPENED,
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
}
