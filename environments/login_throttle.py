"""Login throttling (SPEC §12), by django-axes with its database handler, so that the count and
the lock hold across app servers.

Two limits apply at once: LOGIN_FAILURE_LIMIT_PER_USERNAME_AND_IP failures for one username from
one address, or LOGIN_FAILURE_LIMIT_PER_IP from one address whatever the usernames, within
AXES_COOLOFF_TIME. Axes counts each group of AXES_LOCKOUT_PARAMETERS
(`[["username", "ip_address"], "ip_address"]`) but compares the greatest count with a single
AXES_FAILURE_LIMIT; its maintainers point at a handler of one's own for limits that differ
(jazzband/django-axes#661). This one changes how failures are counted and nothing else.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.shortcuts import render
from django.utils import timezone

from .actors import printable

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

USERNAME_MAX = 150  # Django's usernames; axes stores at most 255 characters


def attempted_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """The username typed, as counted, stored and audited: without control or format characters
    and at most USERNAME_MAX characters. (The login forms do not bound its length, and a longer
    one would not fit axes' column: PostgreSQL refuses it, and the login would fail with a 500.)
    AXES_USERNAME_CALLABLE."""
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "POST", {}).get("username")
    return None if username is None else printable(str(username))[:USERNAME_MAX]


class LoginThrottleHandler(AxesDatabaseHandler):
    def _limited_attempts(
        self, request: HttpRequest, credentials: dict | None
    ) -> list[tuple[QuerySet, int]]:
        """(recent attempts, limit) for the username and address pair, then for the address."""
        pair, address = self.get_user_attempts(request, credentials)
        return [
            (pair, settings.LOGIN_FAILURE_LIMIT_PER_USERNAME_AND_IP),
            (address, settings.LOGIN_FAILURE_LIMIT_PER_IP),
        ]

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """The address's recent failures, or AXES_FAILURE_LIMIT (the per-address limit) once
        the pair has reached its own, lower limit: axes locks when this reaches that limit."""
        (pair, pair_limit), (address, _) = self._limited_attempts(request, credentials)
        address_failures = _failures(address)
        if address_failures >= settings.AXES_FAILURE_LIMIT:
            _mark_lock(request, ADDRESS_LOCK)
            return address_failures
        if _failures(pair) >= pair_limit:
            _mark_lock(request, USERNAME_LOCK)
            return settings.AXES_FAILURE_LIMIT
        return address_failures

    def locked_until(self, request: HttpRequest, credentials: dict | None = None) -> datetime:
        """When the lock on this request lifts: the end of the cool-off of the newest failures
        that reach a limit (older failures age out first). Now, if no lock holds."""
        cool_off = get_cool_off(request)
        until = timezone.now()
        for attempts, limit in self._limited_attempts(request, credentials):
            counted = 0
            rows = attempts.order_by("-attempt_time").values_list(
                "attempt_time", "failures_since_start"
            )
            for attempt_time, failures in rows:
                counted += failures
                if counted >= limit:
                    until = max(until, attempt_time + cool_off)
                    break
        return until


ADDRESS_LOCK = "address"  # every username from the address
USERNAME_LOCK = "username"  # this username from the address


def _mark_lock(request: HttpRequest | None, scope: str) -> None:
    """Which lock the request met, for its audit event (auth_audit: a locked address's
    attempts are one event whatever the usernames)."""
    if request is not None:
        request.miosa_login_lock = scope  # type: ignore[attr-defined]


def locked_by(request: HttpRequest | None) -> str:
    """ADDRESS_LOCK or USERNAME_LOCK, once `get_failures` found the request locked."""
    return getattr(request, "miosa_login_lock", USERNAME_LOCK)


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The page a locked login gets (the web login's and the admin's): 429, with the time left.
    AXES_LOCKOUT_CALLABLE; `credentials` hold the password typed, so none of them reaches the
    page."""
    seconds = (
        LoginThrottleHandler().locked_until(request, credentials) - timezone.now()
    ).total_seconds()
    minutes = max(1, math.ceil(seconds / 60))
    response = render(
        request,
        "registration/locked.html",
        {"minutes": minutes, "login_url": request.path},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response
