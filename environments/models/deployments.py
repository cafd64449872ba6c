"""Deployments, their versions, environments, releases, domains and members."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from .. import rules


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    DEVELOPER = "developer", "Developer"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK = {"viewer": 1, "developer": 2, "admin": 3, "owner": 4}

# The longest `max_secret_age_days` a deployment may set: ten years.
MAX_SECRET_AGE_DAYS = 3650


class Deployment(models.Model):
    MAX_SECRET_AGE_DAYS = MAX_SECRET_AGE_DAYS

    name = models.CharField(max_length=63, unique=True)
    apex_domain = models.CharField(max_length=253, blank=True, default="")
    # Version numbers are never reused, even after a version row is gone.
    last_version_number = models.PositiveIntegerField(default=0)
    # Keys every release must define (SPEC §9); a release without one is refused.
    required_keys = models.JSONField(default=list, blank=True)
    # A secret whose current value is older than this is flagged overdue (SPEC §14); None: never.
    max_secret_age_days = models.PositiveIntegerField(null=True, blank=True)
    # Set once it has a shared group or a reference (SPEC §19): from then on its writes
    # re-resolve the environments that use what they change.
    shares_config = models.BooleanField(default=False)
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
            models.CheckConstraint(
                condition=Q(max_secret_age_days__isnull=True)
                | Q(max_secret_age_days__gte=1, max_secret_age_days__lte=MAX_SECRET_AGE_DAYS),
                name="deployment_max_secret_age_range",
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
    # How many keys its runtime gets resolved (from a group, or through references), and the
    # revisions of the groups and environments they were read at (SPEC §19).
    resolved_count = models.PositiveIntegerField(default=0)
    resolved_from = models.JSONField(default=dict, blank=True)
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
    # The revisions of the groups and environments its resolved configuration read (SPEC §19),
    # {"groups": {"common": 4}, "environments": {"staging": 12}}, and what changed elsewhere to
    # make a config release ("cause").
    resolved_from = models.JSONField(default=dict, blank=True)
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
