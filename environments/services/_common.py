"""What the service modules share: the ValidationError adapter, the environment lock,
the fingerprint scope."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from ..errors import Invalid, TooLarge
from ..models import Deployment, Environment


def _check(validator, value, *, field: str):
    try:
        return validator(value)
    except ValidationError as exc:
        code = exc.code or "invalid"
        error = TooLarge if code == "value_too_large" else Invalid
        raise error(exc.messages[0], code=code, field=field) from None


def _lock(environment: Environment) -> Environment:
    """Lock the environment row and return it freshly read: writes to one environment
    serialize on this lock.

    The lock is taken by a query without joins, then the row is read again: on PostgreSQL a
    locking query that joins (select_related) can return the joined columns as they were
    before the lock wait, which would lose a concurrent promotion's update.
    """
    Environment.objects.select_for_update().filter(pk=environment.pk).values_list("pk").get()
    return Environment.objects.select_related("deployment", "active_version").get(pk=environment.pk)


def _scope(deployment: Deployment) -> str:
    return f"deployment/{deployment.pk}"
