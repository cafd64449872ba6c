"""The runtime fetch's way in (issue 12): a whole fleet fetches its environment at boot, at once.

`GET /api/v1/runtime/env` is a bearer-token endpoint: no cookie, session, CSRF token, message,
user or htmx header means anything to it. This middleware, right after SecurityMiddleware (HTTPS
redirect, HSTS, nosniff, referrer and opener policies still apply), answers it without the rest
of the stack and without URL resolution; every other request goes on as before.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

RUNTIME_PATH = "/api/v1/runtime/env"


class RuntimeFetchMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != RUNTIME_PATH:
            return self.get_response(request)
        from .views import runtime_environment  # the views import models: after app loading

        # ALLOWED_HOSTS, as CommonMiddleware would check it (DisallowedHost answers 400).
        request.get_host()
        response = runtime_environment(request)
        # What the skipped middleware would have added that still matters to an API client.
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
