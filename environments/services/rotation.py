"""Re-encrypting every stored value under the first key of the keyring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from .. import audit, crypto
from ..actors import Actor
from ..errors import Undecryptable
from ..models import (
    Binding,
    ConfigEntry,
    DataServer,
    DataService,
    GroupEntry,
    Rotation,
    Variable,
    WebhookEndpoint,
)
from .environment_writes import fingerprint_scope


@dataclass
class RotationResult:
    variables: int = 0
    bindings: int = 0
    history: int = 0  # config entries: every value an environment has had (SPEC §9)
    data_credentials: int = 0  # data servers' admin URLs and data services' passwords
    rotations: int = 0  # credential rotations' sealed URLs and passwords (SPEC §14)
    webhooks: int = 0  # webhook endpoints' signing secrets, current and previous (SPEC §17)
    unchanged: int = 0


def rotate_encryption_keys(*, actor: Actor, batch_size: int = 200) -> RotationResult:
    """Re-encrypt (and re-fingerprint) every stored value under the first key, in batches.

    Each batch is its own transaction with its rows locked, so the command can run while the
    application serves; an interrupted run resumes where it stopped.
    """
    keyring = crypto.get_keyring()
    primary = keyring.primary_id
    result = RotationResult()
    entries = ConfigEntry.objects.exclude(kind=ConfigEntry.Kind.DOMAIN)
    for rows, kind, owner in (
        (Variable.objects, "variables", "environment"),
        (Binding.objects, "bindings", "environment"),
        (entries, "history", "environment"),
        # Shared groups' values and their history (SPEC §19).
        (GroupEntry.objects.exclude(ciphertext=b""), "history", "group"),
    ):
        model = rows.model
        last_pk = 0
        while True:
            with transaction.atomic():
                batch = list(
                    rows.select_for_update(of=("self",), no_key=True)
                    .select_related(owner)
                    .filter(pk__gt=last_pk)
                    .order_by("pk")[:batch_size]
                )
                if not batch:
                    break
                done_before = getattr(result, kind)
                for row in batch:
                    last_pk = row.pk
                    if (
                        crypto.key_id_of(row.ciphertext) == primary
                        and crypto.fingerprint_key_id(row.fingerprint) == primary
                    ):
                        result.unchanged += 1
                        continue
                    try:
                        value = crypto.decrypt(
                            row.ciphertext, context=row.context(), keyring=keyring
                        )
                    except crypto.DecryptionError:
                        raise Undecryptable(
                            f"{model.__name__} {row.pk} cannot be decrypted with the configured "
                            "keys; rotation stopped (rows before it are done)."
                        ) from None
                    row.ciphertext = crypto.encrypt(value, context=row.context(), keyring=keyring)
                    row.fingerprint = crypto.fingerprint(
                        value,
                        scope=fingerprint_scope(getattr(row, owner).deployment_id),
                        keyring=keyring,
                    )
                    model.objects.filter(pk=row.pk).update(
                        ciphertext=row.ciphertext, fingerprint=row.fingerprint
                    )
                    setattr(result, kind, getattr(result, kind) + 1)
                if getattr(result, kind) > done_before:
                    # One event per batch, in the batch's transaction: an interrupted run
                    # leaves exactly the re-encrypted batches on record.
                    audit.record(
                        "keys.rotate",
                        actor=actor,
                        target=primary,
                        detail={kind: getattr(result, kind) - done_before, "through_pk": last_pk},
                    )
    _rotate_data_credentials(keyring, actor, result, batch_size)
    _rotate_rotations(keyring, actor, result, batch_size)
    _rotate_webhooks(keyring, actor, result, batch_size)
    return result


@dataclass(frozen=True)
class Sealed:
    """A column holding an encrypted value, and how to open and seal it for its row."""

    column: str
    open: Callable[[Any, crypto.Keyring], str]
    seal: Callable[[Any, str, crypto.Keyring], bytes]


def _webhook_secret(column: str) -> Sealed:
    return Sealed(
        column,
        lambda row, keyring: crypto.decrypt(
            getattr(row, column), context=row.secret_context(), keyring=keyring
        ),
        lambda row, value, keyring: crypto.encrypt(
            value, context=row.secret_context(), keyring=keyring
        ),
    )


def _rotation_credential(what: str) -> Sealed:
    return Sealed(
        f"{what}_ciphertext",
        lambda row, keyring: row.unseal(what, keyring=keyring),
        lambda row, value, keyring: row.seal(what, value, keyring=keyring),
    )


def _rotate_rotations(
    keyring: crypto.Keyring, actor: Actor, result: RotationResult, batch_size: int
) -> None:
    """Rotations keep their old and new credentials sealed so a step can run again after a
    crash: an in-flight rotation must still open them once the old key is dropped."""
    sealed = [_rotation_credential(what) for what in ("old_url", "new_password", "new_url")]
    _reseal(Rotation, sealed, "rotations", keyring, actor, result, batch_size)


def _rotate_webhooks(
    keyring: crypto.Keyring, actor: Actor, result: RotationResult, batch_size: int
) -> None:
    """Webhook endpoints sign every delivery with their secret (and, for a day after it was
    rotated, the previous one): both must still open once the old key is dropped."""
    sealed = [_webhook_secret(c) for c in ("secret_ciphertext", "previous_secret_ciphertext")]
    _reseal(WebhookEndpoint, sealed, "webhooks", keyring, actor, result, batch_size)


def _reseal(
    model: type[Any],
    sealed: list[Sealed],
    counted_as: str,
    keyring: crypto.Keyring,
    actor: Actor,
    result: RotationResult,
    batch_size: int,
) -> None:
    """Each row's sealed columns not under the first key, opened and sealed again under it, in
    batches (each its own transaction, its rows locked, one `keys.rotate` event for what it
    re-encrypted); an interrupted run resumes where it stopped."""
    primary = keyring.primary_id
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                model.objects.select_for_update(no_key=True)
                .filter(pk__gt=last_pk)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            done = 0
            for row in batch:
                last_pk = row.pk
                changes = {}
                for column in sealed:
                    blob = bytes(getattr(row, column.column))
                    if not blob or crypto.key_id_of(blob) == primary:
                        continue
                    try:
                        value = column.open(row, keyring)
                    except crypto.DecryptionError:
                        raise Undecryptable(
                            f"{model.__name__} {row.pk} cannot be decrypted with the configured "
                            "keys; rotation stopped (rows before it are done)."
                        ) from None
                    changes[column.column] = column.seal(row, value, keyring)
                if not changes:
                    result.unchanged += 1
                    continue
                model.objects.filter(pk=row.pk).update(**changes)
                done += 1
            if done:
                setattr(result, counted_as, getattr(result, counted_as) + done)
                audit.record(
                    "keys.rotate",
                    actor=actor,
                    target=primary,
                    detail={counted_as: done, "through_pk": last_pk},
                )


def _rotate_data_credentials(
    keyring: crypto.Keyring, actor: Actor, result: RotationResult, batch_size: int
) -> None:
    """Data servers' admin URLs and data services' passwords: encrypted like values, with no
    fingerprint (nothing compares them)."""
    primary = keyring.primary_id
    for model, field, context in (
        (DataServer, "admin_url_ciphertext", DataServer.context),
        (DataService, "credential_ciphertext", DataService.credential_context),
    ):
        last_pk = 0
        while True:
            with transaction.atomic():
                batch = list(
                    model.objects.select_for_update(no_key=True)
                    .filter(pk__gt=last_pk)
                    .order_by("pk")[:batch_size]
                )
                if not batch:
                    break
                done = 0
                for row in batch:
                    last_pk = row.pk
                    blob = bytes(getattr(row, field))
                    if not blob or crypto.key_id_of(blob) == primary:
                        result.unchanged += bool(blob)
                        continue
                    try:
                        value = crypto.decrypt(blob, context=context(row), keyring=keyring)
                    except crypto.DecryptionError:
                        raise Undecryptable(
                            f"{model.__name__} {row.pk} cannot be decrypted with the configured "
                            "keys; rotation stopped (rows before it are done)."
                        ) from None
                    model.objects.filter(pk=row.pk).update(
                        **{field: crypto.encrypt(value, context=context(row), keyring=keyring)}
                    )
                    done += 1
                if done:
                    result.data_credentials += done
                    audit.record(
                        "keys.rotate",
                        actor=actor,
                        target=primary,
                        detail={"data_credentials": done, "through_pk": last_pk},
                    )
