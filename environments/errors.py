"""Errors the services raise. Each carries a snake_case code, a human message (never a value),
an optional field, and the HTTP status the JSON API answers with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404


class ServiceError(Exception):
    status = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class Invalid(ServiceError):
    status = 400
    default_code = "invalid"


class NotFound(ServiceError, Http404):
    """Also an Http404, so a page whose write races a delete (the row went between the view's
    lookup and the service's lock) answers 404, not 500, where the view does not catch it."""

    status = 404
    default_code = "not_found"


class Forbidden(ServiceError):
    status = 403
    default_code = "forbidden"


class Conflict(ServiceError):
    status = 409
    default_code = "conflict"


class TooLarge(ServiceError):
    status = 413
    default_code = "too_large"


class Undecryptable(ServiceError):
    """A stored value cannot be decrypted with the configured keys. `keys` names the affected
    variables and bindings (names only, never a value), when they are known."""

    status = 503
    default_code = "undecryptable"

    def __init__(
        self,
        message: str,
        *,
        keys: list[str] | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.keys = keys or []


def validated(validator: Callable[[Any], Any], value: Any, *, field: str) -> Any:
    """`validator(value)`, a rule's ValidationError raised as the error the services raise and
    the API answers with, naming `field`: TooLarge for a value over a size limit, else Invalid.

    The one adapter from `rules` to errors (the forms keep Django's ValidationError)."""
    try:
        return validator(value)
    except ValidationError as exc:
        code = exc.code or "invalid"
        error = TooLarge if code == "value_too_large" else Invalid
        raise error(exc.messages[0], code=code, field=field) from None
