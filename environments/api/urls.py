from django.urls import path

from . import ci, imports, tokens, views

urlpatterns = [
    path("openapi.json", views.openapi_document, name="api_openapi"),
    path("deployments", views.deployment_list, name="api_deployments"),
    path(
        "deployments/<int:deployment_id>/env",
        views.environment_variables,
        name="api_environment_variables",
    ),
    # --- G: import (before env/<key>, which would take "import" as a key) ---
    path(
        "deployments/<int:deployment_id>/env/import",
        imports.import_variables,
        name="api_env_import",
    ),
    # --- end G ---
    path(
        "deployments/<int:deployment_id>/env/<str:key>",
        views.variable_detail,
        name="api_variable_detail",
    ),
    path(
        "deployments/<int:deployment_id>/env/<str:key>/history",
        views.variable_history,
        name="api_variable_history",
    ),
    path(
        "deployments/<int:deployment_id>/env/<str:key>/restore",
        views.variable_restore,
        name="api_variable_restore",
    ),
    path("deployments/<int:deployment_id>/releases", views.release_list, name="api_releases"),
    path("deployments/<int:deployment_id>/apply", views.apply_changes, name="api_apply"),
    path("deployments/<int:deployment_id>/rollback", views.rollback, name="api_rollback"),
    path(
        "deployments/<int:deployment_id>/required-keys",
        views.required_keys,
        name="api_required_keys",
    ),
    path("runtime/env", views.runtime_environment, name="api_runtime_env"),
    # The caller's own personal API tokens (SPEC §12).
    path("tokens", tokens.tokens, name="api_token_list"),
    path("tokens/<int:token_id>", tokens.token_detail, name="api_token_detail"),
    # Whatever else is under /api/ is a JSON 404: see project/urls.py.
]

# The JSON API for CI (SPEC §10): versions, environments, deploy, promote, bindings, domains.
urlpatterns += [
    path("deployments/<int:deployment_id>/versions", ci.versions, name="api_versions"),
    path(
        "deployments/<int:deployment_id>/environments",
        ci.environments,
        name="api_environments",
    ),
    # <path:…>: the name may hold one '/', as in preview/pr-42.
    path(
        "deployments/<int:deployment_id>/environments/<path:name>",
        ci.environment_detail,
        name="api_environment_detail",
    ),
    path("deployments/<int:deployment_id>/deploy", ci.deploy, name="api_deploy"),
    path("deployments/<int:deployment_id>/promote", ci.promote, name="api_promote"),
    path("deployments/<int:deployment_id>/bindings", ci.bindings, name="api_bindings"),
    path(
        "deployments/<int:deployment_id>/bindings/<int:binding_id>",
        ci.binding_detail,
        name="api_binding_detail",
    ),
    path("deployments/<int:deployment_id>/domains", ci.domains, name="api_domains"),
    path(
        "deployments/<int:deployment_id>/domains/<str:hostname>",
        ci.domain_detail,
        name="api_domain_detail",
    ),
]
