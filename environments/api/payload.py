"""Reading a JSON request body: media type, size, syntax, shape. Each failure is an ApiError."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from .errors import ApiError


def _too_large() -> ApiError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return ApiError(
        413, "body_too_large", f"The request body is larger than the limit of {limit} bytes."
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_utf8(request: HttpRequest) -> bool:
    return request.content_params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json" or not is_utf8(request):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with the header Content-Type: application/json.",
        )
    body = read_body(request)
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and bad JSON; RecursionError very deep nesting.
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_body", "The request body must be a JSON object.")
    return parsed


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused with 413 beyond DATA_UPLOAD_MAX_MEMORY_SIZE (declared or sent)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "invalid_content_length", "Content-Length is not a number.") from None
    if declared > limit:
        raise _too_large()
    try:
        body = request.body
    except RequestDataTooBig:
        raise _too_large() from None
    if len(body) > limit:
        raise _too_large()
    return body
