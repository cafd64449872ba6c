"""Shared groups and references (SPEC §19): a deployment's groups, their variables (written
like an environment's: plain or secret, encrypted, with history), the groups an environment
links, and one key's chain (`explain`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..errors import validated
from ..models import Group, Role
from . import lookups
from .endpoint import ApiRequest, api_endpoint
from .errors import ApiError
from .inputs import Body, Field, Flag, Items, Key, Number, OneOf, Text, invalid
from .rows import deployment_ref, timestamp
from .schemas import (
    DEPLOYMENT_ID,
    DEPLOYMENT_REF,
    ENVIRONMENT_NAME,
    KEY,
    NUMBER,
    TIMESTAMP,
    VARIABLE_KEY,
    errors,
    json_content,
    ref,
)

GROUP_NAME = {"type": "string", "pattern": rules.GROUP_NAME_RE}
GROUP = {"name": "group", "in": "path", "required": True, "schema": GROUP_NAME}


class GroupName(Field):
    kind = ("string",)

    def clean(self, value: Any, pointer: str) -> str:
        if not isinstance(value, str):
            raise invalid("Name the group as a string.", pointer)
        return validated(rules.validate_group_name, value, field=pointer)

    def base_schema(self) -> dict[str, Any]:
        return dict(GROUP_NAME)


def _value() -> Text:
    return Text(
        plain=False,
        description="UTF-8 text without NUL, at most 32 KiB; may reference ${{ KEY }}, "
        "${{ group.KEY }} or ${{ environment.KEY }} ($${{ for a literal ${{).",
    )


def _is_secret() -> Flag:
    return Flag(
        required=False,
        description="Defaults to false for a new variable; left out on an update, the "
        "variable keeps its kind; false on a secret is a 409.",
    )


CREATE = Body("GroupInput", name=GroupName())
GROUP_VARIABLE = Body("GroupVariableInput", key=Key(), value=_value(), is_secret=_is_secret())
GROUP_WRITE_MANY = Body(
    "GroupWriteMany",
    description="A batch, written all or nothing as one revision of the group.",
    variables=Items(
        GROUP_VARIABLE,
        message="variables must be a non-empty list of objects.",
        limit=rules.MAX_KEYS_PER_ENVIRONMENT,
    ),
)
GROUP_WRITE = OneOf("variables", then=GROUP_WRITE_MANY, otherwise=GROUP_VARIABLE)
GROUP_RESTORE = Body(
    "GroupRestoreInput",
    revision=Number(description="The group revision whose value comes back, as a new one."),
)


def _group(request: ApiRequest, name: str) -> Group:
    group = Group.objects.filter(deployment=request.deployment, name=name).first()
    if group is None:
        raise ApiError(
            404, "not_found", f"{request.deployment.name} has no group named {name[:100]}."
        )
    group.deployment = request.deployment
    return group


def _require_group_writer(request: ApiRequest, group: Group) -> str:
    need = services.groups.role_to_write(group)
    request.require(
        need,
        f"Writing {group.name}" + (" (production links it)" if need == Role.ADMIN else ""),
    )
    return request.role


def _summary(summary: selectors.GroupSummary) -> dict[str, Any]:
    return {
        "name": summary.group.name,
        "revision": summary.group.revision,
        "environments": summary.environments,
        "variables": summary.variables,
        "created_at": timestamp(summary.group.created_at),
    }


def _variable(row: selectors.GroupVariableRow, group: Group) -> dict[str, Any]:
    item: dict[str, Any] = {
        "group": group.name,
        "key": row.key,
        "preview": row.preview,
        "is_secret": row.is_secret,
        "revision": row.revision,
        "updated_at": timestamp(row.updated_at),
    }
    if row.undecryptable:
        item["undecryptable"] = True
    return item


def _role_too_low(exc: Exception) -> ApiError:
    return ApiError(403, "forbidden", str(exc))


# Groups


@api_endpoint(
    "GET",
    "POST",
    body={"POST": CREATE},
    need={"POST": (permissions.TO_MANAGE_ENVIRONMENTS, "Creating a group")},
)
def groups(request: ApiRequest) -> HttpResponse:
    deployment = request.deployment
    if request.method == "POST":
        group = services.create_group(
            deployment=deployment, name=request.body["name"], actor=request.actor
        )
        summary = selectors.GroupSummary(group, [], 0, False)
        return JsonResponse(
            {"deployment": deployment_ref(deployment), "group": _summary(summary)}, status=201
        )
    return JsonResponse(
        {
            "deployment": deployment_ref(deployment),
            "groups": [_summary(s) for s in selectors.group_summaries(deployment)],
        }
    )


@api_endpoint("GET", "DELETE")
def group_detail(request: ApiRequest, group: str) -> HttpResponse:
    found = _group(request, group)
    if request.method == "DELETE":
        role = _require_group_writer(request, found)
        try:
            services.delete_group(group=found, actor=request.actor, role=role)
        except services.RoleTooLow as exc:
            raise _role_too_low(exc) from None
        return HttpResponse(status=204)
    summary = next(s for s in selectors.group_summaries(request.deployment) if s.group == found)
    return JsonResponse(
        {"deployment": deployment_ref(request.deployment), "group": _summary(summary)}
    )


# Group variables


@api_endpoint("GET", "POST", body={"POST": GROUP_WRITE})
def group_variables(request: ApiRequest, group: str) -> HttpResponse:
    if request.method == "POST":
        body = request.body
        items = [
            services.VariableInput(i["key"], i["value"], i.get("is_secret"))
            for i in body.get("variables", [body])
        ]
        services.groups.clean_items(group, items)  # bad input is a 400 before any lookup
        found = _group(request, group)
        role = _require_group_writer(request, found)
        try:
            written = services.set_group_variables(
                group=found,
                items=items,
                actor=request.actor,
                role=role,
            )
        except services.RoleTooLow as exc:
            raise _role_too_low(exc) from None
        rows = {r.key: r for r in selectors.group_variable_rows(found)}
        answer = {
            "deployment": deployment_ref(request.deployment),
            "variables": [_variable(rows[e.key], found) for e, _ in written],
        }
        created = "variables" not in body and written[0][1]
        return JsonResponse(answer, status=201 if created else 200)
    found = _group(request, group)
    reveal = lookups.true_or_false(request.query, "reveal")
    if reveal:
        request.require(permissions.TO_REVEAL, "Revealing values")
    items = [_variable(row, found) for row in selectors.group_variable_rows(found)]
    if reveal:
        values = services.reveal_group_values(group=found, actor=request.actor)
        for item in items:
            if not item["is_secret"] and item["key"] in values:
                item["value"] = values[item["key"]]
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "group": found.name,
            "revision": found.revision,
            "variables": items,
        }
    )


@api_endpoint("DELETE")
def group_variable_detail(request: ApiRequest, group: str, key: str) -> HttpResponse:
    found = _group(request, group)
    role = _require_group_writer(request, found)
    try:
        services.delete_group_variable(group=found, key=key, actor=request.actor, role=role)
    except services.RoleTooLow as exc:
        raise _role_too_low(exc) from None
    return HttpResponse(status=204)


@api_endpoint("GET")
def group_variable_history(request: ApiRequest, group: str, key: str) -> HttpResponse:
    found = _group(request, group)
    rows = selectors.group_key_history(found, key)
    if not rows:
        raise ApiError(404, "not_found", f"{key[:100]} has never been set in {found.name}.")
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "group": found.name,
            "key": key,
            "history": [
                {
                    "revision": row.revision,
                    "action": row.action,
                    "is_secret": row.is_secret,
                    "actor": row.by,
                    "at": timestamp(row.at),
                    "same_as": row.same_as,
                    "restorable": row.restorable,
                }
                for row in rows
            ],
        }
    )


@api_endpoint("POST", body={"POST": GROUP_RESTORE})
def group_variable_restore(request: ApiRequest, group: str, key: str) -> HttpResponse:
    found = _group(request, group)
    role = _require_group_writer(request, found)
    try:
        services.restore_group_variable(
            group=found,
            key=key,
            revision=request.body["revision"],
            actor=request.actor,
            role=role,
        )
    except services.RoleTooLow as exc:
        raise _role_too_low(exc) from None
    found.refresh_from_db(fields=["revision"])
    rows = {r.key: r for r in selectors.group_variable_rows(found)}
    return JsonResponse(
        {
            "deployment": deployment_ref(request.deployment),
            "variables": [_variable(rows[key], found)],
        }
    )


# OpenAPI ----------------------------------------------------------------------------------

_GROUP_SUMMARY = {
    "type": "object",
    "required": ["name", "revision", "environments", "variables", "created_at"],
    "additionalProperties": False,
    "properties": {
        "name": GROUP_NAME,
        "revision": NUMBER,
        "environments": {
            "type": "array",
            "items": ENVIRONMENT_NAME,
            "description": "The environments that link it.",
        },
        "variables": {"type": "integer", "minimum": 0},
        "created_at": TIMESTAMP,
    },
}

SCHEMAS: dict[str, Any] = {
    "Group": _GROUP_SUMMARY,
    "GroupList": {
        "type": "object",
        "required": ["deployment", "groups"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "groups": {"type": "array", "items": ref("Group")},
        },
    },
    "GroupAnswer": {
        "type": "object",
        "required": ["deployment", "group"],
        "additionalProperties": False,
        "properties": {"deployment": DEPLOYMENT_REF, "group": ref("Group")},
    },
    "GroupVariable": {
        "type": "object",
        "required": ["group", "key", "preview", "is_secret", "revision", "updated_at"],
        "additionalProperties": False,
        "properties": {
            "group": GROUP_NAME,
            "key": VARIABLE_KEY,
            "preview": {
                "type": ["string", "null"],
                "description": "As an environment's (SPEC §4), of the value resolved in the "
                "group; '••••' for a secret or a value that references one.",
            },
            "is_secret": {"type": "boolean"},
            "revision": NUMBER,
            "updated_at": TIMESTAMP,
            "value": {"type": "string", "description": "Only with reveal=true (admins)."},
            "undecryptable": {"const": True},
        },
    },
    "GroupVariables": {
        "type": "object",
        "required": ["deployment", "variables"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "group": GROUP_NAME,
            "revision": NUMBER,
            "variables": {"type": "array", "items": ref("GroupVariable")},
        },
    },
    "GroupKeyHistory": {
        "type": "object",
        "required": ["deployment", "group", "key", "history"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "group": GROUP_NAME,
            "key": VARIABLE_KEY,
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "revision",
                        "action",
                        "is_secret",
                        "actor",
                        "at",
                        "same_as",
                        "restorable",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "revision": NUMBER,
                        "action": {"enum": ["set", "deleted"]},
                        "is_secret": {"type": "boolean"},
                        "actor": {"type": "string"},
                        "at": TIMESTAMP,
                        "same_as": {"type": ["integer", "null"]},
                        "restorable": {"type": "boolean"},
                    },
                },
            },
        },
    },
    **CREATE.component(),
    **GROUP_WRITE.component(),
    **GROUP_RESTORE.component(),
}

REFUSALS = (
    "Refused at save, naming the chain: 400 reference_cycle, unknown_reference, "
    "reference_too_deep (over 10), resolved_value_too_large (over 32 KiB), invalid_reference; "
    "409 production_reference."
)

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/groups": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listGroups",
            "summary": "The deployment's shared groups, with the environments linking each.",
            "responses": {
                "200": json_content(ref("GroupList"), "The groups."),
                **errors(400, 401, 404, 500),
            },
        },
        "post": {
            "operationId": "createGroup",
            "summary": "Create a shared group (developer). Its name may not be an "
            "environment's. Audited as group.create.",
            "requestBody": CREATE.request_body(),
            "responses": {
                "201": json_content(ref("GroupAnswer"), "The group."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/groups/{group}": {
        "parameters": [DEPLOYMENT_ID, GROUP],
        "get": {
            "operationId": "getGroup",
            "summary": "One group.",
            "responses": {
                "200": json_content(ref("GroupAnswer"), "The group."),
                **errors(400, 401, 404, 500),
            },
        },
        "delete": {
            "operationId": "deleteGroup",
            "summary": "Delete a group that no environment links (409 group_in_use) and no "
            "value references (400 unknown_reference). Role: as writing it.",
            "responses": {
                "204": {"description": "Deleted."},
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
    "/deployments/{deployment_id}/groups/{group}/env": {
        "parameters": [DEPLOYMENT_ID, GROUP],
        "get": {
            "operationId": "listGroupVariables",
            "summary": "A group's variables, previews only; reveal=true (admins, audited) adds "
            "the values of plain ones.",
            "parameters": [
                {
                    "name": "reveal",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["true", "false"]},
                }
            ],
            "responses": {
                "200": json_content(ref("GroupVariables"), "The variables."),
                **errors(400, 401, 403, 404, 500, 503),
            },
        },
        "post": {
            "operationId": "writeGroupVariables",
            "summary": "Upsert one variable (201 created, 200 replaced) or a batch (200), as one "
            "revision of the group. Role: the one that writes every environment linking it "
            "(admin if production does). Each environment whose configuration this changes "
            "gets a config change (a release at once, or pending where staged). " + REFUSALS,
            "requestBody": GROUP_WRITE.request_body(),
            "responses": {
                "200": json_content(ref("GroupVariables"), "The variables written."),
                "201": json_content(ref("GroupVariables"), "The variable, created."),
                **errors(400, 401, 403, 404, 409, 413, 415, 500, 503),
            },
        },
    },
    "/deployments/{deployment_id}/groups/{group}/env/{key}": {
        "parameters": [DEPLOYMENT_ID, GROUP, KEY],
        "delete": {
            "operationId": "deleteGroupVariable",
            "summary": "Delete a group's variable (refused while a value references it). Role: "
            "as writing the group.",
            "responses": {
                "204": {"description": "Deleted."},
                **errors(400, 401, 403, 404, 409, 500),
            },
        },
    },
    "/deployments/{deployment_id}/groups/{group}/env/{key}/history": {
        "parameters": [DEPLOYMENT_ID, GROUP, KEY],
        "get": {
            "operationId": "groupVariableHistory",
            "summary": "A group key's history, newest first; never a value.",
            "responses": {
                "200": json_content(ref("GroupKeyHistory"), "The history."),
                **errors(400, 401, 404, 500),
            },
        },
    },
    "/deployments/{deployment_id}/groups/{group}/env/{key}/restore": {
        "parameters": [DEPLOYMENT_ID, GROUP, KEY],
        "post": {
            "operationId": "restoreGroupVariable",
            "summary": "Restore a group key's value of an earlier revision, as a new one (a "
            "secret without being shown). Role: as writing the group.",
            "requestBody": GROUP_RESTORE.request_body(),
            "responses": {
                "200": json_content(ref("GroupVariables"), "The variable."),
                **errors(400, 401, 403, 404, 413, 415, 500, 503),
            },
        },
    },
}
