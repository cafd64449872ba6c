"""Shared groups as pages and the API list them (SPEC §19): the groups of a deployment, the
groups an environment links, a group's variables (previews, never a secret) and their history,
and a key's chain (`explain`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import Http404

from .. import crypto, resolver, rules
from ..models import Deployment, Environment, Group, GroupEntry, GroupLink


def get_group(deployment: Deployment, name: str) -> Group:
    group = Group.objects.filter(deployment=deployment, name=name).first()
    if group is None:
        raise Http404(f"{deployment.name} has no group named {name}.")
    group.deployment = deployment
    return group


@dataclass(frozen=True)
class GroupSummary:
    group: Group
    environments: list[str]  # the environments that link it
    variables: int
    needs_admin: bool  # production links it: writing it needs the admin role


def group_summaries(deployment: Deployment) -> list[GroupSummary]:
    """Every group of the deployment with what links it and its number of variables: three
    queries however many groups."""
    groups = list(Group.objects.filter(deployment=deployment).order_by("name"))
    links: dict[int, list[str]] = {}
    for group_id, name in (
        GroupLink.objects.filter(group__deployment=deployment)
        .order_by("environment__name")
        .values_list("group_id", "environment__name")
    ):
        links.setdefault(group_id, []).append(name)
    counts: dict[int, int] = {}
    for group_id in GroupEntry.objects.filter(
        group__deployment=deployment, end_revision__isnull=True
    ).values_list("group_id", flat=True):
        counts[group_id] = counts.get(group_id, 0) + 1
    return [
        GroupSummary(
            group=g,
            environments=links.get(g.pk, []),
            variables=counts.get(g.pk, 0),
            needs_admin=rules.PRODUCTION in links.get(g.pk, []),
        )
        for g in groups
    ]


def group_names(deployment: Deployment) -> list[str]:
    return list(
        Group.objects.filter(deployment=deployment).order_by("name").values_list("name", flat=True)
    )


def linked_groups(environment: Environment) -> list[str]:
    """The names of the groups the environment links, in order (one query)."""
    return list(
        GroupLink.objects.filter(environment=environment)
        .order_by("position")
        .values_list("group__name", flat=True)
    )


def linking_environments(group: Group) -> list[str]:
    return sorted(
        Environment.objects.filter(group_links__group=group).values_list("name", flat=True)
    )


@dataclass(frozen=True)
class GroupVariableRow:
    key: str
    preview: str | None  # None when it cannot be decrypted
    is_secret: bool  # its own, or a value it references is a secret
    revision: int
    updated_at: datetime
    updated_by: str
    undecryptable: bool = False
    references: bool = False  # its value references other keys


def group_variable_rows(group: Group) -> list[GroupVariableRow]:
    """A group's variables, previews only, resolved in the group (a value that references a
    secret previews as one). One query, and the resolver's when a value has references."""
    entries = list(
        GroupEntry.objects.filter(group=group, end_revision__isnull=True).order_by("key")
    )
    keyring = crypto.get_keyring()
    plain: dict[str, str | None] = {}
    for entry in entries:
        entry.group = group
        try:
            plain[entry.key] = crypto.decrypt(
                entry.ciphertext, context=entry.context(), keyring=keyring
            )
        except crypto.DecryptionError:
            plain[entry.key] = None
    resolved: dict[str, resolver.Resolved] = {}
    if any(v is not None and resolver.has_references(v) for v in plain.values()):
        world = resolver.World(group.deployment_id, keyring=keyring)
        for entry in entries:
            try:
                resolved[entry.key] = world.resolve(world.groups[group.name].scope, entry.key)
            except resolver.ReferenceProblem:
                continue
    rows = []
    for entry in entries:
        value = plain[entry.key]
        item = resolved.get(entry.key)
        is_secret = item.is_secret if item is not None else entry.is_secret
        if value is None:
            preview = None
        elif is_secret:
            preview = rules.SECRET_PREVIEW
        else:
            preview = rules.plain_preview(item.value if item is not None else value)
        rows.append(
            GroupVariableRow(
                key=entry.key,
                preview=preview,
                is_secret=is_secret,
                revision=entry.set_revision,
                updated_at=entry.set_at,
                updated_by=entry.set_by_label,
                undecryptable=value is None,
                references=value is not None and resolver.has_references(value),
            )
        )
    return rows


def group_plain_values(group: Group) -> dict[str, str]:
    """The resolved values of a group's plain variables (never one that is, or reads, a
    secret). Raises crypto.DecryptionError; the caller audits first."""
    world = resolver.World(group.deployment_id)
    values = {}
    for key, item in world.group(group.name).items():
        if not item.is_secret:
            values[key] = item.value
    return values


@dataclass(frozen=True)
class GroupKeyHistoryRow:
    revision: int
    action: str  # "set" or "deleted"
    is_secret: bool
    by: str
    at: datetime
    same_as: int | None
    restorable: bool


def group_key_history(group: Group, key: str) -> list[GroupKeyHistoryRow]:
    """A group key's history, newest first (one query); never a value."""
    entries = list(
        GroupEntry.objects.filter(group=group, key=key).defer("ciphertext").order_by("set_revision")
    )
    rows: list[GroupKeyHistoryRow] = []
    seen: dict[bytes, int] = {}
    for entry in entries:
        fingerprint = bytes(entry.fingerprint)
        rows.append(
            GroupKeyHistoryRow(
                revision=entry.set_revision,
                action="set",
                is_secret=entry.is_secret,
                by=entry.set_by_label,
                at=entry.set_at,
                same_as=seen.get(fingerprint),
                restorable=entry.end_revision is not None,
            )
        )
        seen.setdefault(fingerprint, entry.set_revision)
        if entry.ended == GroupEntry.Ended.DELETED:
            rows.append(
                GroupKeyHistoryRow(
                    revision=entry.end_revision,
                    action="deleted",
                    is_secret=entry.is_secret,
                    by=entry.ended_by_label,
                    at=entry.ended_at,
                    same_as=None,
                    restorable=False,
                )
            )
    rows.sort(key=lambda r: (r.revision, r.action == "set"), reverse=True)
    return rows


@dataclass(frozen=True)
class Explanation:
    environment: str
    key: str
    is_secret: bool
    preview: str
    value: str | None  # the resolved value, for a plain key (the caller decides to show it)
    steps: list[resolver.Step]


def explain(environment: Environment, key: str) -> Explanation:
    """One key's chain as it resolves now; Http404 if the environment has no such key."""
    world = resolver.World(environment.deployment_id)
    try:
        steps = world.explain(environment.name, key)
        item = world.resolve(world.environments[environment.name].scope, key)
    except resolver.ReferenceProblem as problem:
        if problem.code == "unknown_reference" and len(problem.chain) == 1:
            raise Http404(f"{environment.name} has no {key}.") from None
        raise
    if steps[0].source == "binding":
        preview = rules.mask_url(item.value)
    else:
        preview = rules.SECRET_PREVIEW if item.is_secret else rules.plain_preview(item.value)
    return Explanation(
        environment=environment.name,
        key=key,
        is_secret=item.is_secret,
        preview=preview,
        value=None if item.is_secret else item.value,
        steps=steps,
    )


def step_value(step: resolver.Step, keyring=None) -> str | None:
    """What a step's value is written as: only for a plain variable (never a secret, a
    binding, or one that reads a secret)."""
    if step.is_secret or step.source == "binding" or step.raw.is_secret:
        return None
    return step.raw.text(keyring or crypto.get_keyring())
