"""Who sees what: the permission-scoped getters of a deployment and its environments.

They raise Http404 for outsiders and PermissionDenied for a role that is too low."""

from __future__ import annotations

from typing import NamedTuple

from django.core.exceptions import PermissionDenied
from django.db.models import (
    Exists,
    OuterRef,
    QuerySet,
)
from django.http import Http404

from ..models import (
    Deployment,
    Environment,
    Membership,
    Protection,
    Role,
)
from ..permissions import has_role

# Ids are 64-bit signed integers in the database; a larger one (or a negative one) names nothing
# and must not reach the database, where it is an OverflowError (SQLite) or DataError.
MAX_ID = 2**63 - 1


def valid_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise Http404("There is nothing at this address.")
    return value


def _require(role: str | None, need: str) -> None:
    if role is None:
        raise Http404("No such deployment.")
    if not has_role(role, need):
        raise PermissionDenied(f"This needs the {need} role or higher; you are {role}.")


def visible_deployments(user) -> QuerySet[Deployment]:
    if not user or not user.is_authenticated:
        return Deployment.objects.none()
    if user.is_superuser:
        return Deployment.objects.all()
    return Deployment.objects.filter(memberships__user=user)


def visible_deployment_ids(user) -> set[int] | None:
    """Ids of the deployments the user sees; None for a superuser (who sees them all)."""
    if user.is_superuser:
        return None
    return set(visible_deployments(user).values_list("pk", flat=True))


class DeploymentAccess(NamedTuple):
    """A deployment and the role the user holds on it (owner for a superuser); unpacks as
    `deployment, role = get_deployment_for_user(...)`."""

    deployment: Deployment
    role: str


class EnvironmentAccess(NamedTuple):
    """An environment and the role the user holds on its deployment; unpacks as
    `environment, role = get_environment_for_user(...)`."""

    environment: Environment
    role: str


def get_deployment_for_user(
    user, deployment_id: int, *, need: str = Role.VIEWER
) -> DeploymentAccess:
    """The deployment and the user's role on it."""
    if not user or not user.is_authenticated:
        raise Http404("No such deployment.")
    valid_id(deployment_id)
    if user.is_superuser:
        deployment = Deployment.objects.filter(pk=deployment_id).first()
        role = Role.OWNER if deployment else None
    else:
        membership = (
            Membership.objects.select_related("deployment")
            .filter(deployment_id=deployment_id, user=user)
            .first()
        )
        deployment = membership.deployment if membership else None
        role = membership.role if membership else None
    _require(role, need)
    return DeploymentAccess(deployment=deployment, role=role)


def get_environment(deployment: Deployment, name: str) -> Environment:
    """The environment, with `under_review`: whether it was protected (SPEC §15) when read,
    in the same query (the pending section words its Apply as a request by it)."""
    environment = (
        Environment.objects.select_related(
            "deployment", "active_version", "promotes_to", "live_release__version"
        )
        .annotate(
            under_review=Exists(
                Protection.objects.filter(environment_id=OuterRef("pk"), required_approvals__gt=0)
            )
        )
        .filter(deployment=deployment, name=name)
        .first()
    )
    if environment is None:
        raise Http404("No such environment.")
    environment.deployment = deployment
    return environment


def get_environment_for_user(
    user, deployment_id: int, name: str, *, need: str = Role.VIEWER
) -> EnvironmentAccess:
    """The environment and the user's role; `need` may depend on the environment, so pass a
    callable `need(environment) -> role` when it does (production needs admin to write)."""
    access = get_deployment_for_user(user, deployment_id)
    environment = get_environment(access.deployment, name)
    required = need(environment) if callable(need) else need
    _require(access.role, required)
    return EnvironmentAccess(environment=environment, role=access.role)
