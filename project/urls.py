from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("environments.api.urls")),
    path("", include("environments.urls")),
]

handler404 = "environments.views.not_found"
handler500 = "environments.views.server_error"
