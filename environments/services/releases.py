"""Versions, deploys, promotions and rollbacks; only the active version moves."""

from __future__ import annotations

from django.db import transaction

from .. import audit, rules
from ..audit import Actor
from ..errors import Conflict, Invalid, ServiceError
from ..models import Deployment, Environment, Version, VersionChange
from ._common import lock_environment
from .environments import create_environment


@transaction.atomic
def create_version(
    *, deployment: Deployment, label: str = "", notes: str = "", actor: Actor
) -> Version:
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    label = (label or "").strip()
    if len(label) > 200:
        raise Invalid("A label has at most 200 characters.", field="label")
    deployment.last_version_number += 1
    deployment.save(update_fields=["last_version_number"])
    version = Version.objects.create(
        deployment=deployment,
        number=deployment.last_version_number,
        label=label,
        notes=notes or "",
        created_by=actor.user,
    )
    audit.record("version.create", actor=actor, deployment=deployment, target=f"v{version.number}")
    return version


@transaction.atomic(durable=True)
def register_version(
    *,
    deployment: Deployment,
    label: str = "",
    notes: str = "",
    actor: Actor,
    deploy_to: Environment | None = None,
    new_environment: str = "",
) -> tuple[Version, Environment | None]:
    """Register a version and deploy it to `deploy_to`, or to a new environment named
    `new_environment`, or nowhere: all or nothing. Returns (version, where it was deployed)."""
    version = create_version(deployment=deployment, label=label, notes=notes, actor=actor)
    if new_environment:
        environment = create_environment(deployment=deployment, name=new_environment, actor=actor)
    elif deploy_to is not None:
        environment = deploy_to
    else:
        return version, None
    try:
        deploy_version(environment=environment, version=version, actor=actor)
    except ServiceError as exc:
        if exc.field is None and not new_environment:
            exc.field = "deploy_to"
        raise
    return version, environment


def _activate(
    environment: Environment,
    version: Version,
    *,
    kind: str,
    actor: Actor,
    source: Environment | None = None,
) -> VersionChange:
    change = VersionChange.objects.create(
        environment=environment,
        kind=kind,
        from_version=environment.active_version,
        to_version=version,
        source_environment=source.name if source else "",
        actor=actor.user,
        actor_label=actor.label,
    )
    environment.active_version = version
    environment.save(update_fields=["active_version"])
    before = f"v{change.from_version.number}" if change.from_version else None
    audit.record(
        f"version.{kind}",
        actor=actor,
        environment=environment,
        target=f"v{version.number}",
        detail={"from": before, "to": f"v{version.number}"}
        | ({"source": source.name} if source else {}),
    )
    return change


def _switchable(environment: Environment, version: Version) -> None:
    """A deploy or rollback switches to another version of the same deployment."""
    if version.deployment_id != environment.deployment_id:
        raise Invalid("That version belongs to another deployment.", field="version")
    if environment.active_version_id == version.pk:
        raise Conflict(f"{environment.name} already runs v{version.number}.", code="already_active")


def _staging_first(target: Environment, version: Version) -> None:
    """Production accepts only a version that is, or once was, active in staging."""
    if not target.is_production:
        return
    staging = Environment.objects.filter(
        deployment_id=target.deployment_id, name=rules.STAGING
    ).first()
    ran_in_staging = staging is not None and (
        staging.active_version_id == version.pk
        or VersionChange.objects.filter(environment=staging, to_version=version).exists()
    )
    if not ran_in_staging:
        raise Conflict(
            f"v{version.number} has never been active in staging. Deploy or promote it to "
            "staging first, then promote it to production.",
            code="staging_first",
        )


@transaction.atomic
def deploy_version(*, environment: Environment, version: Version, actor: Actor) -> VersionChange:
    """Make `version` active in `environment` (a deploy, not a promotion)."""
    environment = lock_environment(environment)
    _switchable(environment, version)
    _staging_first(environment, version)
    return _activate(environment, version, kind=VersionChange.Kind.DEPLOY, actor=actor)


@transaction.atomic
def promote(
    *,
    source: Environment,
    version_number: int,
    actor: Actor,
    expected_target_version: int | None,
    target_id: int | None = None,
) -> VersionChange:
    """Copy the source's active version into its target; only the version moves.

    `version_number` is the version the user saw on the source, and the target must still run
    `expected_target_version` (None: nothing): a stale button, clicked after another admin
    promoted, is refused instead of silently promoting twice.
    `target_id` is the target the caller checked permissions against: if the source was
    re-pointed meanwhile (say, at production), the promotion is refused, not escalated.
    """
    source = Environment.objects.select_related("deployment", "active_version").get(pk=source.pk)
    if source.promotes_to_id is None:
        raise Conflict(f"{source.name} does not promote to another environment.", code="no_target")
    # Lock the target first: concurrent promotions into one environment serialize here.
    target = lock_environment(Environment(pk=source.promotes_to_id))
    source = Environment.objects.select_related("deployment", "active_version").get(pk=source.pk)
    if source.promotes_to_id != target.pk or (target_id is not None and target.pk != target_id):
        raise Conflict(
            f"{source.name} now promotes to another environment. Review the change again.",
            code="stale",
        )
    version = source.active_version
    if version is None:
        raise Conflict(f"Nothing is deployed in {source.name} yet.", code="nothing_to_promote")
    if version.number != version_number:
        raise Conflict(
            f"{source.name} now runs v{version.number}, not v{version_number}. Review the "
            "change again before promoting.",
            code="stale",
        )
    current = target.active_version.number if target.active_version else None
    if current != expected_target_version:
        shown = f"v{expected_target_version}" if expected_target_version else "nothing"
        now = f"v{current}" if current else "nothing"
        raise Conflict(
            f"{target.name} changed while you were looking: it ran {shown} and now runs {now}.",
            code="stale",
        )
    if target.active_version_id == version.pk:
        raise Conflict(f"{target.name} already runs v{version.number}.", code="already_active")
    _staging_first(target, version)
    return _activate(target, version, kind=VersionChange.Kind.PROMOTE, actor=actor, source=source)


@transaction.atomic(durable=True)
def rollback(*, environment: Environment, version: Version, actor: Actor) -> VersionChange:
    """Re-activate a version the environment ran before."""
    environment = lock_environment(environment)
    _switchable(environment, version)
    if not VersionChange.objects.filter(environment=environment, to_version=version).exists():
        raise Conflict(
            f"{environment.name} has never run v{version.number}; a rollback can only go back "
            "to a version it ran before.",
            code="never_ran",
        )
    return _activate(environment, version, kind=VersionChange.Kind.ROLLBACK, actor=actor)
