"""The Django admin, for superusers: everything visible but values. No ciphertext, no secret,
no way to read a value back; variables and bindings are written only through the services."""

from __future__ import annotations

from django.contrib import admin

from . import rules, services
from .actors import Actor
from .models import (
    ApiToken,
    AuditChainHead,
    AuditEvent,
    AuditTombstone,
    Binding,
    ConfigEntry,
    DataServer,
    DataService,
    Deployment,
    Domain,
    Environment,
    Membership,
    OidcPolicy,
    OidcToken,
    Release,
    RuntimeInstance,
    RuntimeToken,
    Variable,
    Version,
)


class ReadOnlyValuesAdmin(admin.ModelAdmin):
    """The admin inspects; writes go through the services (validation, encryption, audit),
    which the application pages and admin actions call."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyValuesAdmin):
    list_display = ["name", "apex_domain", "last_version_number", "created_at"]
    search_fields = ["name", "apex_domain"]
    readonly_fields = [
        "name",
        "apex_domain",
        "last_version_number",
        "required_keys",
        "created_at",
        "created_by",
    ]


@admin.register(Environment)
class EnvironmentAdmin(ReadOnlyValuesAdmin):
    list_display = [
        "name",
        "deployment",
        "active_version",
        "config_revision",
        "config_changes",
        "promotes_to",
        "created_at",
    ]
    list_filter = ["deployment", "config_changes"]
    search_fields = ["name", "deployment__name"]
    list_select_related = ["deployment", "active_version", "promotes_to"]
    readonly_fields = [
        "deployment",
        "name",
        "active_version",
        "live_release",
        "config_revision",
        "config_changes",
        "release_count",
        "promotes_to",
        "created_at",
    ]


@admin.register(Version)
class VersionAdmin(ReadOnlyValuesAdmin):
    list_display = ["__str__", "deployment", "label", "created_by", "created_at"]
    list_filter = ["deployment"]
    search_fields = ["label", "notes", "deployment__name"]
    list_select_related = ["deployment", "created_by"]
    readonly_fields = ["deployment", "number", "label", "notes", "created_at", "created_by"]


@admin.register(Release)
class ReleaseAdmin(ReadOnlyValuesAdmin):
    list_display = [
        "environment",
        "number",
        "kind",
        "from_version",
        "version",
        "config_revision",
        "actor_label",
        "created_at",
    ]
    list_filter = ["kind", "environment__deployment"]
    list_select_related = ["environment", "from_version", "version"]
    search_fields = ["environment__name", "actor_label"]


@admin.register(Variable)
class VariableAdmin(ReadOnlyValuesAdmin):
    list_display = [
        "key",
        "environment",
        "deployment",
        "is_secret",
        "masked_value",
        "updated_by_label",
        "updated_at",
    ]
    list_filter = ["is_secret", "environment__deployment", "environment__name"]
    search_fields = ["key", "environment__name", "environment__deployment__name"]
    list_select_related = ["environment__deployment"]
    fields = [
        "environment",
        "key",
        "is_secret",
        "masked_value",
        "size",
        "updated_by_label",
        "updated_at",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="deployment")
    def deployment(self, obj: Variable) -> str:
        return obj.environment.deployment.name

    @admin.display(description="value")
    def masked_value(self, obj: Variable) -> str:
        # Even plain values are masked here: the admin is not a way to read values. The
        # environment page (with its audited reveal) is.
        return rules.SECRET_PREVIEW


@admin.register(Binding)
class BindingAdmin(ReadOnlyValuesAdmin):
    list_display = ["variable_name", "kind", "name", "environment", "updated_at"]
    list_filter = ["kind", "environment__deployment"]
    search_fields = ["variable_name", "name", "environment__name"]
    list_select_related = ["environment__deployment"]
    fields = [
        "environment",
        "kind",
        "name",
        "variable_name",
        "masked_credential",
        "updated_by_label",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="credential")
    def masked_credential(self, obj: Binding) -> str:
        return rules.SECRET_PREVIEW


@admin.register(DataServer)
class DataServerAdmin(ReadOnlyValuesAdmin):
    """A data server's admin URL is never shown: it is registered through add_data_server."""

    list_display = ["name", "kind", "version", "error", "checked_at", "for_all_deployments"]
    list_filter = ["kind"]
    search_fields = ["name"]
    fields = [
        "name",
        "kind",
        "masked_admin_url",
        "for_all_deployments",
        "version",
        "error",
        "checked_at",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="admin URL")
    def masked_admin_url(self, obj: DataServer) -> str:
        return rules.SECRET_PREVIEW


@admin.register(DataService)
class DataServiceAdmin(ReadOnlyValuesAdmin):
    list_display = ["name", "kind", "state", "deployment_name", "environment_name", "server"]
    list_filter = ["kind", "state"]
    search_fields = ["name", "deployment_name", "environment_name"]
    list_select_related = ["server"]
    fields = [
        "name",
        "kind",
        "state",
        "error",
        "server",
        "deployment_name",
        "environment_name",
        "variable",
        "masked_credential",
        "created_by_label",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="credential")
    def masked_credential(self, obj: DataService) -> str:
        return rules.SECRET_PREVIEW


