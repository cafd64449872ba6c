"""Rotations of a data service's credential that wait for every instance (SPEC §14)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from .. import crypto
from .data_services import DataService


class Rotation(models.Model):
    """One rotation of a data service's credential: a second credential is made, tested,
    released, and the old one revoked once no instance seen lately runs on it.

    The old and new URLs are kept encrypted (bound to this row by its uid) so that every step
    can be run again after a crash, and a cancel can bind the old URL back. Neither is ever
    shown: pages and JSON show counts, states and instance names."""

    class State(models.TextChoices):
        CREATING = "creating", "Creating"
        RELEASED = "released", "Released (pending Apply)"
        CONVERGING = "converging", "Converging"
        REVOKED = "revoked", "Revoked"
        STUCK = "stuck", "Stuck"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = ("creating", "released", "converging", "stuck")
    FINISHED = ("revoked", "failed", "cancelled")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service = models.ForeignKey(DataService, on_delete=models.CASCADE, related_name="rotations")
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.CREATING, db_index=True
    )
    # "manual" or "scheduled" (rotate_every_days).
    trigger = models.CharField(max_length=16, default="manual")
    # Postgres: the login roles ("a"/"b") the old and new credentials log in as.
    old_login = models.CharField(max_length=1, blank=True, default="")
    new_login = models.CharField(max_length=1, blank=True, default="")
    old_url_ciphertext = models.BinaryField(editable=False, default=b"")
    # Before the new credential exists: its password (generated once, so a retry of the
    # create step makes the same credential); after: its URL.
    new_password_ciphertext = models.BinaryField(editable=False, default=b"")
    new_url_ciphertext = models.BinaryField(editable=False, default=b"")
    # The variable the binding injects, and the new URL's keyed fingerprint: an instance is on
    # the new credential when the release it booted on holds this fingerprint there.
    variable = models.CharField(max_length=256, blank=True, default="")
    new_fingerprint = models.BinaryField(max_length=80, editable=False, default=b"")
    released_revision = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    live_at = models.DateTimeField(null=True, blank=True)
    revoke_after = models.DateTimeField()
    converged_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Postgres: the old login's sessions are ended at drain_until (ROTATION_DRAIN_SECONDS).
    drain_until = models.DateTimeField(null=True, blank=True)
    sessions_ended_at = models.DateTimeField(null=True, blank=True)
    # A failed or cancelled rotation drops its new credential; when that was done.
    new_dropped_at = models.DateTimeField(null=True, blank=True)
    forced_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    # What failed: "<step> failed: <error class>", never a credential.
    error = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    # The running step's lease, and the generation of the task chain that may run it: a force
    # or cancel starts a new chain, and a run of an older chain does nothing.
    lease_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    generation = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    started_by_label = models.CharField(max_length=200, blank=True, default="")
    forced_by_label = models.CharField(max_length=200, blank=True, default="")
    cancelled_by_label = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    state__in=[
                        "creating",
                        "released",
                        "converging",
                        "revoked",
                        "stuck",
                        "failed",
                        "cancelled",
                    ]
                ),
                name="rotation_state_valid",
            ),
            # Two rotations of one service cannot run at once.
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(state__in=["creating", "released", "converging", "stuck"]),
                name="rotation_one_active_per_service",
            ),
        ]

    def __str__(self) -> str:
        return f"rotation {self.pk} of {self.service_id} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE

    def context(self, what: str) -> str:
        return f"miosa/v1/rotation/{self.uid}/{what}"

    def seal(self, what: str, plaintext: str, keyring: crypto.Keyring | None = None) -> bytes:
        return crypto.encrypt(plaintext, context=self.context(what), keyring=keyring)

    def unseal(self, what: str, keyring: crypto.Keyring | None = None) -> str:
        blob = {
            "old_url": self.old_url_ciphertext,
            "new_password": self.new_password_ciphertext,
            "new_url": self.new_url_ciphertext,
        }[what]
        return crypto.decrypt(bytes(blob), context=self.context(what), keyring=keyring)
