from django.contrib import admin
from django.urls import include, path, re_path

from environments.api import views as api_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("environments.api.urls")),
    # Any other /api/ URL (another version, a typo) is a JSON 404 too, never an HTML page.
    re_path(r"^api/(?P<path>.*)$", api_views.not_found),
    path("", include("environments.urls")),
]

handler400 = "environments.api.views.bad_request"
handler403 = "environments.api.views.permission_denied"
handler404 = "environments.views.not_found"
handler500 = "environments.views.server_error"
