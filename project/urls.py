from django.contrib import admin
from django.urls import include, path, re_path

from project import handlers

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("environments.api.urls")),
    # Any other /api/ URL (another version, a typo, a newline or a NUL in the path, a doubled
    # slash as in //api/v1/…, any case as in /API/v1/…) is a JSON 404 too, never an HTML page.
    # No `.*$`: `.` stops at a newline; no (?i): reverse() cannot read it. (The resolver has
    # taken one leading slash off.)
    re_path(r"^/*[aA][pP][iI]/", handlers.api_not_found, name="api_not_found"),
    path("", include("environments.web.urls")),
]

handler400 = "project.handlers.bad_request"
handler403 = "project.handlers.permission_denied"
handler404 = "project.handlers.not_found"
handler500 = "project.handlers.server_error"
