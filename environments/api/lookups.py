"""What the views look up from the URL and the query string: environments, keys, pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, QueryDict

from .. import rules, selectors
from ..errors import validated
from ..models import Deployment, Environment
from . import scope
from .errors import ApiError

# A query string's number: at most 19 digits, so that it is a number at all; beyond
# rules.MAX_NUMBER it names nothing (the page after it is the first one).
NUMBER_PARAM_RE = re.compile(r"[1-9][0-9]{0,18}")
MAX_NUMBER_PARAM = 10**19 - 1
PAGE = 50
MAX_PAGE = 100


def environment(deployment: Deployment, name: str, *, field: str = "environment") -> Environment:
    """The deployment's environment of that name (404), if the token may act on it (403)."""
    try:
        found = selectors.get_environment(deployment, name)
    except Http404:
        raise ApiError(
            404, "not_found", f"{deployment.name} has no environment named {name}.", field=field
        ) from None
    return scope.check(found)


def environment_name(value: Any, *, field: str = "environment") -> str:
    if not isinstance(value, str):
        raise ApiError(400, "invalid", "Name the environment as a string.", field=field)
    return validated(rules.validate_environment_name, value, field=field)


def environment_param(query: QueryDict, deployment: Deployment) -> Environment:
    """The environment named by ?environment=, which these endpoints require."""
    name = query.get("environment")
    if name is None:
        raise ApiError(
            400, "required", "Name the environment: ?environment=<name>.", field="environment"
        )
    return environment(deployment, environment_name(name))


def environments_param(query: QueryDict, deployment: Deployment) -> list[Environment]:
    """?environment=<name> (that one), else every environment of the deployment."""
    name = query.get("environment")
    if name is not None:
        return [environment(deployment, environment_name(name))]
    return scope.visible(selectors.deployment_environments(deployment))


def true_or_false(query: QueryDict, name: str) -> bool:
    value = query.get(name, "false")
    if value not in ("true", "false"):
        raise ApiError(400, "invalid", f"{name} is true or false.", field=name)
    return value == "true"


def number_param(query: QueryDict, name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not NUMBER_PARAM_RE.fullmatch(value):
        raise ApiError(400, "invalid", f"{name} is a whole number of 1 or more.", field=name)
    return int(value)


def page(query: QueryDict, rows: Callable[..., selectors.Page]) -> selectors.Page:
    """Newest first, a page at a time (?before=, ?limit=): `rows(before=, limit=)` is a keyset
    selector (`selectors.keyset_page`), whose page knows its `next`, the `before` of the next
    page (None on the last one). A page costs the same however deep it is."""
    before = number_param(query, "before")
    limit = number_param(query, "limit") or PAGE
    if limit > MAX_PAGE:
        raise ApiError(400, "invalid", f"limit is at most {MAX_PAGE}.", field="limit")
    return rows(before=min(before, rules.MAX_NUMBER + 1) if before else None, limit=limit)


def variable_key(environment: Environment, key: str) -> str:
    """A key from the URL; one that cannot exist is simply not there."""
    try:
        return rules.validate_variable_key(key)
    except ValidationError:
        raise ApiError(
            404, "not_found", f"{environment.name} has no such variable.", field="key"
        ) from None
