"""The JSON API for CI (SPEC §10): versions, environments, deploy, promote, bindings, domains.

Thin views like those of `views.py`, sharing its look-ups and rows: reads go through the
selectors, writes through the services (which audit), roles through `permissions`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..models import Deployment, Domain, Environment, Version
from .auth import actor_for, authenticate_user
from .errors import ApiError, api_endpoint
from .payload import read_json_object
from .views import (
    MAX_NUMBER,
    MAX_RELEASE_PAGE,
    RELEASE_PAGE,
    _body_environment,
    _check_fields,
    _deployment,
    _deployment_ref,
    _environment,
    _environment_name,
    _environments_param,
    _live_state,
    _number,
    _number_param,
    _release,
    _require,
    timestamp,
)

VERSION_FIELDS = frozenset({"label", "notes"})
ENVIRONMENT_FIELDS = frozenset({"name", "copy_from", "promotes_to", "config_changes", "expires_at"})
DEPLOY_FIELDS = frozenset({"environment", "version"})
PROMOTE_FIELDS = frozenset({"from", "to", "expected_version"})
BINDING_FIELDS = frozenset({"environment", "kind", "name", "url", "variable_name"})
DOMAIN_FIELDS = frozenset({"environment", "hostname"})


# Input ------------------------------------------------------------------------------------


def _text(body: dict[str, Any], field: str, *, required: bool = False) -> str:
    """A string field (empty when left out), refused when it is no string or not UTF-8."""
    if field not in body:
        if required:
            raise ApiError(400, "required", f"{field} is required.", field=field)
        return ""
    value = body[field]
    if not isinstance(value, str):
        raise ApiError(400, "invalid", f"{field} must be a string.", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid", f"{field} is not valid UTF-8 text.", field=field) from None
    if "\x00" in value:
        raise ApiError(400, "invalid", f"{field} may not contain a NUL character.", field=field)
    return value


def _optional_environment(
    deployment: Deployment, body: dict[str, Any], field: str
) -> Environment | None:
    value = body.get(field)
    if value is None:
        return None
    name = _environment_name(value, field=field)
    try:
        return _environment(deployment, name)
    except ApiError as exc:
        exc.field = field
        raise


def _expires_at(body: dict[str, Any]) -> datetime | None:
    value = body.get("expires_at")
    if value is None:
        return None
    message = "expires_at is an ISO 8601 time with its zone, like 2026-12-01T12:00:00Z."
    if not isinstance(value, str) or len(value) > 40:
        raise ApiError(400, "invalid", message, field="expires_at")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: beyond year 9999 once in UTC
        raise ApiError(400, "invalid", message, field="expires_at") from None


def _optional_number(body: dict[str, Any], field: str) -> int | None:
    """A number that may be null (null: nothing)."""
    if body.get(field) is None:
        return None
    return _number(body, field)


# Rows -------------------------------------------------------------------------------------


def _version(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "label": version.label,
        "notes": version.notes,
        "created_at": timestamp(version.created_at),
        "created_by": version.created_by.get_username() if version.created_by else None,
    }


def _environment_row(
    environment: Environment, summary: selectors.ReleaseSummary | None
) -> dict[str, Any]:
    live = environment.live_release
    return {
        "name": environment.name,
        "promotes_to": environment.promotes_to.name if environment.promotes_to else None,
        "config_changes": environment.config_changes,
        "config_revision": environment.config_revision,
        "expires_at": timestamp(environment.expires_at) if environment.expires_at else None,
        "release": (
            {
                "number": live.number,
                "version": live.version.number,
                "config_revision": live.config_revision,
            }
            if live
            else None
        ),
        "pending": summary.pending if summary else 0,
        "created_at": timestamp(environment.created_at),
    }


def _binding(row: selectors.VariableRow) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row.pk,
        "environment": row.environment,
        "kind": row.kind,
        "name": row.binding_name,
        "variable_name": row.key,
        "preview": row.preview,
        "is_secret": True,
        "updated_at": timestamp(row.updated_at),
    }
    if row.undecryptable:
        item["undecryptable"] = True
    return item


def _domain(domain: Domain) -> dict[str, Any]:
    return {
        "hostname": domain.hostname,
        "environment": domain.environment.name,
        "created_at": timestamp(domain.created_at),
    }


# Versions ---------------------------------------------------------------------------------


@api_endpoint("GET", "POST")
def versions(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    if request.method == "POST":
        _require(role, permissions.TO_CREATE_VERSIONS, "Registering versions")
        body = read_json_object(request)
        _check_fields(body, VERSION_FIELDS)
        version = services.create_version(
            deployment=deployment,
            label=_text(body, "label"),
            notes=_text(body, "notes"),
            actor=actor_for(request, token),
        )
        version.created_by = token.user
        return JsonResponse(_version(version), status=201)
    before = _number_param(request, "before")
    limit = _number_param(request, "limit") or RELEASE_PAGE
    if limit > MAX_RELEASE_PAGE:
        raise ApiError(400, "invalid", f"limit is at most {MAX_RELEASE_PAGE}.", field="limit")
    rows = selectors.versions(
        deployment, before=min(before, MAX_NUMBER + 1) if before else None, limit=limit + 1
    )
    page = rows[:limit]
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
            "versions": [_version(version) for version in page],
            "next": page[-1].number if len(rows) > limit else None,
        }
    )


# Environments -----------------------------------------------------------------------------


@api_endpoint("GET", "POST")
def environments(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    if request.method == "POST":
        return _create_environment(request, token, deployment, role)
    rows = selectors.environments_with_releases(deployment)
    summaries = selectors.release_summaries(rows)
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
            "environments": [_environment_row(e, summaries.get(e.pk)) for e in rows],
        }
    )


def _create_environment(
    request: HttpRequest, token, deployment: Deployment, role: str
) -> HttpResponse:
    _require(role, permissions.TO_MANAGE_ENVIRONMENTS, "Creating environments")
    body = read_json_object(request)
    _check_fields(body, ENVIRONMENT_FIELDS)
    if "name" not in body:
        raise ApiError(400, "required", "name is required.", field="name")
    name = _environment_name(body["name"], field="name")
    copy_from = _optional_environment(deployment, body, "copy_from")
    if copy_from is not None:
        # A copy holds the source's secrets: copying needs the role that may write them.
        need = permissions.to_write_variables(copy_from)
        if not permissions.has_role(role, need):
            raise ApiError(
                403,
                "forbidden",
                f"Copying {copy_from.name} needs the {need} role or higher: the copy would "
                f"hold its secrets. You are {role}.",
                field="copy_from",
            )
    promotes_to = _optional_environment(deployment, body, "promotes_to")
    config_changes = body.get("config_changes", Environment.ConfigChanges.IMMEDIATE)
    if config_changes not in Environment.ConfigChanges.values:
        raise ApiError(
            400, "invalid", "config_changes is immediate or staged.", field="config_changes"
        )
    environment = services.create_environment(
        deployment=deployment,
        name=name,
        copy_from=copy_from,
        promotes_to=promotes_to,
        config_changes=config_changes,
        expires_at=_expires_at(body),
        actor=actor_for(request, token),
    )
    environment = selectors.get_environment(deployment, environment.name)
    summary = selectors.release_summaries([environment])[environment.pk]
    return JsonResponse(_environment_row(environment, summary), status=201)


@api_endpoint("DELETE")
def environment_detail(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    _require(role, permissions.TO_MANAGE_ENVIRONMENTS, "Deleting environments")
    try:
        name = rules.validate_environment_name(name)
    except ValidationError:
        name = ""  # a name that cannot exist is simply not there
    if not name:
        raise ApiError(404, "not_found", f"{deployment.name} has no such environment.")
    environment = _environment(deployment, name)
    services.delete_environment(environment=environment, actor=actor_for(request, token))
    return HttpResponse(status=204)


# Deploy and promote -----------------------------------------------------------------------


@api_endpoint("POST")
def deploy(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    body = read_json_object(request)
    _check_fields(body, DEPLOY_FIELDS)
    environment = _body_environment(deployment, body)
    _require(role, permissions.to_deploy_into(environment), f"Deploying to {environment.name}")
    number = _number(body, "version")
    version = selectors.find_version(deployment, number) if number <= MAX_NUMBER else None
    if version is None:
        raise ApiError(404, "not_found", f"{deployment.name} has no v{number}.", field="version")
    release = services.deploy_version(
        environment=environment, version=version, actor=actor_for(request, token)
    )
    return JsonResponse(_release(environment, release), status=201)


@api_endpoint("POST")
def promote(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """Promote `from`'s active version into its promotion target. `to`, when given, must be
    that target (409 wrong_target otherwise: a CI job never promotes somewhere it did not
    expect). `expected_version` is what the caller believes `to` runs now (null: nothing);
    left out, whatever it runs when the lock is taken is replaced."""
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    body = read_json_object(request)
    _check_fields(body, PROMOTE_FIELDS)
    if "from" not in body:
        raise ApiError(400, "required", "from is required.", field="from")
    source = _environment(deployment, _environment_name(body["from"], field="from"))
    target = source.promotes_to
    if target is None:
        raise ApiError(409, "no_target", f"{source.name} does not promote to another environment.")
    if "to" in body:
        to = _environment_name(body["to"], field="to")
        if to != target.name:
            raise ApiError(
                409,
                "wrong_target",
                f"{source.name} promotes to {target.name}, not {to}.",
                field="to",
            )
    _require(role, permissions.to_deploy_into(target), f"Promoting to {target.name}")
    expected = (
        _optional_number(body, "expected_version")
        if "expected_version" in body
        else services.ANY_VERSION
    )
    if source.active_version is None:
        raise ApiError(409, "nothing_to_promote", f"Nothing is deployed in {source.name} yet.")
    release = services.promote(
        source=source,
        version_number=source.active_version.number,
        expected_target_version=expected,
        target_id=target.pk,
        actor=actor_for(request, token),
    )
    target.deployment = deployment
    return JsonResponse(_release(target, release), status=201)


# Bindings ---------------------------------------------------------------------------------


@api_endpoint("GET", "POST")
def bindings(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    if request.method == "POST":
        _require(role, permissions.TO_MANAGE_BINDINGS, "Creating bindings")
        body = read_json_object(request)
        _check_fields(body, BINDING_FIELDS)
        environment = _body_environment(deployment, body)
        binding = services.create_binding(
            environment=environment,
            kind=_text(body, "kind", required=True),
            name=_text(body, "name"),
            url=_text(body, "url", required=True),
            variable_name=_text(body, "variable_name"),
            actor=actor_for(request, token),
        )
        binding.environment = environment
        return JsonResponse(
            _binding(selectors.binding_row(binding)) | _live_state(environment),
            status=201,
        )
    rows = selectors.binding_rows(_environments_param(request, deployment))
    return JsonResponse(
        {
            "deployment": _deployment_ref(deployment),
            "bindings": [_binding(row) for row in rows],
        }
    )


@api_endpoint("DELETE")
def binding_detail(request: HttpRequest, deployment_id: int, binding_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    _require(role, permissions.TO_MANAGE_BINDINGS, "Deleting bindings")
    binding = selectors.deployment_binding(deployment, binding_id)
    services.delete_binding(binding=binding, actor=actor_for(request, token))
    response = HttpResponse(status=204)
    pending = selectors.live_state(binding.environment).pending
    response["X-Miosa-Pending"] = "true" if pending else "false"
    return response


# Domains ----------------------------------------------------------------------------------


@api_endpoint("GET", "POST")
def domains(request: HttpRequest, deployment_id: int) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    if request.method == "POST":
        _require(role, permissions.TO_MANAGE_DOMAINS, "Adding domains")
        body = read_json_object(request)
        _check_fields(body, DOMAIN_FIELDS)
        environment = _body_environment(deployment, body)
        domain = services.add_domain(
            environment=environment,
            hostname=_text(body, "hostname", required=True),
            visible_deployment_ids=selectors.visible_deployment_ids(token.user),
            actor=actor_for(request, token),
        )
        domain.environment = environment
        return JsonResponse(_domain(domain) | _live_state(environment), status=201)
    rows = selectors.deployment_domains(_environments_param(request, deployment))
    return JsonResponse(
        {"deployment": _deployment_ref(deployment), "domains": [_domain(d) for d in rows]}
    )


@api_endpoint("DELETE")
def domain_detail(request: HttpRequest, deployment_id: int, hostname: str) -> HttpResponse:
    token = authenticate_user(request)
    deployment, role = _deployment(token.user, deployment_id)
    _require(role, permissions.TO_MANAGE_DOMAINS, "Removing domains")
    try:
        hostname = rules.validate_hostname(hostname)
    except ValidationError:
        hostname = ""  # a hostname that cannot be attached is simply not there
    if not hostname:
        raise ApiError(404, "not_found", f"{deployment.name} has no such domain.")
    domain = selectors.deployment_domain(deployment, hostname)
    services.remove_domain(domain=domain, actor=actor_for(request, token))
    response = HttpResponse(status=204)
    pending = selectors.live_state(domain.environment).pending
    response["X-Miosa-Pending"] = "true" if pending else "false"
    return response
