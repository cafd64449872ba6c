"""Protected environments and change requests (SPEC §15): an environment's protection, the
requests a deploy, promotion, apply or rollback opens in it, and their review and apply."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..models import ChangeRequest, Environment, Protection
from ..models.change_requests import (
    MAX_COMMENT,
    MAX_REASON,
    MAX_REQUIRED_APPROVALS,
    MIN_BREAK_GLASS_REASON,
)
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Field, Flag, Text, invalid, whole_number
from .rows import release_row, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    ENVIRONMENT_NAME,
    NULLABLE_NUMBER,
    NUMBER,
    TIMESTAMP,
    errors,
    json_content,
    ref,
)


class Approvals(Field):
    """How many approvals a release needs: 0 (protection off) to 5."""

    kind = ("integer",)

    def clean(self, value: Any, pointer: str) -> int:
        number = whole_number(value)
        if number is None or not 0 <= number <= MAX_REQUIRED_APPROVALS:
            raise invalid(
                f"required_approvals is a whole number from 0 (off) to {MAX_REQUIRED_APPROVALS}.",
                pointer,
            )
        return number

    def base_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": 0, "maximum": MAX_REQUIRED_APPROVALS}


# Request bodies ---------------------------------------------------------------------------

PROTECTION = Body(
    "ProtectionInput",
    required_approvals=Approvals(
        description="Approvals a release needs, from distinct reviewers (admins and owners "
        "other than its author); 0 turns protection off."
    ),
    allow_self_approval=Flag(
        required=False, description="Whether the author's own approval counts. Default false."
    ),
    break_glass=Flag(
        required=False,
        description="Whether an owner may apply an open request without approvals, with a "
        "reason. Default true.",
    ),
)
REVIEW = Body(
    "ReviewInput",
    comment=Text(required=False, max_length=MAX_COMMENT, description="Shown with the review."),
)
APPLY_REQUEST = Body(
    "ApplyRequestInput",
    break_glass=Flag(
        required=False,
        description="Owners, where the policy allows: apply without the approvals (audited "
        "as change_request.break_glass). Needs a reason.",
    ),
    reason=Text(
        required=False,
        max_length=MAX_REASON,
        description=f"With break_glass: why, in at least {MIN_BREAK_GLASS_REASON} characters.",
    ),
)

# What every body that opens a request accepts (api/releases.py adds it to theirs).
REASON = Text(
    required=False,
    max_length=MAX_REASON,
    description="Why: shown to the reviewers when the environment is protected.",
)


# Rows ---------------------------------------------------------------------------------------


def protection_row(environment: Environment, protection: Protection | None) -> dict[str, Any]:
    return {
        "environment": environment.name,
        "required_approvals": protection.required_approvals if protection else 0,
        "allow_self_approval": protection.allow_self_approval if protection else False,
        "break_glass": protection.break_glass if protection else True,
    }


def change_request_row(request: ChangeRequest) -> dict[str, Any]:
    """Exactly the fields of SPEC §15; never a value."""
    target: dict[str, Any] = {
        "version": request.version.number,
        "config_revision": request.config_revision,
    }
    if request.source_environment:
        target["source"] = request.source_environment
    if request.rollback_of is not None:
        target["rollback_of"] = request.rollback_of
    return {
        "id": request.pk,
        "environment": request.environment.name,
        "kind": request.kind,
        "base_release": request.base_release,
        "base_revision": request.base_revision,
        "target": target,
        "author": request.author_label,
        "reason": request.reason,
        "state": request.state,
        "approvals": [
            {
                "reviewer": review.reviewer_label,
                "decision": review.decision,
                "comment": review.comment,
                "created_at": timestamp(review.created_at),
            }
            for review in request.reviews.all()
        ],
        "required_approvals": request.required_approvals,
        "expires_at": timestamp(request.expires_at),
    }


def opened(request: ChangeRequest) -> HttpResponse:
    """The answer of a deploy, promotion, apply or rollback into a protected environment."""
    request = selectors.get_change_request(request.deployment, request.pk)
    return JsonResponse({"change_request": change_request_row(request)}, status=202)


def may_release(api: ApiRequest, environment: Environment, what: str) -> bool:
    """403 unless the caller may release into `environment` or, protected, ask to; True when
    they may release (an unprotected environment then releases at once)."""
    api.require(selectors.need_to_release(environment), what)
    return permissions.has_role(api.role, permissions.to_deploy_into(environment))


# Protection ---------------------------------------------------------------------------------


def _environment(api: ApiRequest, name: str) -> Environment:
    try:
        name = rules.validate_environment_name(name)
    except ValidationError:
        raise ApiError(
            404, "not_found", f"{api.deployment.name} has no such environment."
        ) from None
    return lookups.environment(api.deployment, name)


@api_endpoint(
    "GET",
    "PUT",
    body={"PUT": PROTECTION},
    need={"PUT": (permissions.TO_PROTECT, "Protecting an environment")},
)
def protection(request: ApiRequest, name: str) -> HttpResponse:
    environment = _environment(request, name)
    if request.method == "PUT":
        body = request.body
        services.set_protection(
            environment=environment,
            required_approvals=body["required_approvals"],
            allow_self_approval=body.get("allow_self_approval", False),
            break_glass=body.get("break_glass", True),
            actor=request.actor,
        )
    found = selectors.protection_of(environment)
    return JsonResponse({"protection": protection_row(environment, found)})


# Requests -----------------------------------------------------------------------------------


@api_endpoint("GET")
def change_request_list(request: ApiRequest) -> HttpResponse:
    state = request.query.get("state")
    if state is not None and state not in ChangeRequest.State.values:
        raise ApiError(
            400, "invalid", f"state is {', '.join(ChangeRequest.State.values)}.", field="state"
        )
    name = request.query.get("environment")
    environment = (
        lookups.environment(request.deployment, lookups.environment_name(name)) if name else None
    )
    rows = selectors.change_requests(request.deployment, state=state, environment=environment)
    return JsonResponse({"change_requests": [change_request_row(r) for r in rows]})


def _request(api: ApiRequest, cid: int) -> ChangeRequest:
    return selectors.get_change_request(api.deployment, cid)


def _answer(api: ApiRequest, request: ChangeRequest) -> HttpResponse:
    fresh = selectors.get_change_request(api.deployment, request.pk)
    return JsonResponse({"change_request": change_request_row(fresh)})


@api_endpoint("GET")
def change_request_detail(request: ApiRequest, cid: int) -> HttpResponse:
    return JsonResponse({"change_request": change_request_row(_request(request, cid))})


@api_endpoint(
    "POST",
    body={"POST": REVIEW},
    need={"POST": (permissions.TO_REVIEW_CHANGES, "Approving a change request")},
)
def change_request_approve(request: ApiRequest, cid: int) -> HttpResponse:
    found = _request(request, cid)
    services.approve_change_request(
        change_request=found, actor=request.actor, comment=request.body.get("comment", "")
    )
    return _answer(request, found)


@api_endpoint(
    "POST",
    body={"POST": REVIEW},
    need={"POST": (permissions.TO_REVIEW_CHANGES, "Rejecting a change request")},
)
def change_request_reject(request: ApiRequest, cid: int) -> HttpResponse:
    found = _request(request, cid)
    services.reject_change_request(
        change_request=found, actor=request.actor, comment=request.body.get("comment", "")
    )
    return _answer(request, found)


@api_endpoint("POST", body={"POST": APPLY_REQUEST})
def change_request_apply(request: ApiRequest, cid: int) -> HttpResponse:
    found = _request(request, cid)
    break_glass = request.body.get("break_glass", False)
    if break_glass:
        request.require(permissions.TO_BREAK_GLASS, "Break-glass")
    else:
        request.require(permissions.TO_REVIEW_CHANGES, "Applying a change request")
    applied = services.apply_change_request(
        change_request=found,
        actor=request.actor,
        break_glass=break_glass,
        reason=request.body.get("reason", ""),
    )
    fresh = selectors.get_change_request(request.deployment, found.pk)
    return JsonResponse(
        {
            "change_request": change_request_row(fresh),
            "release": release_row(fresh.environment, applied.release),
        }
    )


@api_endpoint("POST")
def change_request_cancel(request: ApiRequest, cid: int) -> HttpResponse:
    found = _request(request, cid)
    is_author = found.author_id is not None and found.author_id == request.user.pk
    if not is_author:
        request.require(permissions.TO_PROTECT, "Cancelling another member's change request")
    services.cancel_change_request(change_request=found, actor=request.actor)
    return _answer(request, found)


# OpenAPI ----------------------------------------------------------------------------------

CID = {"name": "cid", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
ENVIRONMENT_PATH = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The environment's name; its '/' may be written as it is.",
}

SCHEMAS: dict[str, Any] = {
    "Protection": {
        "type": "object",
        "required": ["protection"],
        "additionalProperties": False,
        "properties": {
            "protection": {
                "type": "object",
                "required": [
                    "environment",
                    "required_approvals",
                    "allow_self_approval",
                    "break_glass",
                ],
                "additionalProperties": False,
                "properties": {
                    "environment": ENVIRONMENT_NAME,
                    "required_approvals": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_REQUIRED_APPROVALS,
                    },
                    "allow_self_approval": {"type": "boolean"},
                    "break_glass": {"type": "boolean"},
                },
            }
        },
    },
    "ChangeRequest": {
        "type": "object",
        "description": "A release asked for in a protected environment (SPEC §15). Never "
        "holds a value.",
        "required": [
            "id",
            "environment",
            "kind",
            "base_release",
            "base_revision",
            "target",
            "author",
            "reason",
            "state",
            "approvals",
            "required_approvals",
            "expires_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": NUMBER,
            "environment": ENVIRONMENT_NAME,
            "kind": {"enum": list(ChangeRequest.Kind.values)},
            "base_release": {
                **NULLABLE_NUMBER,
                "description": "The live release when it was opened (null: none yet).",
            },
            "base_revision": {
                **NUMBER,
                "description": "The config revision when it was opened, pending changes included.",
            },
            "target": {
                "type": "object",
                "required": ["version", "config_revision"],
                "additionalProperties": False,
                "properties": {
                    "version": NUMBER,
                    "config_revision": NUMBER,
                    "source": ENVIRONMENT_NAME,
                    "rollback_of": NUMBER,
                },
            },
            "author": {"type": "string"},
            "reason": {"type": "string"},
            "state": {"enum": list(ChangeRequest.State.values)},
            "approvals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["reviewer", "decision", "comment", "created_at"],
                    "additionalProperties": False,
                    "properties": {
                        "reviewer": {"type": "string"},
                        "decision": {"enum": ["approve", "reject"]},
                        "comment": {"type": "string"},
                        "created_at": TIMESTAMP,
                    },
                },
            },
            "required_approvals": {"type": "integer", "minimum": 0},
            "expires_at": TIMESTAMP,
        },
    },
    "ChangeRequestAnswer": {
        "type": "object",
        "required": ["change_request"],
        "additionalProperties": False,
        "properties": {"change_request": ref("ChangeRequest")},
    },
    "ChangeRequestApplied": {
        "type": "object",
        "required": ["change_request", "release"],
        "additionalProperties": False,
        "properties": {"change_request": ref("ChangeRequest"), "release": ref("Release")},
    },
    "ChangeRequestList": {
        "type": "object",
        "required": ["change_requests"],
        "additionalProperties": False,
        "properties": {
            "change_requests": {
                "type": "array",
                "description": "Newest first (the latest 100).",
                "items": ref("ChangeRequest"),
            }
        },
    },
    **PROTECTION.component(),
    **REVIEW.component(),
    **APPLY_REQUEST.component(),
}

OPENED = json_content(
    ref("ChangeRequestAnswer"),
    "The environment is protected: no release was made; a change request was opened.",
)
REQUEST_PATH = "/deployments/{deployment_id}/change-requests/{cid}"


def _review_path(action: str, summary: str, body: Body | None, answer: dict[str, Any]) -> dict:
    operation: dict[str, Any] = {"operationId": f"{action}ChangeRequest", "summary": summary}
    if body is not None:
        operation["requestBody"] = body.request_body()
        operation["responses"] = {"200": answer, **errors(400, 401, 403, 404, 409, 413, 415, 500)}
    else:
        operation["responses"] = {"200": answer, **errors(400, 401, 403, 404, 409, 500)}
    return {"parameters": [DEPLOYMENT_ID, CID], "post": operation}


ANSWER = json_content(ref("ChangeRequestAnswer"), "The change request.")

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/environments/{name}/protection": {
        "parameters": [DEPLOYMENT_ID, ENVIRONMENT_PATH],
        "get": {
            "operationId": "getProtection",
            "summary": "The environment's protection (0 approvals: unprotected).",
            "responses": {
                "200": json_content(ref("Protection"), "The protection."),
                **errors(400, 401, 404, 500),
            },
        },
        "put": {
            "operationId": "setProtection",
            "summary": "Protect an environment (owner): deploys, promotions, applies and "
            "rollbacks into it open change requests. Audited as environment.protection.",
            "requestBody": PROTECTION.request_body(),
            "responses": {
                "200": json_content(ref("Protection"), "The protection."),
                **errors(400, 401, 403, 404, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/change-requests": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listChangeRequests",
            "summary": "The deployment's change requests, newest first.",
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": list(ChangeRequest.State.values)},
                },
                {
                    "name": "environment",
                    "in": "query",
                    "required": False,
                    "schema": ENVIRONMENT_NAME,
                },
            ],
            "responses": {
                "200": json_content(ref("ChangeRequestList"), "The requests."),
                **errors(400, 401, 404, 500),
            },
        },
    },
    REQUEST_PATH: {
        "parameters": [DEPLOYMENT_ID, CID],
        "get": {
            "operationId": "getChangeRequest",
            "summary": "One change request.",
            "responses": {"200": ANSWER, **errors(400, 401, 404, 500)},
        },
    },
    f"{REQUEST_PATH}/approve": _review_path(
        "approve",
        "Approve (admin or owner; not its author unless self-approval is allowed: 409 "
        "self_approval). Audited as change_request.approve.",
        REVIEW,
        ANSWER,
    ),
    f"{REQUEST_PATH}/reject": _review_path(
        "reject",
        "Reject (admin or owner): the request is closed. Audited as change_request.reject.",
        REVIEW,
        ANSWER,
    ),
    f"{REQUEST_PATH}/apply": _review_path(
        "apply",
        "Make the release, if approved (409 not_approved) and if the environment's live "
        "release and config revision still equal the request's base (else 409 stale, and the "
        "request becomes stale). Admin; break_glass: owner. Audited as change_request.apply "
        "or change_request.break_glass.",
        APPLY_REQUEST,
        json_content(ref("ChangeRequestApplied"), "The request and its release."),
    ),
    f"{REQUEST_PATH}/cancel": _review_path(
        "cancel",
        "Withdraw an open request (its author, or an owner). Audited as change_request.cancel.",
        None,
        ANSWER,
    ),
}
