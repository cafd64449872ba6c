from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from . import (
    api_tokens,
    apply,
    audit_log,
    bindings,
    change_requests,
    compare,
    data_servers,
    data_services,
    deploy_version,
    deployment,
    deployment_list,
    deployment_settings,
    domains,
    env_import,
    environment,
    environment_delete,
    environment_form,
    environment_history,
    groups,
    invitations,
    members,
    oidc_policies,
    protection,
    rotations,
    runtime_tokens,
    variable_history,
    variables,
    version_form,
    webhooks,
)


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
    path("", environment.environment_detail, name="environment"),
    path("-/history/", environment_history.environment_history, name="environment_history"),
    path("-/rollback/", environment_history.rollback, name="rollback"),
    path("-/promote/", deployment.promote, name="promote"),
    path("-/deploy/", deploy_version.deploy_version, name="deploy_version"),
    path("-/delete/", environment_delete.environment_delete, name="environment_delete"),
    path("-/variables/", variables.variables, name="variables"),
    path("-/variables/<key:key>/edit/", variables.variable_edit, name="variable_edit"),
    path("-/variables/<key:key>/delete/", variables.variable_delete, name="variable_delete"),
    path("-/variables/<key:key>/reveal/", variables.variable_reveal, name="variable_reveal"),
    path("-/promotion-target/", environment.promotion_target, name="promotion_target"),
    path("-/groups/", groups.environment_groups, name="environment_groups"),
    path("-/bindings/", bindings.bindings, name="bindings"),
    path("-/bindings/<int:pk>/edit/", bindings.binding_edit, name="binding_edit"),
    path("-/bindings/<int:pk>/delete/", bindings.binding_delete, name="binding_delete"),
    # Data services (SPEC §13)
    path("-/data/", data_services.data_services, name="data_services"),
    path("-/data/<int:pk>/", data_services.data_service_row, name="data_service_row"),
    path("-/data/<int:pk>/retry/", data_services.data_service_retry, name="data_service_retry"),
    path("-/data/<int:pk>/delete/", data_services.data_service_delete, name="data_service_delete"),
    # Rotation of a data service's credential (SPEC §14)
    path("-/rotations/", rotations.environment_rotations, name="environment_rotations"),
    path("-/data/<int:pk>/rotation/", rotations.data_service_page, name="data_service_page"),
    path("-/data/<int:pk>/rotate/", rotations.data_service_rotate, name="data_service_rotate"),
    path(
        "-/data/<int:pk>/schedule/", rotations.data_service_schedule, name="data_service_schedule"
    ),
    path(
        "-/data/<int:pk>/rotations/<int:rotation_id>/revoke/",
        rotations.rotation_revoke,
        name="rotation_revoke",
    ),
    path(
        "-/data/<int:pk>/rotations/<int:rotation_id>/cancel/",
        rotations.rotation_cancel,
        name="rotation_cancel",
    ),
    path("-/domains/", domains.domains, name="domains"),
    path("-/domains/<int:pk>/delete/", domains.domain_delete, name="domain_delete"),
    path("-/tokens/", runtime_tokens.runtime_tokens, name="runtime_tokens"),
    path(
        "-/tokens/<int:pk>/revoke/",
        runtime_tokens.runtime_token_revoke,
        name="runtime_token_revoke",
    ),
    # Pending changes, Apply, how config changes go live (SPEC §9)
    path("-/pending/", apply.pending_changes, name="pending_changes"),
    path("-/apply/", apply.apply_changes, name="apply_changes"),
    path("-/config-changes/", apply.config_changes, name="config_changes"),
    # Protection (SPEC §15)
    path("-/protection/", protection.environment_protection, name="environment_protection"),
    # Import a .env file
    path("-/import/", env_import.variable_import, name="variable_import"),
    # Key history and restore
    path(
        "-/variables/<key:key>/history/", variable_history.variable_history, name="variable_history"
    ),
    path(
        "-/variables/<key:key>/history/values/",
        variable_history.variable_history_values,
        name="variable_history_values",
    ),
    path(
        "-/variables/<key:key>/restore/", variable_history.variable_restore, name="variable_restore"
    ),
]

