"""Custom environments and the promotion pipeline between them."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .. import audit, crypto, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, Undecryptable, validated
from ..models import ConfigEntry, Deployment, Environment, Group, GroupLink, Variable
from . import data_services
from .environment_writes import (
    fingerprint_scope,
    lock_deployment,
    lock_deployment_of,
    lock_environment,
)
from .resolution import settle
from .revisions import Revision


def default_promotion_target(deployment: Deployment, name: str) -> Environment | None:
    if name.startswith(rules.PREVIEW_PREFIX):
        return Environment.objects.filter(deployment=deployment, name=rules.STAGING).first()
    return None


@transaction.atomic
def create_environment(
    *,
    deployment: Deployment,
    name: str,
    actor: Actor,
    copy_from: Environment | None = None,
    promotes_to: Environment | None = None,
    config_changes: str = Environment.ConfigChanges.IMMEDIATE,
    expires_at: datetime | None = None,
    data: str | None = None,
) -> Environment:
    """Create a custom environment, empty or with a copy of another one's variables (its
    config revision 1). A preview/* environment may carry `expires_at` (in the future), after
    which `manage.py expire_environments` deletes it.

    With `copy_from`, `data` says what the new environment gets of its data services (SPEC
    §13): `copy` (its own services of the source's kinds, Postgres with the source's data),
    `empty` (its own, empty) or `none`; by default `empty` for preview/*, else `none`. Never
    the source's credentials (bindings are not copied); production is never a data source
    (409 production_data)."""
    name = validated(rules.validate_environment_name, name, field="name")
    if data is None:
        preview = name.startswith(rules.PREVIEW_PREFIX)
        data = "empty" if copy_from is not None and preview else "none"
    if data not in data_services.DATA_CHOICES:
        raise Invalid('data is "copy", "empty" or "none".', field="data")
    if data != "none" and copy_from is None:
        raise Invalid(f'"data": "{data}" needs copy_from.', field="data")
    if data == "copy" and copy_from.is_production:
        raise Conflict(
            "Production is never a data source: copy from staging or another environment, or "
            'ask for "data": "empty".',
            code="production_data",
            field="data",
        )
    if expires_at is not None:
        if not name.startswith(rules.PREVIEW_PREFIX):
            raise Invalid(
                f"Only {rules.PREVIEW_PREFIX}* environments may expire; {name} may not.",
                field="expires_at",
            )
        if expires_at <= timezone.now():
            raise Invalid("expires_at must be in the future.", field="expires_at")
    # Serialize creations in one deployment, so that the bound below holds under concurrency;
    # environments are deleted under this lock too, so those named below stay until COMMIT.
    lock_deployment(deployment)
    for other, field in ((copy_from, "copy_from"), (promotes_to, "promotes_to")):
        if other is not None and not Environment.objects.filter(pk=other.pk).exists():
            raise NotFound(f"{other.name} no longer exists; it was deleted.", field=field)
    if Group.objects.filter(deployment=deployment, name=name).exists():
        raise Conflict(
            f"{deployment.name} has a shared group named {name}; an environment needs another "
            "name (references name either).",
            code="name_taken",
            field="name",
        )
    if Environment.objects.filter(deployment=deployment, name=name).exists():
        raise Conflict(
            f"{deployment.name} already has an environment named {name}.",
            code="name_taken",
            field="name",
        )
    if Environment.objects.filter(deployment=deployment).count() >= (
        rules.MAX_ENVIRONMENTS_PER_DEPLOYMENT
    ):
        raise Conflict(
            f"{deployment.name} already has {rules.MAX_ENVIRONMENTS_PER_DEPLOYMENT} "
            "environments, the most a deployment may have. Delete one first.",
            code="too_many_environments",
            field="name",
        )
    if copy_from is not None and copy_from.deployment_id != deployment.pk:
        raise Invalid("Copy from an environment of the same deployment.", field="copy_from")
    if promotes_to is not None and promotes_to.deployment_id != deployment.pk:
        raise Invalid("Promote to an environment of the same deployment.", field="promotes_to")
    if config_changes not in Environment.ConfigChanges.values:
        raise Invalid("Config changes go live immediate or staged.", field="config_changes")
    if promotes_to is None:
        promotes_to = default_promotion_target(deployment, name)
    environment = Environment.objects.create(
        deployment=deployment,
        name=name,
        promotes_to=promotes_to,
        config_changes=config_changes,
        expires_at=expires_at,
    )
    copied = 0
    if copy_from is not None:
        keyring = crypto.get_keyring()
        scope = fingerprint_scope(deployment.pk)
        new_rows, entries = [], []
        now = timezone.now()
        for source in Variable.objects.filter(environment=copy_from).select_related("environment"):
            try:
                value = crypto.decrypt(source.ciphertext, context=source.context(), keyring=keyring)
            except crypto.DecryptionError:
                raise Undecryptable(
                    f"{source.key} in {copy_from.name} cannot be decrypted with the configured "
                    "keys; nothing was copied.",
                    field="copy_from",
                ) from None
            new_rows.append(
                Variable(
                    environment=environment,
                    key=source.key,
                    is_secret=source.is_secret,
                    size=source.size,
                    ciphertext=crypto.encrypt(
                        value,
                        context=Variable.context_for(environment, source.key),
                        keyring=keyring,
                    ),
                    fingerprint=crypto.fingerprint(value, scope=scope, keyring=keyring),
                    updated_by=actor.user,
                    updated_by_label=actor.label,
                )
            )
            entries.append(
                ConfigEntry(
                    environment=environment,
                    kind=ConfigEntry.Kind.VARIABLE,
                    key=source.key,
                    is_secret=source.is_secret,
                    ciphertext=crypto.encrypt(
                        value,
                        context=crypto.entry_context(
                            deployment.pk, environment.pk, ConfigEntry.Kind.VARIABLE, source.key, 1
                        ),
                        keyring=keyring,
                    ),
                    fingerprint=new_rows[-1].fingerprint,
                    size=source.size,
                    set_revision=1,
                    set_at=now,
                    set_by_label=actor.label,
                )
            )
        Variable.objects.bulk_create(new_rows)
        ConfigEntry.objects.bulk_create(entries)
        copied = len(new_rows)
        # The copy links the source's groups, and resolves as its own (SPEC §19).
        GroupLink.objects.bulk_create(
            [
                GroupLink(environment=environment, group_id=group_id, position=position)
                for group_id, position in GroupLink.objects.filter(environment=copy_from)
                .order_by("position")
                .values_list("group_id", "position")
            ]
        )
    audit.record(
        "environment.create",
        actor=actor,
        environment=environment,
        target=name,
        detail=({"copied_from": copy_from.name, "variables": copied} if copy_from else {})
        | ({"expires_at": expires_at.isoformat()} if expires_at else {})
        | ({"data": data} if data != "none" else {}),
    )
    if copy_from is not None and deployment.shares_config:
        revision = Revision(environment, actor)
        revision.number = environment.config_revision  # its first revision, with the copy
        settle(deployment=deployment, actor=actor, revision=revision, field="copy_from")
    if copy_from is not None:
        data_services.create_for_new_environment(
            environment=environment, source=copy_from, data=data, actor=actor
        )
    return environment


@transaction.atomic(durable=True)
def delete_environment(
    *, environment: Environment, actor: Actor, expired_at: datetime | None = None
) -> None:
    """Delete a custom environment with its variables, bindings, domains and tokens.

    With `expired_at`, only if it expired by then, as re-checked under the lock (NotFound
    otherwise, also when it is already gone): several servers may expire at once.

    The deployment's row, then the environment's, then those that promote to it (whose
    promotion target it clears): all before the event (the lock order, environment_writes).
    Creations and promotion targets take the deployment's lock too, so no environment starts
    promoting to this one meanwhile."""
    try:
        lock_deployment_of(environment)
        environment = lock_environment(environment)
    except Environment.DoesNotExist:
        raise NotFound("That environment no longer exists.") from None
    if expired_at is not None and (
        environment.expires_at is None or environment.expires_at > expired_at
    ):
        raise NotFound(f"{environment.name} has not expired.")
    if environment.is_protected:
        raise Conflict(
            f"{environment.name} cannot be deleted: every deployment keeps production and staging.",
            code="protected_environment",
        )
    sources = list(
        Environment.objects.select_for_update(no_key=True)
        .filter(promotes_to=environment)
        .order_by("pk")
    )
    counts = {
        "variables": environment.variables.count(),
        "bindings": environment.bindings.count(),
        "domains": environment.domains.count(),
        "runtime_tokens": environment.runtime_tokens.count(),
    }
    audit.record(
        "environment.delete",
        actor=actor,
        environment=environment,
        target=environment.name,
        detail=counts | ({"reason": "expired"} if expired_at is not None else {}),
    )
    # Destroyed by the worker: their rows outlive the environment until then.
    data_services.destroy_for_environment(environment=environment, actor=actor)
    for source in sources:
        # Their promotion target disappears with it: on record, not silently.
        audit.record(
            "environment.set_promotion_target",
            actor=actor,
            environment=source,
            target="",
            detail={"reason": f"{environment.name} was deleted"},
        )
    environment.releases.all().delete()
    name, deployment = environment.name, environment.deployment
    environment.delete()
    if deployment.shares_config:
        # Refused (and rolled back) while another environment's value references it.
        settle(deployment=deployment, actor=actor, because=f"{name} was deleted")


@transaction.atomic(durable=True)
def set_promotion_target(
    *, environment: Environment, promotes_to: Environment | None, actor: Actor
) -> Environment:
    # Under the deployment's lock, as deletions: the new target stays until COMMIT.
    lock_deployment_of(environment)
    environment = lock_environment(environment)
    if promotes_to is not None:
        if not Environment.objects.filter(pk=promotes_to.pk).exists():
            raise NotFound(
                f"{promotes_to.name} no longer exists; it was deleted.", field="promotes_to"
            )
        if promotes_to.deployment_id != environment.deployment_id:
            raise Invalid("Promote to an environment of the same deployment.", field="promotes_to")
        if promotes_to.pk == environment.pk:
            raise Invalid("An environment cannot promote to itself.", field="promotes_to")
        if environment.is_production:
            raise Invalid("Production is the end of the pipeline.", field="promotes_to")
        targets = dict(
            Environment.objects.filter(deployment_id=environment.deployment_id).values_list(
                "pk", "promotes_to_id"
            )
        )
        step, seen = promotes_to.pk, set()
        while step is not None and step not in seen:
            if step == environment.pk:
                raise Invalid(
                    f"{promotes_to.name} already leads back to {environment.name}; a pipeline "
                    "cannot loop.",
                    code="promotion_cycle",
                    field="promotes_to",
                )
            seen.add(step)
            step = targets.get(step)
    environment.promotes_to = promotes_to
    environment.save(update_fields=["promotes_to"])
    audit.record(
        "environment.set_promotion_target",
        actor=actor,
        environment=environment,
        target=promotes_to.name if promotes_to else "",
    )
    return environment
