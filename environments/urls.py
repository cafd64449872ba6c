from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from . import views


class EnvironmentNameConverter:
    """Environment names, which may hold one '/' (preview/pr-42).

    Pages under an environment sit behind "/-/" (as on GitLab): no name part starts with "-",
    so /env/preview/pr-42/-/history/ cannot be read as an environment named "pr-42/history".
    """

    regex = r"[a-z0-9][a-z0-9-]{0,62}(?:/[a-z0-9][a-z0-9._-]{0,62})?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class VariableKeyConverter:
    regex = r"[A-Za-z_][A-Za-z0-9_]{0,255}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EnvironmentNameConverter, "env")
register_converter(VariableKeyConverter, "key")

environment_urls = [
    path("", views.environment_detail, name="environment"),
    path("-/history/", views.environment_history, name="environment_history"),
    path("-/rollback/", views.rollback, name="rollback"),
    path("-/promote/", views.promote, name="promote"),
    path("-/delete/", views.environment_delete, name="environment_delete"),
    path("-/variables/", views.variables, name="variables"),
    path("-/variables/<key:key>/edit/", views.variable_edit, name="variable_edit"),
    path("-/variables/<key:key>/delete/", views.variable_delete, name="variable_delete"),
    path("-/variables/<key:key>/reveal/", views.variable_reveal, name="variable_reveal"),
    path("-/promotion-target/", views.promotion_target, name="promotion_target"),
    path("-/bindings/", views.bindings, name="bindings"),
    path("-/bindings/<int:pk>/edit/", views.binding_edit, name="binding_edit"),
    path("-/bindings/<int:pk>/delete/", views.binding_delete, name="binding_delete"),
    path("-/domains/", views.domains, name="domains"),
    path("-/domains/<int:pk>/delete/", views.domain_delete, name="domain_delete"),
    path("-/tokens/", views.runtime_tokens, name="runtime_tokens"),
    path("-/tokens/<int:pk>/revoke/", views.runtime_token_revoke, name="runtime_token_revoke"),
    # Pending changes, Apply, how config changes go live (SPEC §9)
    path("-/pending/", views.pending_changes, name="pending_changes"),
    path("-/apply/", views.apply_changes, name="apply_changes"),
    path("-/config-changes/", views.config_changes, name="config_changes"),
    # --- G: import a .env file ---
    path("-/import/", views.variable_import, name="variable_import"),
    # Key history and restore (issue 9)
    path("-/variables/<key:key>/history/", views.variable_history, name="variable_history"),
    path("-/variables/<key:key>/restore/", views.variable_restore, name="variable_restore"),
]

deployment_urls = [
    path("", views.deployment_detail, name="deployment"),
    path("versions/new/", views.version_create, name="version_create"),
    path("environments/new/", views.environment_create, name="environment_create"),
    path("compare/", views.compare, name="compare"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, {"fmt": "csv"}, name="audit_export_csv"),
    path("audit/export.jsonl", views.audit_export, {"fmt": "jsonl"}, name="audit_export_jsonl"),
    path("members/", views.members, name="members"),
    path("members/<int:user_id>/role/", views.member_role, name="member_role"),
    path("members/<int:user_id>/remove/", views.member_remove, name="member_remove"),
    path("settings/", views.deployment_settings, name="deployment_settings"),
    path("delete/", views.deployment_delete, name="deployment_delete"),
    path("env/<env:name>/", include(environment_urls)),
    # Required keys (issue 9)
    path("settings/required-keys/", views.required_keys, name="required_keys"),
]

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.deployment_list, name="deployment_list"),
    path("deployments/new/", views.deployment_create, name="deployment_create"),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("deployments/<int:deployment_id>/", include(deployment_urls)),
]
