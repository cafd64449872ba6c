"""What the service modules share: the environment lock and the fingerprint scope."""

from __future__ import annotations

from ..models import Environment


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
