"""The project's error answers: JSON on every /api/ URL, the site's own pages elsewhere.

project/urls.py points handler400/403/404/500 here, and its catch-all route for /api/ too: under
DEBUG Django answers an unmatched URL with its HTML 404 page without calling handler404, so only a
route that matches every /api/ path keeps the API's answers JSON there. Both read the prefix
however it is spelled (`//api/`, `/API/`): a client that doubles a slash or changes the case
still gets the API's JSON error, never a page.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.common import no_append_slash
from django.views.decorators.csrf import csrf_exempt

from environments.api.errors import ApiError, error_response, refuse_token_in_query

# The /api/ prefix however a client or a proxy spells it: doubled slashes, any case.
API_PREFIX = re.compile(r"/+api/", re.IGNORECASE)


def _is_api(request: HttpRequest) -> bool:
    return API_PREFIX.match(request.path) is not None


def _api_error(status: int, code: str, message: str, **kwargs) -> HttpResponse:
    response = error_response(status, code, message, **kwargs)
    response["Cache-Control"] = "no-store"
    return response


@no_append_slash
@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any /api/ URL no endpoint answers, any method: a JSON 404, also under DEBUG and without
    an APPEND_SLASH redirect."""
    try:
        refuse_token_in_query(request)  # a leaked token is worth saying so, even on a typo URL
    except ApiError as exc:
        return _api_error(exc.status, exc.code, exc.message, field=exc.field)
    return _api_error(404, "not_found", "There is nothing at this address.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400 (a bad Host header, too many fields…)."""
    if _is_api(request):
        return _api_error(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403 (on /api/ a CSRF failure cannot happen: bearer auth)."""
    if _is_api(request):
        return _api_error(403, "forbidden", "This is not allowed.")
    from environments.selectors.invitations import who_grants_access_for

    match = getattr(request, "resolver_match", None)
    deployment_id = match.kwargs.get("deployment_id") if match else None
    context = {
        "exception": str(exception or ""),
        # Who can grant access: the deployment's owners, named to its members only.
        "grant": who_grants_access_for(getattr(request, "user", None), deployment_id),
    }
    return render(request, "403.html", context, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404."""
    if _is_api(request):
        return api_not_found(request)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. The exception is not shown: its text may quote a value."""
    if _is_api(request):
        return _api_error(500, "server_error", "Something went wrong on our side.")
    return render(request, "500.html", status=500)
