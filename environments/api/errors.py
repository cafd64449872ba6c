"""The API's error answers (the wrapper that turns errors into them is endpoint.api_endpoint).

Every error is `{"error": {"code", "message", "field"?}}` (SPEC §4). Messages are written here
or by the services and never contain a value. An unexpected exception becomes a JSON 500 with
a fixed message: its text is neither returned nor logged (it might quote a value).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

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
