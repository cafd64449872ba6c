"""Deployments and their environments as the lists and the pipeline show them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .. import permissions, rules
from ..models import (
    Binding,
    Deployment,
    Domain,
    Environment,
    Release,
    RuntimeToken,
    Variable,
)
from ..permissions import has_role
from .access import visible_deployments
from .change_requests import ProtectionState, protection_states
from .domains import primary_domain
from .releases import PendingChanges, pending_by_environment


def deployments_for_user(user) -> list[Deployment]:
    """Visible deployments with their environments and active versions (3 queries)."""
    return with_environments(visible_deployments(user))


def with_environments(deployments: QuerySet[Deployment]) -> list[Deployment]:
    """The deployments by name, with their environments and active versions (3 queries)."""
    environments = Environment.objects.select_related("active_version", "promotes_to").annotate(
        variable_count=Count("variables", distinct=True)
    )
    return list(
        deployments.order_by("name").prefetch_related(
            Prefetch("environments", queryset=environments)
        )
    )


@dataclass(frozen=True)
class DeploymentCard:
    """A deployment on the list page, with its environments in pipeline order."""

    deployment: Deployment
    pipeline: list[Environment]


def deployment_cards(user) -> list[DeploymentCard]:
    return [
        DeploymentCard(deployment=d, pipeline=pipeline_order(d.environments.all()))
        for d in deployments_for_user(user)
    ]


def deployment_environments(deployment: Deployment) -> list[Environment]:
    """Every environment of the deployment, by name, each knowing its deployment (one query)."""
    environments = list(Environment.objects.filter(deployment=deployment).order_by("name"))
    for environment in environments:
        environment.deployment = deployment
    return environments


def environments_in_order(deployment: Deployment) -> list[Environment]:
    environments = Environment.objects.filter(deployment=deployment).only(
        "pk", "name", "deployment_id", "active_version_id", "promotes_to_id", "resolved_count"
    )
    return pipeline_order(environments)


def pipeline_order(environments: Iterable[Environment]) -> list[Environment]:
    """preview/* and custom environments, then staging, then production."""
    return sorted(environments, key=lambda e: (e.pipeline_rank, e.name))


def production_first(environments: Iterable[Environment]) -> list[Environment]:
    """production, staging, then the others by name: the order the JSON API lists them in
    (SPEC §4), the pipeline's read from its end."""
    return sorted(environments, key=lambda e: (-e.pipeline_rank, e.name))


def environments_with_releases(deployment: Deployment) -> list[Environment]:
    """Every environment with its live release (and its version) and promotion target, in
    pipeline order: production, staging, then the others by name. One query."""
    environments = list(
        Environment.objects.filter(deployment=deployment).select_related(
            "promotes_to", "live_release__version"
        )
    )
    for environment in environments:
        environment.deployment = deployment
    return production_first(environments)


def pipeline_environments(deployment: Deployment) -> list[Environment]:
    """Every environment with what its card shows, in pipeline order (two queries)."""
    last_change = Release.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id")

    def count(model) -> Coalesce:
        rows = (
            model.objects.filter(environment=OuterRef("pk"))
            .order_by()
            .values("environment")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    environments = list(
        Environment.objects.filter(deployment=deployment)
        .select_related("active_version", "live_release")
        .annotate(
            variable_count=count(Variable),
            binding_count=count(Binding),
            deployed_at=Subquery(last_change.values("created_at")[:1]),
            deployed_by=Subquery(last_change.values("actor_label")[:1]),
        )
        .prefetch_related("domains")
    )
    for environment in environments:
        environment.deployment = deployment
    return pipeline_order(environments)


@dataclass(frozen=True)
class PipelineCard:
    """An environment's card on the pipeline page."""

    environment: Environment
    target: Environment | None  # where it promotes to
    primary_domain: str
    can_promote: bool  # it runs a version its target does not, and the user may deploy there
    in_sync: bool  # its target runs the same version
    pending: PendingChanges | None = None  # changes waiting for an Apply (staged environments)
    can_apply: bool = False  # there are pending changes and the user may apply them
    protection: ProtectionState | None = None  # protected? open change requests, break-glass


def pipeline_cards(
    deployment: Deployment, environments: list[Environment], *, role: str
) -> list[list[PipelineCard]]:
    """The cards of `pipeline_environments`, in columns: previews and custom environments,
    staging, production (empty columns left out)."""
    by_id = {e.pk: e for e in environments}
    pending = pending_by_environment(environments)
    protected = protection_states(environments)
    columns: list[list[PipelineCard]] = [[], [], []]
    for environment in environments:
        target = by_id.get(environment.promotes_to_id)
        version_id = environment.active_version_id
        runs_target_version = target is not None and target.active_version_id == version_id
        columns[environment.pipeline_rank].append(
            PipelineCard(
                environment=environment,
                target=target,
                primary_domain=primary_domain(environment, deployment.apex_domain),
                can_promote=bool(
                    target is not None
                    and version_id is not None
                    and not runs_target_version
                    and (
                        has_role(role, permissions.to_deploy_into(target))
                        # a protected target: a developer may ask (SPEC §15)
                        or (
                            protected[target.pk].required_approvals > 0
                            and has_role(role, permissions.TO_REQUEST_CHANGES)
                        )
                    )
                ),
                in_sync=bool(version_id is not None and runs_target_version),
                pending=pending.get(environment.pk),
                can_apply=environment.pk in pending
                and has_role(role, permissions.to_deploy_into(environment)),
                protection=protected[environment.pk],
            )
        )
    return [c for c in columns if c]


def get_promotion_target(source: Environment) -> Environment:
    """The environment `source` promotes to, with its active version (Http404 without one)."""
    if source.promotes_to_id is None:
        raise Http404(f"{source.name} does not promote to another environment.")
    target = get_object_or_404(
        Environment.objects.select_related("active_version"), pk=source.promotes_to_id
    )
    target.deployment = source.deployment
    return target


@dataclass(frozen=True)
class DeleteCounts:
    """What deleting an environment deletes with it."""

    variables: int
    bindings: int
    domains: int
    tokens: int


def delete_counts(environment: Environment) -> DeleteCounts:
    def count(model) -> int:
        return model.objects.filter(environment=environment).count()

    return DeleteCounts(
        variables=count(Variable),
        bindings=count(Binding),
        domains=count(Domain),
        tokens=count(RuntimeToken),
    )


def expired_environment_ids(now: datetime | None = None) -> list[int]:
    """Ids of environments whose expires_at is past (protected ones never expire)."""
    return list(
        Environment.objects.filter(expires_at__lte=now or timezone.now())
        .exclude(name__in=rules.PROTECTED_ENVIRONMENTS)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
