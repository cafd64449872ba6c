"""The API's error answers and the wrapper every endpoint goes through.

Every error is `{"error": {"code", "message", "field"?}}` (SPEC §4). Messages are written here
or by the services and never contain a value. An unexpected exception becomes a JSON 500 with
a fixed message: its text is neither returned nor logged (it might quote a value).
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..errors import ServiceError

logger = logging.getLogger("environments.api")

# Query parameters that look like an attempt to authenticate (only the header counts).
TOKEN_PARAMETERS = frozenset(
    {
        "token",
        "access_token",
        "api_key",
        "apikey",
        "api_token",
        "auth",
        "auth_token",
        "authorization",
        "bearer",
        "key",
        "runtime_token",
    }
)
TOKEN_PREFIX = "mio_"


class ApiError(Exception):
    """An error answer raised from inside a view; the wrapper turns it into a response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    response = JsonResponse({"error": error}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def refuse_token_in_query(request: HttpRequest) -> None:
    for name, values in request.GET.lists():
        if name.lower() in TOKEN_PARAMETERS or any(
            value.strip().lower().startswith(TOKEN_PREFIX) for value in values
        ):
            raise ApiError(
                400,
                "token_in_query",
                "Tokens are accepted only in the Authorization header (Bearer), never in the "
                "URL; treat a token that was put in a URL as leaked and revoke it.",
                field=name[:100],
            )


def api_endpoint(*methods: str) -> Callable:
    """Wrap an API view: CSRF-exempt (bearer auth only), methods checked, tokens in the query
    string refused, and every error answered as JSON, 500 included."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                refuse_token_in_query(request)
                if request.method not in methods:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        f"{request.method} is not allowed here; use {' or '.join(methods)}.",
                        headers={"Allow": ", ".join(methods)},
                    )
                response = view(request, *args, **kwargs)
            except ApiError as exc:
                response = error_response(
                    exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers
                )
            except ServiceError as exc:
                response = error_response(exc.status, exc.code, exc.message, field=exc.field)
            except Http404:
                response = error_response(404, "not_found", "There is no such thing here.")
            except PermissionDenied as exc:
                response = error_response(
                    403, "forbidden", str(exc) or "Your role does not allow this."
                )
            except SuspiciousOperation:
                response = error_response(400, "bad_request", "The request is malformed.")
            except Exception as exc:
                # Type and frames only: an exception's text may quote a value.
                logger.error(
                    "Unhandled %s in %s %s\n%s",
                    type(exc).__name__,
                    request.method,
                    request.path,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                response = error_response(
                    500, "server_error", "Something went wrong on our side; nothing was returned."
                )
            if not response.has_header("Cache-Control"):
                response["Cache-Control"] = "no-store"
            if request.method == "HEAD":
                # As GET would answer, without the body (the length says what it would be).
                response["Content-Length"] = str(len(response.content))
                response.content = b""
            return response

        return csrf_exempt(wrapped)

    return decorator
