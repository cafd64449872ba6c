from __future__ import annotations

import math
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from . import crypto, rules


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    DEVELOPER = "developer", "Developer"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK = {"viewer": 1, "developer": 2, "admin": 3, "owner": 4}


class Deployment(models.Model):
    name = models.CharField(max_length=63, unique=True)
    apex_domain = models.CharField(max_length=253, blank=True, default="")
    # Version numbers are never reused, even after a version row is gone.
    last_version_number = models.PositiveIntegerField(default=0)
    # Keys every release must define (SPEC §9); a release without one is refused.
    required_keys = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(name__regex=rules.DEPLOYMENT_NAME_RE), name="deployment_name_format"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Version(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    label = models.CharField(max_length=200, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="version_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"v{self.number}"


class ConfigChanges(models.TextChoices):
    """When an environment's config changes go live (SPEC §9); `Environment.ConfigChanges`."""

    IMMEDIATE = "immediate", "Immediately"
    STAGED = "staged", "Staged until applied"


class Environment(models.Model):
    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="environments"
    )
    name = models.CharField(max_length=127)
    promotes_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="promoted_from"
    )

    ConfigChanges = ConfigChanges

    # The live release's version (kept beside live_release for cheap reads and ordering).
    active_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.PROTECT, related_name="active_in"
    )
    live_release = models.ForeignKey(
        "Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Grows by one with every committed change to what the runtime gets (SPEC §9).
    config_revision = models.PositiveIntegerField(default=1)
    config_changes = models.CharField(
        max_length=16, choices=ConfigChanges.choices, default=ConfigChanges.IMMEDIATE
    )
    release_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # A preview/* environment created for a pull request may expire: `manage.py
    # expire_environments` deletes it once this is past (SPEC §10).
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["deployment", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "name"], name="environment_name_unique_per_deployment"
            ),
            models.CheckConstraint(
                condition=Q(name__regex=rules.ENVIRONMENT_NAME_RE), name="environment_name_format"
            ),
            models.CheckConstraint(
                condition=~Q(promotes_to=models.F("id")), name="environment_not_promoting_to_self"
            ),
            models.CheckConstraint(
                condition=Q(config_changes__in=ConfigChanges.values),
                name="environment_config_changes_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_protected(self) -> bool:
        return self.name in rules.PROTECTED_ENVIRONMENTS

    @property
    def is_production(self) -> bool:
        return self.name == rules.PRODUCTION

    @property
    def is_staged(self) -> bool:
        return self.config_changes == self.ConfigChanges.STAGED

    @property
    def pipeline_rank(self) -> int:
        """Pipeline order: previews and custom environments, then staging, then production."""
        if self.name == rules.PRODUCTION:
            return 2
        if self.name == rules.STAGING:
            return 1
        return 0


class Release(models.Model):
    """What an environment runs: a version and a config revision (SPEC §9). Never edited.

    Numbered 1, 2, 3… per environment; the newest is the live release.
    """

    class Kind(models.TextChoices):
        DEPLOY = "deploy", "Deploy"
        PROMOTE = "promote", "Promotion"
        ROLLBACK = "rollback", "Rollback"
        APPLY = "apply", "Apply"
        CONFIG = "config", "Config change"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="releases")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="releases")
    config_revision = models.PositiveIntegerField()
    # The version live before this release (None for the first).
    from_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source_environment = models.CharField(max_length=127, blank=True, default="")
    # For a rollback: the release rolled back to.
    rollback_of = models.PositiveIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "number"], name="release_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="release_number_positive"),
        ]
        indexes = [
            models.Index(fields=["environment", "version"], name="release_env_version"),
        ]

    def __str__(self) -> str:
        return f"release {self.number} (v{self.version_id}, config {self.config_revision})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("A release is never edited; make a new one (SPEC §9).")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("A release is never deleted; it goes only with its environment.")


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


class Domain(models.Model):
    hostname = models.CharField(max_length=253, unique=True)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="domains")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["hostname"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hostname=Lower("hostname")), name="domain_hostname_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.hostname


class Membership(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.deployment}"


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


class AuditEvent(models.Model):
    """Who did what, when, from where. Never contains a value.

    Tamper-evident (SPEC §12): the events of one deployment form a hash chain, and events
    without a deployment (logins, account tokens) form the global chain 0. `chain` is the
    deployment's id at write time and never changes (the `deployment` FK is set to NULL when the
    deployment is deleted); `seq` numbers the chain's events 1, 2, 3… so a deleted row shows as
    a gap; `content_hash` is SHA-256 over the event's canonical content and `hash` is SHA-256
    over `prev_hash` + `content_hash`. `audit.py` defines the canonical content, once.
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

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["deployment", "-created_at"], name="audit_deployment_time"),
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
    hash, so every link of the chain can still be checked (SPEC §12). No content."""

    chain = models.BigIntegerField()
    seq = models.BigIntegerField()
    content_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_tombstone_unique"),
        ]

    def __str__(self) -> str:
        return f"chain {self.chain} seq {self.seq} (pruned)"


# Data services (SPEC §13)


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
