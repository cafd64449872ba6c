"""CI without long-lived tokens (SPEC §16): the trust policies a deployment holds for a CI
provider's OIDC ID tokens, the `jti`s already exchanged, and the short-lived tokens minted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .deployments import Deployment, Role
from .tokens import Token

# The longest a minted token lives (and the largest ttl_seconds a policy may set).
MAX_TTL_SECONDS = 3600
# GitHub Actions' issuer, the example everywhere (its keys: f"{GITHUB_ISSUER}/.well-known/jwks").
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class OidcPolicy(models.Model):
    """Who may exchange an ID token for a token on this deployment: the issuer, audience and
    subject (exact, or a glob with `*`) an ID token must carry, extra claims it must hold
    exactly, and what the minted token may do (role, environments, lifetime). Keys: a pinned
    JWKS document, a JWKS URL, or both (the pinned keys are tried first)."""

    class TokenRole(models.TextChoices):
        DEVELOPER = Role.DEVELOPER.value, Role.DEVELOPER.label
        ADMIN = Role.ADMIN.value, Role.ADMIN.label

    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="oidc_policies"
    )
    issuer = models.CharField(max_length=500)
    audience = models.CharField(max_length=500)
    subject = models.CharField(max_length=500)
    claims = models.JSONField(default=dict, blank=True)
    environments = models.JSONField(default=list)
    role = models.CharField(max_length=20, choices=TokenRole.choices)
    ttl_seconds = models.PositiveIntegerField(default=900)
    jwks = models.JSONField(null=True, blank=True)
    jwks_url = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ttl_seconds__gte=60, ttl_seconds__lte=MAX_TTL_SECONDS),
                name="oidc_policy_ttl_range",
            ),
            models.CheckConstraint(
                condition=Q(jwks__isnull=False) | ~Q(jwks_url=""), name="oidc_policy_has_keys"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.subject}"


class OidcUsedJti(models.Model):
    """An ID token's `jti`, once exchanged: the same ID token is refused until it expires
    (then the row may go; `expires_at` already includes the allowed clock skew)."""

    issuer = models.CharField(max_length=500)
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="oidc_used_jti_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.issuer} jti"


class OidcToken(Token):
    """A token minted by an exchange: a personal-style bearer token without a user, limited
    to one deployment, the policy's role and environments, and at most an hour. It cannot
    create tokens. Its actor in the audit trail is `oidc <subject>`."""

    PREFIX = "mio_oidc_"
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="oidc_tokens")
    policy = models.ForeignKey(
        OidcPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="tokens"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=500)
    role = models.CharField(max_length=20, choices=OidcPolicy.TokenRole.choices)
    environments = models.JSONField(default=list)

    # No user acts: the API's `request.user` of an OIDC request is None.
    user = None

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.PREFIX}{self.hint}… ({self.subject})"

    @property
    def actor_label(self) -> str:
        return f"oidc {self.subject}"
