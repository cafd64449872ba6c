"""What the services that write an environment's configuration share: the environment lock, the
fingerprint scope, and what its bindings count toward its limits."""

from __future__ import annotations

from .. import crypto
from ..models import Binding, Environment


def lock_environment(environment: Environment) -> Environment:
    """Lock the environment row and return it freshly read: writes to one environment
    serialize on this lock.

    The lock is taken by a query without joins, then the row is read again: on PostgreSQL a
    locking query that joins (select_related) can return the joined columns as they were
    before the lock wait, which would lose a concurrent promotion's update.
    """
    Environment.objects.select_for_update().filter(pk=environment.pk).values_list("pk").get()
    return Environment.objects.select_related("deployment", "active_version", "live_release").get(
        pk=environment.pk
    )


def fingerprint_scope(deployment_id: int) -> str:
    """Fingerprints compare within a deployment, never across."""
    return f"deployment/{deployment_id}"


def binding_totals(
    environment: Environment, *, excluding: Binding | None = None
) -> tuple[int, int]:
    """How many bindings the environment has and the UTF-8 size of their URLs: they count toward
    its 500 keys and 64 KiB (SPEC §12). Sizes are read by decrypting (an environment has a few
    bindings), so no stored size can drift or need a backfill; a credential the keys cannot
    decrypt counts its ciphertext's length, which is never less than the URL's."""
    bindings = Binding.objects.filter(environment=environment).select_related("environment")
    if excluding is not None:
        bindings = bindings.exclude(pk=excluding.pk)
    count = size = 0
    keyring = crypto.get_keyring()
    for binding in bindings:
        count += 1
        try:
            size += len(
                crypto.decrypt(
                    binding.ciphertext, context=binding.context(), keyring=keyring
                ).encode()
            )
        except crypto.DecryptionError:
            size += len(bytes(binding.ciphertext))
    return count, size
