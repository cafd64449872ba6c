"""Protected environments and their change requests (SPEC §15).

A protected environment does not release on a deploy, promotion, apply or rollback: it opens a
change request, which records what would go live (the target) and the state it was asked
against (the base). Reviewers approve or reject it; applying it releases the target only while
the environment's live release and config revision still equal the base.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .deployments import Deployment, Environment, Release, Version

MAX_REQUIRED_APPROVALS = 5
MIN_BREAK_GLASS_REASON = 10
MAX_REASON = 1000
MAX_COMMENT = 1000


class Protection(models.Model):
    """An environment's review policy; no row (or 0 approvals) means unprotected."""

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, primary_key=True, related_name="protection"
    )
    required_approvals = models.PositiveSmallIntegerField(default=0)
    allow_self_approval = models.BooleanField(default=False)
    break_glass = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(required_approvals__lte=MAX_REQUIRED_APPROVALS),
                name="protection_required_approvals_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.environment}: {self.required_approvals} approvals"

    @property
    def is_on(self) -> bool:
        return self.required_approvals > 0


class ChangeRequest(models.Model):
    """A release asked for in a protected environment. Its base is what the environment ran
    when it was opened; its target what it would run once applied."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy", "Deploy"
        PROMOTE = "promote", "Promotion"
        APPLY = "apply", "Apply"
        ROLLBACK = "rollback", "Rollback"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"
        STALE = "stale", "Stale"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="change_requests"
    )
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="change_requests"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # The base: the live release (its number; None before the first) and config revision.
    base_release = models.PositiveIntegerField(null=True, blank=True)
    base_revision = models.PositiveIntegerField()
    # The target: the version and config revision the release would have.
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+")
    config_revision = models.PositiveIntegerField()
    source_environment = models.CharField(max_length=127, blank=True, default="")
    rollback_of = models.PositiveIntegerField(null=True, blank=True)
    # The policy when it was opened: turning protection off later does not wave it through.
    required_approvals = models.PositiveSmallIntegerField()
    allow_self_approval = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=200, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_label = models.CharField(max_length=200, blank=True, default="")
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    break_glass = models.BooleanField(default=False)
    break_glass_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    state__in=["open", "applied", "rejected", "stale", "expired", "cancelled"]
                ),
                name="change_request_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "state"], name="change_request_env_state"),
        ]

    def __str__(self) -> str:
        return f"change request {self.pk} ({self.kind} into {self.environment_id}, {self.state})"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class Review(models.Model):
    """One reviewer's approval or rejection of a change request, with an optional comment."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="reviews"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_label = models.CharField(max_length=200, blank=True, default="")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One review per reviewer: approvals are counted by distinct reviewers.
            models.UniqueConstraint(
                fields=["change_request", "reviewer"], name="review_one_per_reviewer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_label} {self.decision}d request {self.change_request_id}"
