"""Form → service → error: a page's write validates its form, calls one service, and on a
refusal shows the service's message on the form and answers with the refusal's status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from ...errors import ServiceError


def refusal_status(exc: ServiceError) -> int:
    """The status a refused form answers with (htmx is configured to swap these)."""
    return exc.status if exc.status in (400, 409, 413) else 400


def add_service_error(form: forms.Form, exc: ServiceError) -> None:
    """Show a service's refusal next to the field it names, else above the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, forms.ValidationError(exc.message, code=exc.code))


@dataclass(frozen=True)
class Submission[T]:
    """What came of a form: the service's result once written, else the status to answer."""

    status: int
    result: T | None = None

    @property
    def written(self) -> bool:
        return self.status == 200


def submit[T](form: forms.Form, write: Callable[[dict[str, Any]], T]) -> Submission[T]:
    """Validate `form`, then `write(form.cleaned_data)` through a service. An invalid form is a
    400; a service's refusal (ServiceError, Invalid) goes onto the form with its status."""
    if not form.is_valid():
        return Submission(400)
    try:
        return Submission(200, write(form.cleaned_data))
    except ServiceError as exc:
        add_service_error(form, exc)
        return Submission(refusal_status(exc))
