"""Who acts: the actor a service records in the audit trail, and what a request says about it
(its client's address, the text it sends, made printable)."""

from __future__ import annotations

import functools
import ipaddress
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (through the browser or an API token), a runtime token, or the system."""

    user: AbstractBaseUser | None
    label: str
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, *, token_name: str = "") -> Actor:
        user = (
            request.user
            if getattr(request, "user", None) and request.user.is_authenticated
            else None
        )
        label = user.get_username() if user else "anonymous"
        if token_name:
            label = f"{label} (token {token_name})" if user else f"token {token_name}"
        return cls(
            user=user,
            label=printable(label)[:200],
            ip=client_ip(request),
            user_agent=printable(request.META.get("HTTP_USER_AGENT") or "")[:300],
        )

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(user=None, label=label)


def printable(text: str) -> str:
    """`text` without control characters (C0, DEL, C1) or format characters (bidi overrides…).
    A header may carry them; PostgreSQL refuses a NUL in a text column, and the others garble
    or disguise what the audit log shows."""
    if text.isprintable():  # no Cc or Cf character in it (nor any other unprintable one)
        return text
    return "".join(c for c in text if unicodedata.category(c) not in {"Cc", "Cf"})


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. Behind TRUSTED_PROXY_HOPS proxies (load balancers) that each
    append to X-Forwarded-For, it is the entry the outermost trusted proxy appended; anything
    left of it was written by the client and cannot be trusted."""
    hops = settings.TRUSTED_PROXY_HOPS
    address = request.META.get("REMOTE_ADDR") or None
    if hops > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    return _normal_ip(address) if address else None


@functools.lru_cache(maxsize=4096)
def _normal_ip(address: str) -> str | None:
    """An address as ipaddress writes it, or None if it is not one (kept: a fleet's instances
    come from a bounded set of addresses, and the runtime fetch asks for each at every boot)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
