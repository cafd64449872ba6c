"""Variables and bindings as the pages and the API list them (previews, never a secret), the
raw plain values a reveal discloses, and a key's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.shortcuts import get_object_or_404

from .. import crypto, rules
from ..models import (
    Binding,
    ConfigEntry,
    Deployment,
    Environment,
    Variable,
)
from .access import valid_id


def get_variable(environment: Environment, key: str) -> Variable:
    """A variable's metadata (key, secrecy), never its value; Http404 if there is none."""
    variable = get_object_or_404(
        Variable.objects.only("pk", "environment_id", "key", "is_secret", "fingerprint"),
        environment=environment,
        key=key,
    )
    variable.environment = environment
    return variable


def holds_value(variable: Variable, value: str) -> bool:
    """Whether `variable` already holds `value`: its keyed fingerprint compared, nothing
    decrypted (one made under an older key compares unequal)."""
    scope = crypto.deployment_scope(variable.environment.deployment_id)
    return bytes(variable.fingerprint) == crypto.fingerprint(value, scope=scope)


def get_binding(environment: Environment, pk: int) -> Binding:
    binding = get_object_or_404(
        Binding.objects.defer("ciphertext"), environment=environment, pk=valid_id(pk)
    )
    binding.environment = environment
    return binding


def deployment_binding(deployment: Deployment, pk: int) -> Binding:
    """A binding of any environment of the deployment (Http404 otherwise)."""
    binding = get_object_or_404(
        Binding.objects.defer("ciphertext").select_related("environment"),
        environment__deployment=deployment,
        pk=valid_id(pk),
    )
    binding.environment.deployment = deployment
    return binding


@dataclass(frozen=True)
class VariableRow:
    """A variable or binding as pages and the API list it: never a secret value."""

    environment: str
    key: str
    preview: str | None  # None when the stored value cannot be decrypted
    is_secret: bool
    source: str  # "env" or "binding"
    updated_at: datetime
    updated_by: str
    undecryptable: bool = False
    kind: str = ""  # binding kind
    binding_name: str = ""
    pk: int = 0
    managed: bool = False  # a data service's binding (SPEC §13)
    # Shared groups and references (SPEC §19): the group a key comes from (source "group"),
    # and whether the value shown is resolved from what was written.
    group: str = ""
    resolved: bool = False


_VARIABLE_ROW_FIELDS = (
    "pk",
    "environment_id",
    "key",
    "ciphertext",
    "is_secret",
    "updated_at",
    "updated_by_label",
)


def _variable_row(variable: Any, environment: Environment, keyring) -> VariableRow:
    """`variable`: a Variable, or a named tuple of its _VARIABLE_ROW_FIELDS."""
    # Every row is decrypted once, secrets too: a tampered secret, or one stored under a key id
    # whose key was replaced, must list as undecryptable, not as a healthy mask (SPEC §3). A
    # secret's plaintext is dropped at once: its preview is the constant mask.
    preview: str | None
    try:
        value = crypto.decrypt(
            variable.ciphertext,
            context=Variable.context_for(environment, variable.key),
            keyring=keyring,
        )
    except crypto.DecryptionError:
        preview, undecryptable = None, True
    else:
        preview = rules.SECRET_PREVIEW if variable.is_secret else rules.plain_preview(value)
        undecryptable = False
    return VariableRow(
        environment=environment.name,
        key=variable.key,
        preview=preview,
        is_secret=variable.is_secret,
        source="env",
        updated_at=variable.updated_at,
        updated_by=variable.updated_by_label,
        undecryptable=undecryptable,
        pk=variable.pk,
    )


def _binding_row(binding: Binding, environment: Environment, keyring) -> VariableRow:
    try:
        url = crypto.decrypt(
            binding.ciphertext,
            context=Binding.context_for(environment, binding.uid),
            keyring=keyring,
        )
        preview, undecryptable = rules.mask_url(url), False
    except crypto.DecryptionError:
        preview, undecryptable = None, True
    return VariableRow(
        environment=environment.name,
        key=binding.variable_name,
        preview=preview,
        is_secret=True,
        source="binding",
        updated_at=binding.updated_at,
        updated_by=binding.updated_by_label,
        undecryptable=undecryptable,
        kind=binding.kind,
        binding_name=binding.name,
        pk=binding.pk,
        managed=binding.data_service_id is not None,
    )


