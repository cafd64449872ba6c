"""The audit log: events, each chain's head, and the tombstones of pruned events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .deployments import Deployment


class AuditEvent(models.Model):
    """Who did what, when, from where. Never contains a value.

    Tamper-evident (SPEC §12): the events of one deployment form a hash chain, and events
    without a deployment (logins, account tokens) form the global chain 0. `chain` is the
    deployment's id at write time and never changes (the `deployment` FK is set to NULL when the
    deployment is deleted); `seq` numbers the chain's events 1, 2, 3… so a deleted row shows as
    a gap; `content_hash` is SHA-256 over the event's canonical content and `hash` is SHA-256
    over `prev_hash` + `content_hash`. `audit.py` defines the canonical content, once, per
    `content_version` (1: events written before migration 0008; 2: since).

    Coalesced events (`audit.COALESCED`: failed and locked logins, compare views) stand for
    every like attempt until `coalesce_until` (hashed): `count` (not hashed, it grows while the
    window is open) says how many; `coalesce_key` finds the open event.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        DENIED = "denied", "Denied"
        FAILURE = "failure", "Failure"

    # Set explicitly by audit.record (UTC, microseconds) before hashing, not by the database.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64, db_index=True)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    deployment_name = models.CharField(max_length=63, blank=True, default="")
    environment_name = models.CharField(max_length=127, blank=True, default="")
    target = models.CharField(max_length=300, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    detail = models.JSONField(default=dict, blank=True)
    chain = models.BigIntegerField()
    seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    content_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    content_version = models.PositiveSmallIntegerField(default=2)  # audit.CONTENT_VERSION
    count = models.PositiveIntegerField(default=1)
    coalesce_key = models.CharField(max_length=64, blank=True, default="")
    coalesce_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit page and export select a deployment's events by chain, newest first.
            models.Index(fields=["chain", "-id"], name="audit_chain_id"),
            models.Index(
                fields=["coalesce_key", "-id"],
                name="audit_coalesce",
                condition=~models.Q(coalesce_key=""),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class AuditChainHead(models.Model):
    """The last link of each chain: its `seq` and `hash`. Appending locks this row, so writers
    to one chain take turns; verification compares it with the last event, so deleting the
    newest events (truncating the chain) is detected too."""

    chain = models.BigIntegerField(primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"chain {self.chain} at {self.seq}"


class AuditTombstone(models.Model):
    """What `prune_audit` leaves of a pruned event: its place in the chain and its content
    hash, so every link of the chain can still be checked (SPEC §12), and what the hash stands
    for, checkably: the event's action and time, and the hash of the rest of its content
    (content version 2: content_hash = SHA-256(H(action, time) + rest_hash)), and the prune
    (`prune`: the id in its `audit.prune` event's detail) that removed it. No content.
    Tombstones of version-1 events keep no rest_hash; those written before migration 0008 have
    no prune either, and their number is what 0008's `audit.upgrade` event recorded."""

    chain = models.BigIntegerField()
    seq = models.BigIntegerField()
    content_hash = models.CharField(max_length=64)
    content_version = models.PositiveSmallIntegerField(default=2)
    action = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(null=True, blank=True)
    rest_hash = models.CharField(max_length=64, blank=True, default="")
    prune = models.CharField(max_length=32, blank=True, default="", db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_tombstone_unique"),
        ]

    def __str__(self) -> str:
        return f"chain {self.chain} seq {self.seq} (pruned)"
