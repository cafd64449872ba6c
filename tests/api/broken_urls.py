"""A URLconf with an API route that fails outside the API's own error handling, to prove the
project's handler500 still answers /api/ with JSON."""

from django.urls import include, path


def explode(request):
    raise RuntimeError("kaboom")


urlpatterns = [
    path("api/v1/explode", explode),
    path("", include("project.urls")),
]

handler404 = "project.handlers.not_found"
handler500 = "project.handlers.server_error"