def resolved_entries(environments: list[Environment]) -> dict[tuple[int, str], ConfigEntry]:
    """The resolved keys live now (SPEC §19: a group's key, or a value with references, as the
    runtime gets it), by (environment id, key): one query, none for environments that have
    none."""
    ids = [e.pk for e in environments if e.resolved_count]
    if not ids:
        return {}
    return {
        (e.environment_id, e.key): e
        for e in ConfigEntry.objects.filter(
            environment_id__in=ids, kind=ConfigEntry.Kind.RESOLVED, end_revision__isnull=True
        ).only(
            "pk",
            "environment_id",
            "kind",
            "key",
            "is_secret",
            "ciphertext",
            "fingerprint",
            "origin",
            "set_revision",
            "set_at",
            "set_by_label",
        )
    }


def _resolved_row(
    entry: ConfigEntry, environment: Environment, keyring, own: VariableRow | None
) -> VariableRow:
    """A key as the runtime gets it, resolved: over its own variable's row, or a group's key."""
    try:
        value = crypto.decrypt(
            entry.ciphertext,
            context=crypto.entry_context(
                environment.deployment_id, environment.pk, entry.kind, entry.key, entry.set_revision
            ),
            keyring=keyring,
        )
    except crypto.DecryptionError:
        preview, undecryptable = None, True
    else:
        preview = rules.SECRET_PREVIEW if entry.is_secret else rules.plain_preview(value)
        undecryptable = False
    if own is not None:
        return VariableRow(
            environment=own.environment,
            key=own.key,
            preview=preview if not own.undecryptable else None,
            is_secret=entry.is_secret,
            source=own.source,
            updated_at=own.updated_at,
            updated_by=own.updated_by,
            undecryptable=undecryptable or own.undecryptable,
            pk=own.pk,
            group=entry.origin,
            resolved=True,
        )
    return VariableRow(
        environment=environment.name,
        key=entry.key,
        preview=preview,
        is_secret=entry.is_secret,
        source="group",
        updated_at=entry.set_at,
        updated_by=entry.set_by_label,
        undecryptable=undecryptable,
        group=entry.origin,
        resolved=True,
    )


def with_resolved(
    rows: list[VariableRow], environments: list[Environment], keyring=None
) -> list[VariableRow]:
    """`rows` (own variables, maybe bindings) with each key as the runtime gets it: a value with
    references resolved (a secret if it reads one), and the keys of linked groups."""
    resolved = resolved_entries(environments)
    if not resolved:
        return rows
    keyring = keyring or crypto.get_keyring()
    by_name = {e.name: e for e in environments}
    by_id = {e.pk: e for e in environments}
    out: list[VariableRow] = []
    seen: set[tuple[int, str]] = set()
    for row in rows:
        environment = by_name[row.environment]
        entry = resolved.get((environment.pk, row.key))
        if entry is not None and row.source == "env":
            out.append(_resolved_row(entry, environment, keyring, row))
            seen.add((environment.pk, row.key))
        else:
            out.append(row)
            if entry is not None:
                seen.add((environment.pk, row.key))
    for (environment_id, key), entry in resolved.items():
        if (environment_id, key) not in seen:
            out.append(_resolved_row(entry, by_id[environment_id], keyring, None))
    out.sort(key=lambda r: (r.environment, r.key))
    return out


def variable_rows(
    environments: list[Environment], *, include_bindings: bool = True
) -> list[VariableRow]:
    """Variables (and bindings) of the given environments of one deployment, previews only,
    and the keys of their linked groups; each as the runtime gets it (SPEC §19).

    Two queries whatever the number of rows (three when a group or a reference resolves).
    """
    if not environments:
        return []
    by_id = {e.pk: e for e in environments}
    keyring = crypto.get_keyring()
    # Named tuples, not model instances: building 500 Variables cost ten times the query
    # itself, and the environment page lists up to 500 (docs/performance.md).
    rows: list[VariableRow] = [
        _variable_row(v, by_id[v.environment_id], keyring)
        for v in Variable.objects.filter(environment__in=by_id)
        .order_by("environment__name", "key")
        .values_list(*_VARIABLE_ROW_FIELDS, named=True)
    ]
    if include_bindings:
        rows += [
            _binding_row(b, by_id[b.environment_id], keyring)
            for b in Binding.objects.filter(environment__in=by_id).defer("fingerprint")
        ]
    rows.sort(key=lambda r: (r.environment, r.key))
    return with_resolved(rows, environments, keyring)


def refresh_resolved_count(environment: Environment) -> Environment:
    """`environment` with its count of resolved keys as a write left it (one query)."""
    environment.resolved_count = (
        Environment.objects.filter(pk=environment.pk).values_list("resolved_count", flat=True).get()
    )
    return environment


