"""The plain values in a key's history, for an audited reveal (the history's "Show values")."""

from __future__ import annotations

from .. import crypto
from ..models import ConfigEntry, Environment


def plain_history_values(environment: Environment, key: str) -> dict[int, str]:
    """The values a plain variable had, by the revision that set each (one query). A key that
    was ever a secret shows none: an old plain value could be the secret's. Bindings neither.

    Raises crypto.DecryptionError if one cannot be decrypted. The caller audits first.
    """
    entries = list(
        ConfigEntry.objects.filter(
            environment=environment, key=key, kind=ConfigEntry.Kind.VARIABLE
        ).order_by("set_revision")
    )
    if any(entry.is_secret for entry in entries):
        return {}
    keyring = crypto.get_keyring()
    return {
        entry.set_revision: crypto.decrypt(
            entry.ciphertext,
            context=crypto.entry_context(
                environment.deployment_id, environment.pk, entry.kind, key, entry.set_revision
            ),
            keyring=keyring,
        )
        for entry in entries
    }
