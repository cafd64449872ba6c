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
    path("runtime/env", views.runtime_environment, name="api_runtime_env"),
    # Whatever else is under /api/ is a JSON 404: see project/urls.py.
]
