"""Re-encrypting every stored value under the first key of the keyring."""

from __future__ import annotations

from dataclasses import dataclass

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


WEBHOOK_BLOBS = ("secret_ciphertext", "previous_secret_ciphertext")


def _rotate_webhooks(
    keyring: crypto.Keyring, actor: Actor, result: RotationResult, batch_size: int
) -> None:
    """Webhook endpoints sign every delivery with their secret (and, for a day after it was
    rotated, the previous one): both must still open once the old key is dropped."""
    primary = keyring.primary_id
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                WebhookEndpoint.objects.select_for_update(no_key=True)
                .filter(pk__gt=last_pk)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            done = 0
            for row in batch:
                last_pk = row.pk
                changes = {}
                for field in WEBHOOK_BLOBS:
                    blob = bytes(getattr(row, field))
                    if not blob or crypto.key_id_of(blob) == primary:
                        continue
                    context = row.secret_context()
                    try:
                        value = crypto.decrypt(blob, context=context, keyring=keyring)
                    except crypto.DecryptionError:
                        raise Undecryptable(
                            f"Webhook {row.pk}'s signing secret cannot be decrypted with the "
                            "configured keys; rotation stopped (rows before it are done)."
                        ) from None
                    changes[field] = crypto.encrypt(value, context=context, keyring=keyring)
                if not changes:
                    result.unchanged += 1
                    continue
                WebhookEndpoint.objects.filter(pk=row.pk).update(**changes)
                done += 1
            if done:
                result.webhooks += done
                audit.record(
                    "keys.rotate",
                    actor=actor,
                    target=primary,
                    detail={"webhooks": done, "through_pk": last_pk},
                )


ROTATION_BLOBS = (
    ("old_url", "old_url_ciphertext"),
    ("new_password", "new_password_ciphertext"),
    ("new_url", "new_url_ciphertext"),
)


def _rotate_rotations(
    keyring: crypto.Keyring, actor: Actor, result: RotationResult, batch_size: int
) -> None:
    """Rotations keep their old and new credentials sealed so a step can run again after a
    crash: an in-flight rotation must still open them once the old key is dropped."""
    primary = keyring.primary_id
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                Rotation.objects.select_for_update(no_key=True)
                .filter(pk__gt=last_pk)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            done = 0
            for row in batch:
                last_pk = row.pk
                changes = {}
                for what, field in ROTATION_BLOBS:
                    blob = bytes(getattr(row, field))
                    if not blob or crypto.key_id_of(blob) == primary:
                        continue
                    try:
                        value = row.unseal(what, keyring=keyring)
                    except crypto.DecryptionError:
                        raise Undecryptable(
                            f"Rotation {row.pk} cannot be decrypted with the configured keys; "
                            "rotation stopped (rows before it are done)."
                        ) from None
                    changes[field] = row.seal(what, value, keyring=keyring)
                if not changes:
                    result.unchanged += 1
                    continue
                Rotation.objects.filter(pk=row.pk).update(**changes)
                done += 1
            if done:
                result.rotations += done
                audit.record(
                    "keys.rotate",
                    actor=actor,
                    target=primary,
                    detail={"rotations": done, "through_pk": last_pk},
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
