"""Re-encrypting every stored value under the first key of the keyring."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .. import audit, crypto
from ..actors import Actor
from ..errors import Undecryptable
from ..models import Binding, ConfigEntry, Variable
from .environment_writes import fingerprint_scope


@dataclass
class RotationResult:
    variables: int = 0
    bindings: int = 0
    history: int = 0  # config entries: every value an environment has had (SPEC §9)
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
    for rows, kind in (
        (Variable.objects, "variables"),
        (Binding.objects, "bindings"),
        (entries, "history"),
    ):
        model = rows.model
        last_pk = 0
        while True:
            with transaction.atomic():
                batch = list(
                    rows.select_for_update(of=("self",))
                    .select_related("environment")
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
                        scope=fingerprint_scope(row.environment.deployment_id),
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
    return result
