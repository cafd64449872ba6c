"""Creating and deleting deployments."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .. import audit, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, validated
from ..models import Deployment, Environment, Membership, Release, Role
from . import data_services
from .environment_writes import lock_deployment


@transaction.atomic
def create_deployment(*, name: str, actor: Actor, owner=None) -> Deployment:
    """Create a deployment with its `production` and `staging` environments."""
    name = validated(rules.validate_deployment_name, name, field="name")
    # Deployment names are global; the message does not say whether the holder is one the
    # caller may see (to outsiders a deployment does not exist).
    taken = Conflict(
        f"The name {name} is already taken; choose another.", code="name_taken", field="name"
    )
    if Deployment.objects.filter(name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(name=name, created_by=actor.user)
    except IntegrityError:  # a concurrent request took it between the check and the insert
        raise taken from None
    audit.start_chain(deployment.pk)
    # Production stages its config changes until applied (SPEC §9); others go live at once.
    production = Environment.objects.create(
        deployment=deployment,
        name=rules.PRODUCTION,
        config_changes=Environment.ConfigChanges.STAGED,
    )
    Environment.objects.create(deployment=deployment, name=rules.STAGING, promotes_to=production)
    owner = owner or actor.user
    if owner is not None:
        Membership.objects.create(deployment=deployment, user=owner, role=Role.OWNER)
    audit.record("deployment.create", actor=actor, deployment=deployment, target=name)
    return deployment


@transaction.atomic(durable=True)
def delete_deployment(*, deployment: Deployment, actor: Actor) -> None:
    # The deployment's row, the environments' rows, then the audit chain's head (in
    # audit.record): the order every other writer takes them in (environment_writes), so a
    # delete racing a write waits for it rather than deadlocking with it.
    lock_deployment(deployment)
    Environment.objects.filter(deployment=deployment).update(
        active_version=None, promotes_to=None, live_release=None
    )
    # Its data services are destroyed on their servers by the worker, after this commits.
    data_services.destroy_for_deployment(deployment=deployment, actor=actor)
    audit.record("deployment.delete", actor=actor, deployment=deployment, target=deployment.name)
    Release.objects.filter(environment__deployment=deployment).delete()
    deployment.delete()


@transaction.atomic(durable=True)
def set_max_secret_age(*, deployment: Deployment, days: int | None, actor: Actor) -> int | None:
    """How many days a secret's value may live before it is flagged overdue (SPEC §14); None
    flags none. Audited as deployment.update."""
    if days is not None and (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not 1 <= days <= Deployment.MAX_SECRET_AGE_DAYS
    ):
        raise Invalid(
            f"The maximum age of a secret is a whole number of days from 1 to "
            f"{Deployment.MAX_SECRET_AGE_DAYS}, or none.",
            field="max_secret_age_days",
        )
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    if deployment.max_secret_age_days == days:
        return days
    before = deployment.max_secret_age_days
    deployment.max_secret_age_days = days
    deployment.save(update_fields=["max_secret_age_days"])
    audit.record(
        "deployment.update",
        actor=actor,
        deployment=deployment,
        target="max_secret_age_days",
        detail={"max_secret_age_days": days, "was": before},
    )
    return days
