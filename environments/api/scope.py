"""What a token minted by an OIDC exchange may reach (SPEC §16): one deployment, with its
policy's role, only the endpoints CI uses, and only its environments.

The endpoints are an allow-list (by URL name), so an endpoint added later is closed to these
tokens (401 wrong_token_kind, as a runtime token on a personal endpoint) until it is listed
here. The environments are checked where every view finds one, `lookups.environment` (and the
promotion's target, which is found through its source): `api_endpoint` sets the token's
environments for the time of the view, so no view has to pass them along.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import NamedTuple

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


class _Limit(NamedTuple):
    names: frozenset[str]
    reading: bool  # a GET or HEAD: what lies outside is not visible (404), not refused (403)


_limit: ContextVar[_Limit | None] = ContextVar("oidc_environments", default=None)


def oidc_deployment_access(
    request: HttpRequest, token: OidcToken, deployment_id: int | None
) -> selectors.DeploymentAccess | None:
    """The token's deployment and role when the URL names it; 404 for any other deployment
    (as for a user who is no member), 401 wrong_token_kind for an endpoint CI has no use
    for."""
    match = request.resolver_match
    if match is None or match.url_name not in OIDC_ENDPOINTS:
        raise ApiError(
            401,
            "wrong_token_kind",
            "A token from an OIDC exchange registers versions, deploys, promotes, applies, rolls "
            "back and writes variables; this endpoint needs a personal API token (mio_pat_…). "
            "It cannot create tokens either.",
            headers={"WWW-Authenticate": 'Bearer realm="miosa"'},
        )
    if deployment_id is None:
        return None
    if deployment_id != token.deployment_id:
        raise Http404("No such deployment.")
    return selectors.DeploymentAccess(deployment=token.deployment, role=token.role)


@contextlib.contextmanager
def limited_to(names: Iterable[str] | None, *, method: str) -> Iterator[None]:
    """While the block runs, environments outside `names` are refused: 403 to a write, 404 to
    a read (not visible to this token, SPEC §4). None: no limit."""
    limit = None if names is None else _Limit(frozenset(names), method in ("GET", "HEAD"))
    reset = _limit.set(limit)
    try:
        yield
    finally:
        _limit.reset(reset)


def check(environment: Environment) -> Environment:
    limit = _limit.get()
    if limit is None or environment.name in limit.names:
        return environment
    allowed = ", ".join(sorted(limit.names))
    if limit.reading:
        raise ApiError(
            404,
            "not_found",
            f"{environment.name} is not visible to this token (it may act only on {allowed}).",
            field="environment",
        )
    raise ApiError(
        403,
        "environment_not_allowed",
        f"This token may act only on {allowed}, not {environment.name}.",
        field="environment",
    )


def visible(environments: Iterable[Environment]) -> list[Environment]:
    limit = _limit.get()
    return [e for e in environments if limit is None or e.name in limit.names]
