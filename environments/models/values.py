"""What an environment's runtime gets: config entries, variables and bindings, encrypted."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .. import crypto, rules
from .deployments import Environment


class ConfigEntry(models.Model):
    """One key's value over a span of config revisions: [set_revision, end_revision).

    Every write adds an entry and ends the one it replaces, so the configuration as of any
    revision is the entries alive at it, and storage grows with changes, not with
    revisions times keys. Entries with no end are what is live now (they mirror the Variable,
    Binding and Domain rows). Values are encrypted with a context that binds deployment,
    environment, kind, key and revision.
    """

    class Kind(models.TextChoices):
        VARIABLE = "variable", "Variable"
        BINDING = "binding", "Binding"
        DOMAIN = "domain", "Domain"
        # A key's value as the runtime gets it, where that is not the variable or binding as
        # written: a group's key, or a value with references, resolved (SPEC §19).
        RESOLVED = "resolved", "Resolved"

    class Ended(models.TextChoices):
        REPLACED = "replaced", "Replaced"
        DELETED = "deleted", "Deleted"

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="config_entries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=256)
    is_secret = models.BooleanField(default=False)
    ciphertext = models.BinaryField(editable=False, default=b"")
    fingerprint = models.BinaryField(max_length=80, editable=False, default=b"")
    size = models.PositiveIntegerField(default=0)
    binding_kind = models.CharField(max_length=16, blank=True, default="")
    binding_name = models.CharField(max_length=100, blank=True, default="")
    # A resolved entry: the group its key comes from ("" for the environment's own), and what
    # changed elsewhere to make this value ("common.API_URL"; "" for a change of its own).
    origin = models.CharField(max_length=63, blank=True, default="")
    cause = models.CharField(max_length=400, blank=True, default="")
    set_revision = models.PositiveIntegerField()
    set_at = models.DateTimeField()
    set_by_label = models.CharField(max_length=200, blank=True, default="")
    end_revision = models.PositiveIntegerField(null=True, blank=True)
    ended = models.CharField(max_length=16, choices=Ended.choices, blank=True, default="")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["environment", "key", "set_revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "kind", "key", "set_revision"],
                name="config_entry_unique",
            ),
            models.UniqueConstraint(
                fields=["environment", "kind", "key"],
                condition=Q(end_revision__isnull=True),
                name="config_entry_one_live",
            ),
            models.CheckConstraint(
                condition=Q(end_revision__isnull=True)
                | Q(end_revision__gt=models.F("set_revision")),
                name="config_entry_span",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "end_revision"], name="config_entry_env_end"),
            models.Index(fields=["environment", "key", "set_revision"], name="config_entry_key"),
        ]

    def __str__(self) -> str:
        end = self.end_revision or "…"
        return f"{self.kind} {self.key} [{self.set_revision}, {end})"

    def context(self) -> str:
        return crypto.entry_context(
            self.environment.deployment_id,
            self.environment_id,
            self.kind,
            self.key,
            self.set_revision,
        )


class EncryptedValue(models.Model):
    """What variables and bindings share: an encrypted value and its keyed fingerprint."""

    ciphertext = models.BinaryField(editable=False)
    fingerprint = models.BinaryField(max_length=80, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        abstract = True


class Variable(EncryptedValue):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="variables")
    key = models.CharField(max_length=256)
    is_secret = models.BooleanField(default=False)
    # UTF-8 size of the value, so the 64 KiB-per-environment limit needs no decryption.
    size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["environment", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "key"], name="variable_key_unique_per_environment"
            ),
            models.CheckConstraint(
                condition=Q(key__regex=rules.VARIABLE_KEY_RE), name="variable_key_format"
            ),
            models.CheckConstraint(
                condition=~Q(key__istartswith=rules.RESERVED_PREFIX),
                name="variable_key_not_reserved",
            ),
            models.CheckConstraint(
                condition=Q(size__lte=rules.MAX_VALUE_BYTES), name="variable_value_size"
            ),
        ]

    def __str__(self) -> str:
        return self.key

    def context(self) -> str:
        return self.context_for(self.environment, self.key)

    @staticmethod
    def context_for(environment: Environment, key: str) -> str:
        return crypto.variable_context(environment.deployment_id, environment.pk, key)


class Binding(EncryptedValue):
    """A data service credential (Postgres, Redis, bucket) injected as one variable."""

    Kind = models.TextChoices(
        "Kind", [(name.upper(), (name, kind.label)) for name, kind in rules.BINDING_KINDS.items()]
    )

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="bindings")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, help_text="The data service's name, e.g. shop-db.")
    variable_name = models.CharField(max_length=256)
    # Set on the binding a data service wrote (SPEC §13: `managed`, its URL not editable).
    data_service = models.OneToOneField(
        "DataService", null=True, blank=True, on_delete=models.SET_NULL, related_name="binding"
    )

    class Meta:
        ordering = ["environment", "variable_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "variable_name"], name="binding_variable_unique"
            ),
            models.CheckConstraint(
                condition=Q(variable_name__regex=rules.VARIABLE_KEY_RE),
                name="binding_variable_format",
            ),
            models.CheckConstraint(
                condition=~Q(variable_name__istartswith=rules.RESERVED_PREFIX),
                name="binding_variable_not_reserved",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=list(rules.BINDING_KINDS)), name="binding_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variable_name} ({self.kind})"

    @property
    def managed(self) -> bool:
        return self.data_service_id is not None

    def context(self) -> str:
        return self.context_for(self.environment, self.uid)

    @staticmethod
    def context_for(environment: Environment, uid: uuid.UUID) -> str:
        return crypto.binding_context(environment.deployment_id, environment.pk, uid)