deployment_urls = [
    path("", deployment.deployment_detail, name="deployment"),
    path("versions/new/", version_form.version_create, name="version_create"),
    path("environments/new/", environment_form.environment_create, name="environment_create"),
    path("compare/", compare.compare, name="compare"),
    # Shared groups (SPEC §19)
    path("groups/", groups.groups, name="groups"),
    path("groups/<str:group>/", groups.group_detail, name="group"),
    path(
        "groups/<str:group>/<key:key>/delete/",
        groups.group_variable_delete,
        name="group_variable_delete",
    ),
    path("compare/copy/", compare.compare_copy, name="compare_copy"),
    path("compare/values/", compare.compare_values, name="compare_values"),
    path("audit/", audit_log.audit_log, name="audit_log"),
    path("audit/export.csv", audit_log.audit_export, {"fmt": "csv"}, name="audit_export_csv"),
    path("audit/export.jsonl", audit_log.audit_export, {"fmt": "jsonl"}, name="audit_export_jsonl"),
    path("members/", members.members, name="members"),
    path("members/<int:user_id>/role/", members.member_role, name="member_role"),
    path("members/<int:user_id>/remove/", members.member_remove, name="member_remove"),
    path("members/invite/", members.member_invite, name="member_invite"),
    path(
        "members/invitations/<int:pk>/revoke/",
        members.invitation_revoke,
        name="invitation_revoke",
    ),
    path("settings/", deployment_settings.deployment_settings, name="deployment_settings"),
    path("delete/", deployment_settings.deployment_delete, name="deployment_delete"),
    path("env/<env:name>/", include(environment_urls)),
    # Change requests for protected environments (SPEC §15)
    path("change-requests/", change_requests.change_request_list, name="change_requests"),
    path("change-requests/<int:pk>/", change_requests.change_request_detail, name="change_request"),
    path(
        "change-requests/<int:pk>/review/",
        change_requests.change_request_review,
        name="change_request_review",
    ),
    path(
        "change-requests/<int:pk>/apply/",
        change_requests.change_request_apply,
        name="change_request_apply",
    ),
    path(
        "change-requests/<int:pk>/cancel/",
        change_requests.change_request_cancel,
        name="change_request_cancel",
    ),
    path(
        "change-requests/<int:pk>/again/",
        change_requests.change_request_again,
        name="change_request_again",
    ),
    path(
        "change-requests/<int:pk>/reveal/",
        change_requests.change_request_reveal,
        name="change_request_reveal",
    ),
    # Required keys
    path("settings/required-keys/", deployment_settings.required_keys, name="required_keys"),
    path("settings/secret-age/", deployment_settings.secret_age, name="secret_age"),
    # CI trust (OIDC)
    path("settings/ci-trust/", oidc_policies.oidc_policies, name="oidc_policies"),
    path(
        "settings/ci-trust/<int:pk>/delete/",
        oidc_policies.oidc_policy_delete,
        name="oidc_policy_delete",
    ),
    path(
        "settings/ci-trust/tokens/<int:pk>/revoke/",
        oidc_policies.oidc_token_revoke,
        name="oidc_token_revoke",
    ),
    # Webhooks (SPEC §17)
    path("webhooks/", webhooks.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/", webhooks.webhook, name="webhook"),
    path("webhooks/<int:pk>/ping/", webhooks.webhook_ping, name="webhook_ping"),
    path("webhooks/<int:pk>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:pk>/enable/", webhooks.webhook_enable, name="webhook_enable"),
    path("webhooks/<int:pk>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/",
        webhooks.webhook_redeliver,
        name="webhook_redeliver",
    ),
]

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", deployment_list.deployment_list, name="deployment_list"),
    path("deployments/new/", deployment_list.deployment_create, name="deployment_create"),
    path("account/tokens/", api_tokens.api_tokens, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke/", api_tokens.api_token_revoke, name="api_token_revoke"),
    path("deployments/<int:deployment_id>/", include(deployment_urls)),
    path("invitations/<str:token>/", invitations.invitation, name="invitation"),
    path("data-servers/", data_servers.data_servers, name="data_servers"),
    path("data-servers/<int:pk>/check/", data_servers.data_server_check, name="data_server_check"),
    path(
        "data-servers/<int:pk>/remove/", data_servers.data_server_remove, name="data_server_remove"
    ),
]
