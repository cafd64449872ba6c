"""Invitations to a deployment, by email: a one-time link that makes a member with a role."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .deployments import Deployment, Role


class Invitation(models.Model):
    """A pending membership. Only the SHA-256 of the link's secret is stored (as for tokens):
    the link is in the email and in no table, log or page after the one that sent it."""

    PREFIX = "mio_inv_"
    LIFETIME = timedelta(days=7)
    # Pending invitations a deployment may hold at once: an owner's typo loop is not a mailer.
    MAX_PENDING = 50

    class State(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REVOKED = "revoked"
        EXPIRED = "expired"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="invitation_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.role}) to {self.deployment}"

    def state(self, now: datetime | None = None) -> str:
        if self.accepted_at is not None:
            return self.State.ACCEPTED
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.PENDING

    @property
    def is_pending(self) -> bool:
        return self.state() == self.State.PENDING
