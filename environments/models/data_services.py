"""Data servers and the data services MIOSA creates on them (SPEC §13)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from .. import crypto, rules
from .deployments import Deployment, Environment


class DataServer(models.Model):
    """A server data services are created on: its admin URL is encrypted like a secret (bound to
    this row by its uid) and never shown again; str() and repr() name it only."""

    class Kind(models.TextChoices):
        POSTGRES = "postgres", "PostgreSQL"
        REDIS = "redis", "Redis"
        BUCKET = "bucket", "Bucket"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=63, unique=True)
    admin_url_ciphertext = models.BinaryField(editable=False)
    # Available to every deployment, or only to `deployments`.
    for_all_deployments = models.BooleanField(default=True)
    deployments = models.ManyToManyField(Deployment, blank=True, related_name="data_servers")
    checked_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=200, blank=True, default="")
    # The last health check's error (step and class, never a credential); empty when healthy.
    error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["postgres", "redis", "bucket"]), name="data_server_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(name__regex=rules.DEPLOYMENT_NAME_RE), name="data_server_name_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def context(self) -> str:
        return self.context_for(self.uid)

    @staticmethod
    def context_for(uid: uuid.UUID) -> str:
        return f"miosa/v1/data-server/{uid}"

    def admin_url(self, keyring: crypto.Keyring | None = None) -> str:
        return crypto.decrypt(self.admin_url_ciphertext, context=self.context(), keyring=keyring)


class DataService(models.Model):
    """A Postgres, Redis or bucket MIOSA created for an environment, and the work on it.

    Its row outlives its environment (SET_NULL) until the worker has destroyed what it made on
    the server: the names below are all the worker needs. The password is generated once,
    before the first attempt, and kept encrypted, so that a retry returns the same URL."""

    class State(models.TextChoices):
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DESTROYING = "destroying", "Destroying"
        DETACHED = "detached", "Detached"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="data_services"
    )
    environment = models.ForeignKey(
        Environment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="data_services",
    )
    deployment_name = models.CharField(max_length=63)
    environment_name = models.CharField(max_length=127)
    kind = models.CharField(max_length=16, choices=DataServer.Kind.choices)
    server = models.ForeignKey(DataServer, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(max_length=100)
    variable = models.CharField(max_length=256)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PROVISIONING, db_index=True
    )
    # What failed: "<step> failed: <error class>", never a credential.
    error = models.CharField(max_length=300, blank=True, default="")
    # The driver's names come from these: Names.for_service(key, prefix=name_prefix), and for
    # Redis the key pattern `<deployment>:<environment>:` fixed at creation.
    key = models.CharField(max_length=64, unique=True, editable=False)
    name_prefix = models.CharField(max_length=32, default="miosa", editable=False)
    key_prefix = models.CharField(max_length=200, blank=True, default="", editable=False)
    credential_ciphertext = models.BinaryField(editable=False, default=b"")
    copy_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    copy_from_environment = models.CharField(max_length=127, blank=True, default="")
    # Transient failures retried so far (reset by a retry), and the running task's lease.
    attempts = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by_label = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    # Rotate the credential every so many days (SPEC §14); None: only when asked.
    rotate_every_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["deployment_name", "environment_name", "kind", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["postgres", "redis", "bucket"]),
                name="data_service_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    state__in=["provisioning", "ready", "failed", "destroying", "detached"]
                ),
                name="data_service_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.state})"

    def credential_context(self) -> str:
        return f"miosa/v1/data-service/{self.uid}/credential"

    def credential(self, keyring: crypto.Keyring | None = None) -> str:
        return crypto.decrypt(
            self.credential_ciphertext, context=self.credential_context(), keyring=keyring
        )