@admin.register(ConfigEntry)
class ConfigEntryAdmin(ReadOnlyValuesAdmin):
    """Value history: which key was set or deleted at which revision, never the value."""

    list_display = [
        "key",
        "kind",
        "environment",
        "set_revision",
        "end_revision",
        "ended",
        "is_secret",
        "masked_value",
        "set_by_label",
        "set_at",
    ]
    list_filter = ["kind", "ended", "is_secret", "environment__deployment"]
    search_fields = ["key", "environment__name", "environment__deployment__name"]
    list_select_related = ["environment__deployment"]
    fields = [
        "environment",
        "kind",
        "key",
        "is_secret",
        "masked_value",
        "size",
        "binding_kind",
        "binding_name",
        "set_revision",
        "set_at",
        "set_by_label",
        "end_revision",
        "ended",
        "ended_at",
        "ended_by_label",
    ]
    readonly_fields = fields

    @admin.display(description="value")
    def masked_value(self, obj: ConfigEntry) -> str:
        return "" if obj.kind == ConfigEntry.Kind.DOMAIN else rules.SECRET_PREVIEW


@admin.register(RuntimeInstance)
class RuntimeInstanceAdmin(ReadOnlyValuesAdmin):
    list_display = [
        "instance",
        "environment",
        "release_number",
        "version_number",
        "config_revision",
        "last_seen_at",
    ]
    list_filter = ["environment__deployment"]
    search_fields = ["instance", "token_name", "environment__name"]
    list_select_related = ["environment__deployment"]


@admin.register(Domain)
class DomainAdmin(ReadOnlyValuesAdmin):
    list_display = ["hostname", "environment", "created_at"]
    list_filter = ["environment__deployment"]
    search_fields = ["hostname"]
    list_select_related = ["environment__deployment"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyValuesAdmin):
    list_display = ["user", "deployment", "role", "created_at"]
    list_filter = ["role", "deployment"]
    search_fields = ["user__username", "deployment__name"]
    list_select_related = ["user", "deployment"]


@admin.action(description="Revoke selected tokens")
def revoke_tokens(modeladmin, request, queryset):
    actor = Actor.from_request(request)
    for token in queryset:
        if isinstance(token, ApiToken):
            services.revoke_api_token(token=token, actor=actor)
        elif isinstance(token, OidcToken):
            services.revoke_oidc_token(token=token, actor=actor)
        else:
            services.revoke_runtime_token(token=token, actor=actor)


class TokenAdmin(ReadOnlyValuesAdmin):
    search_fields = ["name", "hint"]
    list_filter = ["revoked_at", "expires_at"]
    actions = [revoke_tokens]

    def has_change_permission(self, request, obj=None):
        # Needed for the revoke action; every field stays read-only.
        return request.user.is_superuser

    @admin.display(description="token")
    def token(self, obj) -> str:
        return f"{obj.PREFIX}{obj.hint}…"


def _token_fields(owner: str) -> list[str]:
    """A token's list columns and (read-only) fields, its owner (user or environment) third."""
    return ["token", "name", owner, "created_at", "expires_at", "last_used_at", "revoked_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    list_display = fields = readonly_fields = _token_fields("user")
    list_select_related = ["user"]


@admin.register(RuntimeToken)
class RuntimeTokenAdmin(TokenAdmin):
    list_display = fields = readonly_fields = _token_fields("environment")
    list_select_related = ["environment__deployment"]


@admin.register(OidcToken)
class OidcTokenAdmin(TokenAdmin):
    list_display = fields = readonly_fields = [*_token_fields("deployment"), "subject", "role"]
    list_select_related = ["deployment"]
    search_fields = ["name", "hint", "subject"]


@admin.register(OidcPolicy)
class OidcPolicyAdmin(ReadOnlyValuesAdmin):
    """CI trust policies: added and deleted on the deployment's CI trust page or the API."""

    list_display = ["deployment", "issuer", "subject", "role", "environments", "created_at"]
    list_select_related = ["deployment"]
    search_fields = ["issuer", "subject", "deployment__name"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyValuesAdmin):
    """Read-only, like every model here: an audit event is never edited or deleted from the
    admin (prune_audit is the one way events leave, and it leaves a tombstone). The hashes shown
    are SHA-256 of content the page shows anyway; they reveal nothing more."""

    list_display = [
        "created_at",
        "actor_label",
        "action",
        "deployment_name",
        "environment_name",
        "target",
        "outcome",
        "ip",
        "chain",
        "seq",
    ]
    list_filter = ["action", "outcome", "deployment_name"]
    search_fields = ["actor_label", "action", "target", "environment_name"]
    date_hierarchy = "created_at"


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyValuesAdmin):
    list_display = ["chain", "seq", "hash"]


@admin.register(AuditTombstone)
class AuditTombstoneAdmin(ReadOnlyValuesAdmin):
    list_display = ["chain", "seq", "content_hash"]
    list_filter = ["chain"]
