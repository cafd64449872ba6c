"""Webhook endpoints of a deployment and the outbox of their deliveries (SPEC §17).

A delivery row is written in the transaction of the change it announces (the outbox), so a
rolled-back change sends nothing and a committed one is never lost; the worker sends it, and
every attempt is kept. A payload names what changed (ids, names, numbers, actors), never a
value.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from .. import crypto
from .deployments import Deployment

EVENTS = (
    "release.created",
    "config.pending",
    "environment.created",
    "environment.deleted",
    "data_service.ready",
    "data_service.failed",
    "rotation.converged",
    "rotation.revoked",
    "rotation.stuck",
    "change_request.opened",
    "change_request.applied",
)
PING = "ping"  # sent by the test button to one endpoint, whatever it subscribed to


class WebhookEndpoint(models.Model):
    """Where a deployment's events are posted. The signing secret (`whsec_…`) is shown once
    and kept encrypted, bound to this row by its uid; after a rotation the previous one still
    signs beside it until `previous_secret_until`, so receivers can switch without a gap."""

    MAX_URL = 2000

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=MAX_URL)
    events = models.JSONField(default=list)
    # Environment names the endpoint wants events of; empty: all (and deployment-wide ones).
    environments = models.JSONField(default=list, blank=True)
    secret_ciphertext = models.BinaryField(editable=False)
    previous_secret_ciphertext = models.BinaryField(editable=False, default=b"")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last success; past 3 days the endpoint is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_by_label = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment", "created_at", "id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.deployment_id}"

    def __repr__(self) -> str:  # the URL may carry a receiver's token in its path
        return f"<WebhookEndpoint {self.pk}>"

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def secret_context(self) -> str:
        return f"miosa/v1/webhook/{self.uid}/secret"

    def secrets(self, *, now, keyring: crypto.Keyring | None = None) -> list[str]:
        """The secrets that sign a delivery sent at `now`: the current one, and the previous
        one while its overlap lasts."""
        context = self.secret_context()
        found = [crypto.decrypt(self.secret_ciphertext, context=context, keyring=keyring)]
        if (
            self.previous_secret_ciphertext
            and self.previous_secret_until
            and (now < self.previous_secret_until)
        ):
            found.append(
                crypto.decrypt(self.previous_secret_ciphertext, context=context, keyring=keyring)
            )
        return found

    def wants(self, event: str, environment: str) -> bool:
        if event not in self.events:
            return False
        return not self.environments or not environment or environment in self.environments


class WebhookDelivery(models.Model):
    """One event for one endpoint: pending until a 2xx (delivered) or until the retries run
    out (failed). `webhook_id` is the same on every attempt, so receivers de-duplicate."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64)
    webhook_id = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Attempts of the current round (a redelivery starts a new round; the log keeps all).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A run that is sending holds the delivery until then (a second run of the task, or the
    # sweep, leaves it alone); a killed worker's lease runs out and the sweep takes it over.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "delivered", "failed"]),
                name="webhook_delivery_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.webhook_id}, {self.state})"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: the status code (None: no answer), how long it took,
    and what went wrong in a few words (never the receiver's answer)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"attempt at {self.started_at} ({self.status_code or self.error})"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
