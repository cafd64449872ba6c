from django.urls import path

from . import views

urlpatterns = [
    path("openapi.json", views.openapi_document, name="api_openapi"),
    path("deployments", views.deployment_list, name="api_deployments"),
    path(
        "deployments/<int:deployment_id>/env",
        views.environment_variables,
        name="api_environment_variables",
    ),
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
    # Whatever else is under /api/ is a JSON 404: see project/urls.py.
]