def variable_row(environment: Environment, key: str) -> VariableRow:
    """One variable as the lists show it (a preview; '••••' for a secret), one query."""
    variable = Variable.objects.filter(environment=environment, key=key).defer("fingerprint").get()
    row = _variable_row(variable, environment, crypto.get_keyring())
    return with_resolved([row], [environment])[0] if environment.resolved_count else row


def binding_rows(environments: list[Environment]) -> list[VariableRow]:
    """The bindings of the given environments, as GET env lists them: the URL masked, never
    the credential. One query however many bindings."""
    by_id = {e.pk: e for e in environments}
    keyring = crypto.get_keyring()
    rows = [
        _binding_row(b, by_id[b.environment_id], keyring)
        for b in Binding.objects.filter(environment__in=by_id).defer("fingerprint")
    ]
    rows.sort(key=lambda r: (r.environment, r.key))
    return rows


def binding_row(binding: Binding) -> VariableRow:
    """One binding as the lists show it (its URL masked), re-read from the database."""
    fresh = Binding.objects.defer("fingerprint").get(pk=binding.pk)
    return _binding_row(fresh, binding.environment, crypto.get_keyring())


def reveal_plain_values(
    environments: list[Environment], *, key: str | None = None
) -> dict[tuple[str, str], str]:
    """Raw values of the *plain* variables of `environments` (never secrets or bindings),
    or of the one named `key`.

    Raises crypto.DecryptionError if one cannot be decrypted. The caller audits first.
    """
    by_id = {e.pk: e for e in environments}
    keyring = crypto.get_keyring()
    variables = Variable.objects.filter(environment__in=by_id, is_secret=False)
    if key is not None:
        variables = variables.filter(key=key)
    resolved = resolved_entries(environments)
    values = {}
    for variable in variables:
        environment = by_id[variable.environment_id]
        if (environment.pk, variable.key) in resolved:
            continue  # revealed as resolved, below
        values[(environment.name, variable.key)] = crypto.decrypt(
            variable.ciphertext,
            context=Variable.context_for(environment, variable.key),
            keyring=keyring,
        )
    # A resolved key is revealed as the runtime gets it, unless it reads a secret (SPEC §19).
    for (environment_id, entry_key), entry in resolved.items():
        if entry.is_secret or (key is not None and entry_key != key):
            continue
        environment = by_id[environment_id]
        values[(environment.name, entry_key)] = crypto.decrypt(
            entry.ciphertext,
            context=crypto.entry_context(
                environment.deployment_id, environment.pk, entry.kind, entry_key, entry.set_revision
            ),
            keyring=keyring,
        )
    return values


@dataclass(frozen=True)
class KeyHistoryRow:
    """One event in a key's history: never a value."""

    revision: int
    action: str  # "set" or "deleted"
    is_secret: bool
    source: str  # "env" or "binding"
    by: str
    at: datetime
    same_as: int | None  # an earlier revision whose value this one equals (fingerprints)
    restorable: bool  # a variable value that can be restored (not a deletion, not current)


def key_history(environment: Environment, key: str) -> list[KeyHistoryRow]:
    """A key's history, newest first (one query)."""
    entries = list(
        ConfigEntry.objects.filter(
            environment=environment,
            key=key,
            kind__in=(ConfigEntry.Kind.VARIABLE, ConfigEntry.Kind.BINDING),
        )
        .defer("ciphertext")
        .order_by("set_revision")
    )
    rows: list[KeyHistoryRow] = []
    seen: dict[bytes, int] = {}
    for entry in entries:
        fingerprint = bytes(entry.fingerprint)
        source = "binding" if entry.kind == ConfigEntry.Kind.BINDING else "env"
        rows.append(
            KeyHistoryRow(
                revision=entry.set_revision,
                action="set",
                is_secret=entry.is_secret,
                source=source,
                by=entry.set_by_label,
                at=entry.set_at,
                same_as=seen.get(fingerprint) if fingerprint else None,
                restorable=(
                    entry.kind == ConfigEntry.Kind.VARIABLE and entry.end_revision is not None
                ),
            )
        )
        if fingerprint:
            seen.setdefault(fingerprint, entry.set_revision)
        if entry.ended == ConfigEntry.Ended.DELETED:
            rows.append(
                KeyHistoryRow(
                    revision=entry.end_revision,
                    action="deleted",
                    is_secret=entry.is_secret,
                    source=source,
                    by=entry.ended_by_label,
                    at=entry.ended_at,
                    same_as=None,
                    restorable=False,
                )
            )
    rows.sort(key=lambda r: (r.revision, r.action == "set"), reverse=True)
    return rows
