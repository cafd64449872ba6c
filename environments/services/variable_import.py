"""Importing a dotenv file or a JSON object into an environment (SPEC §10): all or nothing, as
one revision, with a dry run that answers the diff by key name and writes nothing but its audit
event."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.db import transaction

from .. import audit, crypto
from ..actors import Actor
from ..import_parser import ImportItem
from ..models import Environment, Variable
from .environment_writes import fingerprint_scope, lock_environment
from .resolution import check_written
from .variables import VariableInput, check_variables, write_variables


@dataclass(frozen=True)
class ImportDiff:
    """Key names only. For plain variables `changed`/`unchanged` compare keyed fingerprints; a
    plain variable that becomes a secret is changed. An existing secret is `replaced`, whether
    the value is the same or not: a dry run writes nothing, so same/different would confirm a
    guess of the secret (issue 18); its fingerprint is not even computed."""

    added: list[str]
    changed: list[str]
    unchanged: list[str]
    replaced: list[str]  # existing secrets the import overwrites, never said to be the same
    secret_keys: list[str]  # the imported keys that are secrets after the import

    @property
    def keys(self) -> list[str]:
        return self.added + self.changed + self.unchanged + self.replaced


def _inputs(items: list[ImportItem], secret_keys: set[str]) -> list[VariableInput]:
    # None keeps an existing variable's kind: a secret stays a secret.
    return [
        VariableInput(item.key, item.value, True if item.key in secret_keys else None)
        for item in items
    ]


def _diff(
    environment: Environment, inputs: list[VariableInput], existing: dict[str, Variable]
) -> ImportDiff:
    scope = fingerprint_scope(environment.deployment_id)
    keyring = crypto.get_keyring()
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    replaced: list[str] = []
    secrets: list[str] = []
    for item in inputs:
        current = existing.get(item.key)
        is_secret = bool(item.is_secret) or (current is not None and current.is_secret)
        if is_secret:
            secrets.append(item.key)
        if current is None:
            added.append(item.key)
            continue
        if current.is_secret:
            replaced.append(item.key)
            continue
        fingerprint = crypto.fingerprint(item.value, scope=scope, keyring=keyring)
        same = hmac.compare_digest(fingerprint, bytes(current.fingerprint))
        (unchanged if same and not is_secret else changed).append(item.key)
    return ImportDiff(added, changed, unchanged, replaced, secrets)


def _record(environment: Environment, diff: ImportDiff, actor: Actor, *, dry_run: bool) -> None:
    keys = diff.keys
    audit.record(
        "variable.import_preview" if dry_run else "variable.import",
        actor=actor,
        environment=environment,
        target=f"{len(keys)} variables",
        detail={
            "dry_run": dry_run,
            "count": len(keys),
            "keys": sorted(keys),
            "secret_keys": sorted(diff.secret_keys),
            "added": len(diff.added),
            "changed": len(diff.changed),
            "replaced": len(diff.replaced),
            **({} if dry_run else {"revision": environment.config_revision}),
        },
    )


@transaction.atomic(durable=True)
def preview_import(
    *, environment: Environment, items: list[ImportItem], secret_keys: set[str], actor: Actor
) -> ImportDiff:
    """What importing `items` would do, refused exactly as the import would be; writes only
    its audit event (no revision, no release)."""
    inputs = _inputs(items, secret_keys)
    existing = check_variables(environment, inputs, fields=[item.where for item in items])
    check_written(
        environment=environment,
        values={
            i.key.strip(): (
                i.value,
                bool(i.is_secret)
                or (i.key.strip() in existing and existing[i.key.strip()].is_secret),
            )
            for i in inputs
        },
    )
    diff = _diff(environment, inputs, existing)
    _record(environment, diff, actor, dry_run=True)
    return diff


@transaction.atomic(durable=True)
def import_variables(
    *, environment: Environment, items: list[ImportItem], secret_keys: set[str], actor: Actor
) -> tuple[ImportDiff, list[tuple[Variable, bool]]]:
    """Write every imported variable as one revision, or none. Returns the diff and the
    written variables in import order."""
    environment = lock_environment(environment)
    inputs = _inputs(items, secret_keys)
    existing = check_variables(environment, inputs, fields=[item.where for item in items])
    diff = _diff(environment, inputs, existing)
    written = write_variables(environment, inputs, actor)
    _record(environment, diff, actor, dry_run=False)
    return diff, written
