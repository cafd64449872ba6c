"""Personal API tokens, runtime tokens and the instances that fetch with them."""

from __future__ import annotations

import math
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from .deployments import Environment


class Token(models.Model):
    """Bearer tokens: only the SHA-256 of the token is stored; the token is shown once."""

    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters after the prefix, to tell tokens apart in lists (not secret enough
    # to matter: 4 of 43 characters).
    hint = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: the token never expires. An expired token is refused with 401 token_expired.
    expires_at = models.DateTimeField(null=True, blank=True)

    # A token expiring within this many days is flagged on the token pages.
    EXPIRY_WARNING_DAYS = 7

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def expired(self) -> bool:
        return self.is_expired()

    @property
    def days_left(self) -> int | None:
        """Whole days until expiry, rounded up (None: no expiry; 0: expired)."""
        if self.expires_at is None:
            return None
        seconds = (self.expires_at - timezone.now()).total_seconds()
        return max(0, math.ceil(seconds / 86400))

    @property
    def expires_soon(self) -> bool:
        days = self.days_left
        return days is not None and 0 < days <= self.EXPIRY_WARNING_DAYS and not self.expired


class ApiToken(Token):
    PREFIX = "mio_pat_"
    # Live (unrevoked, unexpired) personal tokens a user may hold at once (409 too_many_tokens).
    MAX_LIVE_PER_USER = 50
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.PREFIX}{self.hint}… ({self.name})"


class RuntimeToken(Token):
    PREFIX = "mio_rt_"
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="runtime_tokens"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.PREFIX}{self.hint}… ({self.name})"


class RuntimeInstance(models.Model):
    """A runtime instance as last seen: one row per (environment, instance), not per fetch."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="instances")
    instance = models.CharField(max_length=100)
    token_name = models.CharField(max_length=100, blank=True, default="")
    release_number = models.PositiveIntegerField(null=True, blank=True)
    version_number = models.PositiveIntegerField(null=True, blank=True)
    config_revision = models.PositiveIntegerField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "instance"], name="runtime_instance_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.instance
