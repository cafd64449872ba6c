"""What a token minted by an OIDC exchange may reach (SPEC §16): one deployment, with its
policy's role, only the endpoints CI uses, and only its environments.

The endpoints are an allow-list (by URL name), so an endpoint added later is closed to these
tokens until it is listed here. The environments are checked where every view finds one,
`lookups.environment`: `api_endpoint` sets the token's environments for the time of the view,
so no view has to pass them along (and none can forget to).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

from django.http import Http404, HttpRequest

from .. import selectors
from ..models import Environment, OidcToken
from .errors import ApiError

# What CI does: register versions, deploy, promote, apply, roll back, import and write
# variables, read releases and history.
OIDC_ENDPOINTS = frozenset(
    {
        "api_deployments",
        "api_versions",
        "api_deploy",
        "api_promote",
        "api_apply",
        "api_rollback",
        "api_releases",
        "api_environment_variables",
        "api_env_import",
        "api_variable_detail",
        "api_variable_history",
        "api_variable_restore",
    }
)

_environments: ContextVar[frozenset[str] | None] = ContextVar("oidc_environments", default=None)


def oidc_deployment_access(
    request: HttpRequest, token: OidcToken, deployment_id: int | None
) -> selectors.DeploymentAccess | None:
    """The token's deployment and role when the URL names it; 404 for any other deployment
    (as for a user who is no member), 403 for an endpoint CI has no use for."""
    match = request.resolver_match
    if match is None or match.url_name not in OIDC_ENDPOINTS:
        raise ApiError(
            403,
            "forbidden",
            "A token from an OIDC exchange can register versions, deploy, promote, apply, roll "
            "back and write variables; not this (it cannot create tokens either).",
        )
    if deployment_id is None:
        return None
    if deployment_id != token.deployment_id:
        raise Http404("No such deployment.")
    return selectors.DeploymentAccess(deployment=token.deployment, role=token.role)


@contextlib.contextmanager
def limited_to(names: Iterable[str] | None) -> Iterator[None]:
    """Environments outside `names` are refused (403) while the block runs; None: no limit."""
    reset = _environments.set(None if names is None else frozenset(names))
    try:
        yield
    finally:
        _environments.reset(reset)


def check(environment: Environment) -> Environment:
    allowed = _environments.get()
    if allowed is not None and environment.name not in allowed:
        raise ApiError(
            403,
            "environment_not_allowed",
            f"This token may act only on {', '.join(sorted(allowed))}, not {environment.name}.",
            field="environment",
        )
    return environment


def visible(environments: Iterable[Environment]) -> list[Environment]:
    allowed = _environments.get()
    return [e for e in environments if allowed is None or e.name in allowed]
