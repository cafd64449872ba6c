"""Test helper: overwrite what is stored for a variable or binding, as an attacker with database
access (or a lost key) would. Both copies change: the live row (listing, reveal) and its
history entry (SPEC §9: what a runtime reads for the live release)."""

from __future__ import annotations

from environments.models import Binding, ConfigEntry, Variable


def replace_stored(row: Variable | Binding, blob: bytes) -> None:
    type(row).objects.filter(pk=row.pk).update(ciphertext=blob)
    key = row.key if isinstance(row, Variable) else row.variable_name
    ConfigEntry.objects.filter(
        environment_id=row.environment_id, key=key, end_revision__isnull=True
    ).update(ciphertext=blob)
