"""Shared groups of variables (SPEC §19): a deployment's named sets of variables that
environments link, in order, and the history of each group's values."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .. import crypto, rules
from .deployments import Deployment, Environment


class Group(models.Model):
    """A named group of variables (`common`, `observability`). Its revision grows by one with
    every committed change to its values, as an environment's config revision does."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=63)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deployment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "name"], name="group_name_unique"),
            models.CheckConstraint(
                condition=Q(name__regex=rules.GROUP_NAME_RE), name="group_name_format"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class GroupEntry(models.Model):
    """One key's value in a group over a span of the group's revisions, [set_revision,
    end_revision): the entries with no end are the group's values now. Encrypted with a
    context that binds deployment, group, key and revision."""

    class Ended(models.TextChoices):
        REPLACED = "replaced", "Replaced"
        DELETED = "deleted", "Deleted"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="entries")
    key = models.CharField(max_length=256)
    is_secret = models.BooleanField(default=False)
    ciphertext = models.BinaryField(editable=False, default=b"")
    fingerprint = models.BinaryField(max_length=80, editable=False, default=b"")
    size = models.PositiveIntegerField(default=0)
    set_revision = models.PositiveIntegerField()
    set_at = models.DateTimeField()
    set_by_label = models.CharField(max_length=200, blank=True, default="")
    end_revision = models.PositiveIntegerField(null=True, blank=True)
    ended = models.CharField(max_length=16, choices=Ended.choices, blank=True, default="")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["group", "key", "set_revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "key", "set_revision"], name="group_entry_unique"
            ),
            models.UniqueConstraint(
                fields=["group", "key"],
                condition=Q(end_revision__isnull=True),
                name="group_entry_one_live",
            ),
            models.CheckConstraint(
                condition=Q(end_revision__isnull=True)
                | Q(end_revision__gt=models.F("set_revision")),
                name="group_entry_span",
            ),
            models.CheckConstraint(
                condition=Q(key__regex=rules.VARIABLE_KEY_RE), name="group_entry_key_format"
            ),
        ]
        indexes = [models.Index(fields=["group", "end_revision"], name="group_entry_live")]

    def __str__(self) -> str:
        end = self.end_revision or "…"
        return f"{self.key} [{self.set_revision}, {end})"

    def context(self) -> str:
        return crypto.group_entry_context(
            self.group.deployment_id, self.group_id, self.key, self.set_revision
        )


class GroupLink(models.Model):
    """An environment links a group at a position: a later group overrides an earlier one, and
    the environment's own variables override them all."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="group_links"
    )
    # The service refuses to delete a linked group; a deployment goes with its links.
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["environment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "group"], name="group_link_unique"),
            models.UniqueConstraint(
                fields=["environment", "position"], name="group_link_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} at {self.position}"
