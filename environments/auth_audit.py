"""Failed and locked logins in the audit log (SPEC §7, §12), from Django's `user_login_failed`
signal, which the web login and the Django admin's login both send.

Refused attempts are recorded with outcome `denied`, deployment None: `auth.login_locked` when
the attempt is answered with the lock page (it met a lock, or its failure set one; the detail's
`lock` says which: `address`, every username from it, or `username`, that one from it), else
`auth.login_failed`. The target is the username as typed (login_throttle.attempted_username:
printable, at most 150 characters); the password typed is never read here.

They are coalesced (`audit.COALESCED`), since anyone may make them at no cost and each would
append to chain 0: the attempts of one address, login page and username (for a locked address,
whatever the username) within a lock window (AXES_COOLOFF_TIME) are one event with a count. An
attempt is counted before the response goes out; if it cannot be, the request fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported first so that axes' own `user_login_failed` receiver is connected before ours, and
# has marked the request (`axes_locked_out`) by the time ours runs.
import axes.signals  # noqa: F401

from . import actors, audit
from .login_throttle import attempted_username, locked_by
from .models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest


def record_failed_login(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = attempted_username(request, credentials) or ""
    locked = bool(getattr(request, "axes_locked_out", False))
    if request is not None:
        actor = actors.Actor.from_request(request)
        detail = {"path": actors.printable(request.path)[:200]}
    else:
        actor, detail = actors.Actor.system("anonymous"), {}
    if locked:
        detail["lock"] = locked_by(request)
    audit.record(
        "auth.login_locked" if locked else "auth.login_failed",
        actor=actor,
        target=username,
        outcome=AuditEvent.Outcome.DENIED,
        detail=detail,
    )
