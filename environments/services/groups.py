"""Shared groups (SPEC §19): create and delete them, write their variables (encrypted, with
history), and link them to environments, in order. Every change re-resolves the environments
it reaches (`resolution.settle`), in its transaction."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from .. import audit, crypto, permissions, resolver, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, TooLarge, Undecryptable, validated
from ..models import Deployment, Environment, Group, GroupEntry, GroupLink, Role
from .environment_writes import fingerprint_scope, lock_deployment, lock_environment
from .resolution import problem_error, settle
from .variables import VariableInput

MAX_GROUPS_PER_DEPLOYMENT = 50
MAX_GROUPS_PER_ENVIRONMENT = 20


class RoleTooLow(Exception):
    """The caller's role does not write every environment that links the group (checked again
    under the lock: an environment may have linked it meanwhile). Views answer 403."""


def lock_group(group: Group) -> tuple[Deployment, Group]:
    """The deployment's row, then the group's: NotFound if the group was deleted."""
    deployment = lock_deployment(Deployment(pk=group.deployment_id))
    fresh = Group.objects.select_for_update(no_key=True).filter(pk=group.pk).first()
    if fresh is None:
        raise NotFound(f"{group.name} no longer exists; it was deleted.")
    fresh.deployment = deployment
    return deployment, fresh


def role_to_write(group: Group) -> str:
    """The role that writes every environment linking the group (admin if production does)."""
    linked = Environment.objects.filter(group_links__group=group, name=rules.PRODUCTION)
    return Role.ADMIN if linked.exists() else Role.DEVELOPER


def _check_role(group: Group, role: str | None) -> None:
    if role is not None and not permissions.has_role(role, role_to_write(group)):
        raise RoleTooLow(
            f"{group.name} is linked by production: writing it needs the admin role or higher."
        )


# Groups


@transaction.atomic(durable=True)
def create_group(*, deployment: Deployment, name: str, actor: Actor) -> Group:
    name = validated(rules.validate_group_name, name, field="name")
    deployment = lock_deployment(deployment)
    if Environment.objects.filter(deployment=deployment, name=name).exists():
        raise Conflict(
            f"{deployment.name} has an environment named {name}; a group needs another name "
            "(references name either).",
            code="name_taken",
            field="name",
        )
    if Group.objects.filter(deployment=deployment, name=name).exists():
        raise Conflict(
            f"{deployment.name} already has a group named {name}.", code="name_taken", field="name"
        )
    if Group.objects.filter(deployment=deployment).count() >= MAX_GROUPS_PER_DEPLOYMENT:
        raise Conflict(
            f"{deployment.name} already has {MAX_GROUPS_PER_DEPLOYMENT} groups, the most a "
            "deployment may have.",
            code="too_many_groups",
            field="name",
        )
    group = Group.objects.create(deployment=deployment, name=name, created_by=actor.user)
    if not deployment.shares_config:
        Deployment.objects.filter(pk=deployment.pk).update(shares_config=True)
    audit.record("group.create", actor=actor, deployment=deployment, target=name)
    return group


@transaction.atomic(durable=True)
def delete_group(*, group: Group, actor: Actor, role: str | None = None) -> None:
    """Delete a group no environment links; refused while a value references it."""
    deployment, group = lock_group(group)
    _check_role(group, role)
    linking = sorted(
        Environment.objects.filter(group_links__group=group).values_list("name", flat=True)
    )
    if linking:
        raise Conflict(
            f"{', '.join(linking)} {'links' if len(linking) == 1 else 'link'} {group.name}; "
            "unlink it first.",
            code="group_in_use",
        )
    name = group.name
    group.delete()
    audit.record("group.delete", actor=actor, deployment=deployment, target=name)
    settle(deployment=deployment, actor=actor, because=f"group {name} was deleted")


# Group variables


def clean_items(group_name: str, items: list[VariableInput]) -> set[str]:
    """What refuses `items` whatever the group holds (keys, values, kinds, references'
    syntax), without a query; the keys."""
    seen: set[str] = set()
    single = len(items) == 1
    for position, item in enumerate(items):
        field = "key" if single else f"variables[{position}].key"
        key = validated(rules.validate_new_key, item.key, field=field)
        if key in seen:
            raise Invalid(f"{key} appears twice in the request.", code="duplicate_key", field=field)
        seen.add(key)
        validated(
            rules.validate_variable_value,
            item.value,
            field="value" if single else f"variables[{position}].value",
        )
        if item.is_secret is not None and not isinstance(item.is_secret, bool):
            raise Invalid("is_secret must be true or false.", field="is_secret")
        try:
            resolver.parse(item.value)
        except ValueError as exc:
            raise Invalid(
                f"{group_name}.{key}: {exc}",
                code="invalid_reference",
                field="value" if single else f"variables[{position}].value",
            ) from None
    return seen


def _check_items(group: Group, items: list[VariableInput]) -> dict[str, GroupEntry]:
    """Refusals before writing `items` (as an environment's, SPEC §1); the live entries by key."""
    seen = clean_items(group.name, items)
    live = {
        e.key: e
        for e in GroupEntry.objects.filter(group=group, end_revision__isnull=True, key__in=seen)
    }
    for item in items:
        current = live.get(item.key.strip())
        if current is not None and current.is_secret and item.is_secret is False:
            raise Conflict(
                f"{current.key} is a secret and cannot be turned back into a plain variable; "
                "delete it and create it again.",
                code="secret_cannot_become_plain",
                field="is_secret",
            )
    totals = (
        GroupEntry.objects.filter(group=group, end_revision__isnull=True)
        .exclude(key__in=seen)
        .aggregate(count=Count("id"), size=Sum("size"))
    )
    if (totals["count"] or 0) + len(items) > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise TooLarge(
            f"{group.name} would have more than {rules.MAX_KEYS_PER_ENVIRONMENT} variables; "
            "that is the limit.",
            code="too_many_variables",
        )
    if (totals["size"] or 0) + sum(len(i.value.encode()) for i in items) > (
        rules.MAX_ENVIRONMENT_BYTES
    ):
        raise TooLarge(
            f"The values of {group.name} would exceed the limit of "
            f"{rules.MAX_ENVIRONMENT_BYTES} bytes (64 KiB) in total.",
            code="group_too_large",
        )
    return live


def _take_revision(group: Group) -> int:
    group.revision += 1
    group.save(update_fields=["revision"])
    return group.revision


def _end(group: Group, key: str, revision: int, ended: str, actor: Actor, now) -> None:
    GroupEntry.objects.filter(group=group, key=key, end_revision__isnull=True).update(
        end_revision=revision, ended=ended, ended_at=now, ended_by_label=actor.label
    )


@transaction.atomic(durable=True)
def set_group_variables(
    *, group: Group, items: list[VariableInput], actor: Actor, role: str | None = None
) -> list[tuple[GroupEntry, bool]]:
    """Create or replace a group's variables, all or nothing, as one revision of the group;
    every environment whose resolved configuration this changes gets a config change."""
    if not items:
        raise Invalid("Give at least one variable.", field="variables")
    deployment, group = lock_group(group)
    _check_role(group, role)
    live = _check_items(group, items)
    revision = _take_revision(group)
    keyring = crypto.get_keyring()
    scope = fingerprint_scope(deployment.pk)
    now = timezone.now()
    written: list[tuple[GroupEntry, bool]] = []
    for item in items:
        key = item.key.strip()
        current = live.get(key)
        is_secret = bool(item.is_secret) or (current is not None and current.is_secret)
        _end(group, key, revision, GroupEntry.Ended.REPLACED, actor, now)
        entry = GroupEntry.objects.create(
            group=group,
            key=key,
            is_secret=is_secret,
            ciphertext=crypto.encrypt(
                item.value,
                context=crypto.group_entry_context(deployment.pk, group.pk, key, revision),
                keyring=keyring,
            ),
            fingerprint=crypto.fingerprint(item.value, scope=scope, keyring=keyring),
            size=len(item.value.encode()),
            set_revision=revision,
            set_at=now,
            set_by_label=actor.label,
        )
        written.append((entry, current is None))
        audit.record(
            "group.variable.set",
            actor=actor,
            deployment=deployment,
            target=f"{group.name}.{key}",
            detail={"group": group.name, "is_secret": is_secret, "revision": revision},
        )
    settle(
        deployment=deployment,
        actor=actor,
        changed={(resolver.GROUP, group.name, i.key.strip()) for i in items},
        group=group.name,
        field="value" if len(items) == 1 else "variables",
    )
    return written


@transaction.atomic(durable=True)
def delete_group_variable(*, group: Group, key: str, actor: Actor, role: str | None = None) -> None:
    deployment, group = lock_group(group)
    _check_role(group, role)
    if not GroupEntry.objects.filter(group=group, key=key, end_revision__isnull=True).exists():
        raise NotFound(f"{group.name} has no variable {key}.", field="key")
    revision = _take_revision(group)
    _end(group, key, revision, GroupEntry.Ended.DELETED, actor, timezone.now())
    audit.record(
        "group.variable.delete",
        actor=actor,
        deployment=deployment,
        target=f"{group.name}.{key}",
        detail={"group": group.name, "revision": revision},
    )
    settle(
        deployment=deployment,
        actor=actor,
        changed={(resolver.GROUP, group.name, key)},
        group=group.name,
        field="key",
    )


@transaction.atomic(durable=True)
def restore_group_variable(
    *, group: Group, key: str, revision: int, actor: Actor, role: str | None = None
) -> GroupEntry:
    """Set `key` back to the value it had at the group's `revision`, as a new revision; a
    secret is restored without being shown, and stays one."""
    deployment, group = lock_group(group)
    _check_role(group, role)
    if not isinstance(revision, int) or not 1 <= revision <= group.revision:
        raise NotFound(f"{group.name} has no revision {revision}.", field="revision")
    old = (
        GroupEntry.objects.filter(group=group, key=key, set_revision__lte=revision)
        .exclude(end_revision__lte=revision)
        .first()
    )
    if old is None:
        raise NotFound(
            f"{key} had no value in {group.name} at revision {revision}.", field="revision"
        )
    old.group = group
    try:
        value = crypto.decrypt(old.ciphertext, context=old.context(), keyring=crypto.get_keyring())
    except crypto.DecryptionError:
        raise Undecryptable(
            f"{key} at revision {revision} cannot be decrypted with the configured keys; "
            "nothing was restored."
        ) from None
    entry = _restore(group, deployment, key, value, old.is_secret, actor)
    audit.record(
        "group.variable.restore",
        actor=actor,
        deployment=deployment,
        target=f"{group.name}.{key}",
        detail={"group": group.name, "from_revision": revision, "revision": group.revision},
    )
    return entry


def _restore(group, deployment, key, value, is_secret, actor) -> GroupEntry:
    live = _check_items(group, [VariableInput(key, value, True if is_secret else None)])
    revision = _take_revision(group)
    keyring = crypto.get_keyring()
    now = timezone.now()
    current = live.get(key)
    _end(group, key, revision, GroupEntry.Ended.REPLACED, actor, now)
    entry = GroupEntry.objects.create(
        group=group,
        key=key,
        is_secret=is_secret or (current is not None and current.is_secret),
        ciphertext=crypto.encrypt(
            value,
            context=crypto.group_entry_context(deployment.pk, group.pk, key, revision),
            keyring=keyring,
        ),
        fingerprint=crypto.fingerprint(
            value, scope=fingerprint_scope(deployment.pk), keyring=keyring
        ),
        size=len(value.encode()),
        set_revision=revision,
        set_at=now,
        set_by_label=actor.label,
    )
    settle(
        deployment=deployment,
        actor=actor,
        changed={(resolver.GROUP, group.name, key)},
        group=group.name,
        field="revision",
    )
    return entry


# Links


@transaction.atomic(durable=True)
def set_environment_groups(
    *, environment: Environment, groups: list[str], actor: Actor
) -> list[Group]:
    """The groups an environment links, in order (a later one overrides an earlier one)."""
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise Invalid("Give the groups as a list of names.", field="groups")
    if len(set(groups)) != len(groups):
        raise Invalid("A group is linked once.", code="duplicate_group", field="groups")
    if len(groups) > MAX_GROUPS_PER_ENVIRONMENT:
        raise Invalid(
            f"An environment links at most {MAX_GROUPS_PER_ENVIRONMENT} groups.", field="groups"
        )
    environment = lock_environment(environment)
    found = {
        g.name: g for g in Group.objects.filter(deployment=environment.deployment, name__in=groups)
    }
    missing = [g for g in groups if g not in found]
    if missing:
        raise Invalid(
            f"{environment.deployment.name} has no group named {', '.join(missing)}.",
            code="unknown_group",
            field="groups",
        )
    before = list(
        GroupLink.objects.filter(environment=environment)
        .order_by("position")
        .values_list("group__name", flat=True)
    )
    if before == groups:
        return [found[g] for g in groups]
    GroupLink.objects.filter(environment=environment).delete()
    GroupLink.objects.bulk_create(
        [
            GroupLink(environment=environment, group=found[name], position=position)
            for position, name in enumerate(groups)
        ]
    )
    audit.record(
        "environment.groups",
        actor=actor,
        environment=environment,
        target=",".join(groups)[:300],
        detail={"groups": groups, "before": before},
    )
    settle(
        deployment=environment.deployment,
        actor=actor,
        environment=environment,
        because="the linked groups",
        field="groups",
    )
    return [found[g] for g in groups]


# Reads of raw material


def reveal_group_values(*, group: Group, actor: Actor) -> dict[str, str]:
    """A group's plain values (resolved), on record first (SPEC §7)."""
    from .. import selectors

    with transaction.atomic(durable=True):
        audit.record(
            "variable.reveal",
            actor=actor,
            deployment=group.deployment,
            target=f"{group.name}.*",
            detail={"group": group.name},
        )
        try:
            return selectors.group_plain_values(group)
        except resolver.ReferenceProblem as problem:
            raise problem_error(problem) from None
        except crypto.DecryptionError:
            raise Undecryptable(
                f"A value of {group.name} cannot be decrypted with the configured keys."
            ) from None


def reveal_explanation(*, environment: Environment, key: str, actor: Actor):
    """A key's chain with the values of its plain steps, on record first (SPEC §7, §19)."""
    from .. import selectors

    with transaction.atomic(durable=True):
        audit.record(
            "variable.reveal",
            actor=actor,
            environment=environment,
            target=key,
            detail={"explain": True},
        )
        explanation = selectors.explain(environment, key)
        keyring = crypto.get_keyring()
        return explanation, [selectors.step_value(step, keyring) for step in explanation.steps]
