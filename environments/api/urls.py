from django.urls import path

from . import (
    bindings,
    change_requests,
    data_services,
    deployments,
    domains,
    env_import,
    environments,
    group_links,
    groups,
    oidc,
    openapi,
    releases,
    required_keys,
    rotations,
    runtime,
    tokens,
    variables,
    versions,
    webhooks,
)

DEPLOYMENT = "deployments/<int:deployment_id>"

urlpatterns = [
    path("openapi.json", openapi.openapi_document, name="api_openapi"),
    path("deployments", deployments.deployment_list, name="api_deployments"),
    # Variables; env/import before env/<key>, which would take "import" as a key.
    path(f"{DEPLOYMENT}/env", variables.environment_variables, name="api_environment_variables"),
    path(f"{DEPLOYMENT}/env/import", env_import.import_variables, name="api_env_import"),
    path(f"{DEPLOYMENT}/env/<str:key>", variables.variable_detail, name="api_variable_detail"),
    path(f"{DEPLOYMENT}/env/<str:key>/explain", group_links.explain, name="api_variable_explain"),
    path(
        f"{DEPLOYMENT}/env/<str:key>/history",
        variables.variable_history,
        name="api_variable_history",
    ),
    path(
        f"{DEPLOYMENT}/env/<str:key>/restore",
        variables.variable_restore,
        name="api_variable_restore",
    ),
    # Releases.
    path(f"{DEPLOYMENT}/releases", releases.release_list, name="api_releases"),
    path(f"{DEPLOYMENT}/deploy", releases.deploy, name="api_deploy"),
    path(f"{DEPLOYMENT}/promote", releases.promote, name="api_promote"),
    path(f"{DEPLOYMENT}/apply", releases.apply_changes, name="api_apply"),
    path(f"{DEPLOYMENT}/rollback", releases.rollback, name="api_rollback"),
    path(f"{DEPLOYMENT}/required-keys", required_keys.required_keys, name="api_required_keys"),
    path(f"{DEPLOYMENT}/versions", versions.versions, name="api_versions"),
    # Environments; <path:…> as the name may hold one '/', as in preview/pr-42.
    path(f"{DEPLOYMENT}/environments", environments.environments, name="api_environments"),
    path(
        f"{DEPLOYMENT}/environments/<path:name>/groups",
        group_links.environment_groups,
        name="api_environment_groups",
    ),
    path(
        f"{DEPLOYMENT}/environments/<path:name>/protection",
        change_requests.protection,
        name="api_environment_protection",
    ),
    path(
        f"{DEPLOYMENT}/environments/<path:name>",
        environments.environment_detail,
        name="api_environment_detail",
    ),
    # Shared groups (SPEC §19).
    path(f"{DEPLOYMENT}/groups", groups.groups, name="api_groups"),
    path(f"{DEPLOYMENT}/groups/<str:group>", groups.group_detail, name="api_group_detail"),
    path(f"{DEPLOYMENT}/groups/<str:group>/env", groups.group_variables, name="api_group_env"),
    path(
        f"{DEPLOYMENT}/groups/<str:group>/env/<str:key>",
        groups.group_variable_detail,
        name="api_group_variable_detail",
    ),
    path(
        f"{DEPLOYMENT}/groups/<str:group>/env/<str:key>/history",
        groups.group_variable_history,
        name="api_group_variable_history",
    ),
    path(
        f"{DEPLOYMENT}/groups/<str:group>/env/<str:key>/restore",
        groups.group_variable_restore,
        name="api_group_variable_restore",
    ),
    # Change requests for protected environments (SPEC §15)
    path(
        f"{DEPLOYMENT}/change-requests",
        change_requests.change_request_list,
        name="api_change_requests",
    ),
    path(
        f"{DEPLOYMENT}/change-requests/<int:cid>",
        change_requests.change_request_detail,
        name="api_change_request_detail",
    ),
    path(
        f"{DEPLOYMENT}/change-requests/<int:cid>/approve",
        change_requests.change_request_approve,
        name="api_change_request_approve",
    ),
    path(
        f"{DEPLOYMENT}/change-requests/<int:cid>/reject",
        change_requests.change_request_reject,
        name="api_change_request_reject",
    ),
    path(
        f"{DEPLOYMENT}/change-requests/<int:cid>/apply",
        change_requests.change_request_apply,
        name="api_change_request_apply",
    ),
    path(
        f"{DEPLOYMENT}/change-requests/<int:cid>/cancel",
        change_requests.change_request_cancel,
        name="api_change_request_cancel",
    ),
    path(f"{DEPLOYMENT}/bindings", bindings.bindings, name="api_bindings"),
    path(
        f"{DEPLOYMENT}/bindings/<int:binding_id>",
        bindings.binding_detail,
        name="api_binding_detail",
    ),
    path(f"{DEPLOYMENT}/data-services", data_services.data_services, name="api_data_services"),
    path(
        f"{DEPLOYMENT}/data-services/<int:service_id>",
        data_services.data_service_detail,
        name="api_data_service_detail",
    ),
    path(
        f"{DEPLOYMENT}/data-services/<int:service_id>/retry",
        data_services.data_service_retry,
        name="api_data_service_retry",
    ),
    path(
        f"{DEPLOYMENT}/data-services/<int:service_id>/rotate",
        rotations.rotate,
        name="api_data_service_rotate",
    ),
    path(
        f"{DEPLOYMENT}/data-services/<int:service_id>/rotations/<int:rotation_id>",
        rotations.rotation_detail,
        name="api_rotation_detail",
    ),
    path(
        f"{DEPLOYMENT}/data-services/<int:service_id>/rotations/<int:rotation_id>/revoke",
        rotations.rotation_revoke,
        name="api_rotation_revoke",
    ),
    path(
        f"{DEPLOYMENT}/data-services/<int:service_id>/rotations/<int:rotation_id>/cancel",
        rotations.rotation_cancel,
        name="api_rotation_cancel",
    ),
    path(f"{DEPLOYMENT}/domains", domains.domains, name="api_domains"),
    path(
        f"{DEPLOYMENT}/domains/<str:hostname>",
        domains.domain_detail,
        name="api_domain_detail",
    ),
    # Webhooks (SPEC §17).
    path(f"{DEPLOYMENT}/webhooks", webhooks.webhooks, name="api_webhooks"),
    path(
        f"{DEPLOYMENT}/webhooks/<int:webhook_id>",
        webhooks.webhook_detail,
        name="api_webhook_detail",
    ),
    path(
        f"{DEPLOYMENT}/webhooks/<int:webhook_id>/rotate-secret",
        webhooks.rotate_secret,
        name="api_webhook_rotate_secret",
    ),
    path(f"{DEPLOYMENT}/webhooks/<int:webhook_id>/ping", webhooks.ping, name="api_webhook_ping"),
    path(
        f"{DEPLOYMENT}/webhooks/<int:webhook_id>/enable",
        webhooks.enable,
        name="api_webhook_enable",
    ),
    path(
        f"{DEPLOYMENT}/webhooks/<int:webhook_id>/deliveries",
        webhooks.deliveries,
        name="api_webhook_deliveries",
    ),
    path(
        f"{DEPLOYMENT}/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver",
        webhooks.redeliver,
        name="api_webhook_redeliver",
    ),
    # The runtime fetch; RuntimeFetchMiddleware answers it before URL resolution.
    path("runtime/env", runtime.runtime_environment, name="api_runtime_env"),
    # The caller's own personal API tokens (SPEC §12).
    path("tokens", tokens.tokens, name="api_token_list"),
    path("tokens/<int:token_id>", tokens.token_detail, name="api_token_detail"),
    # CI trust (SPEC §16): policies, and the exchange of an OIDC ID token (no token needed).
    path(f"{DEPLOYMENT}/oidc-policies", oidc.policies, name="api_oidc_policies"),
    path(
        f"{DEPLOYMENT}/oidc-policies/<int:policy_id>",
        oidc.policy_detail,
        name="api_oidc_policy_detail",
    ),
    path("oidc/token", oidc.exchange, name="api_oidc_token"),
    # Whatever else is under /api/ is a JSON 404: see project/urls.py.
]
