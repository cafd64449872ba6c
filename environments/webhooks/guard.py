"""Where a webhook may be sent (SPEC §17): an https:// URL whose host resolves only to public
addresses. Checked when an endpoint is saved and again before every attempt (a name can be
pointed elsewhere after it was saved), and the attempt connects to the address that was checked,
never resolving the name a second time (DNS rebinding).

Loopback, private (RFC 1918, unique local), link-local (cloud metadata, 169.254.169.254),
carrier-grade NAT, reserved, unspecified and multicast addresses are refused unless
WEBHOOK_ALLOW_PRIVATE is true (tests, local development); plain http:// only with
WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOW_HTTP.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from ..models.webhooks import WebhookEndpoint


class Refused(Exception):
    """The URL may not be used: `code` (invalid_url, private_address, unresolvable) and a
    message that names the host, never what the URL's path or query hold."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, send `Host: host` (and SNI, for https)."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    address: str


def _allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))


def _allow_http() -> bool:
    return _allow_private() or bool(getattr(settings, "WEBHOOK_ALLOW_HTTP", False))


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a URL a webhook may be given, or Refused(invalid_url)."""
    if not isinstance(url, str) or not url or len(url) > WebhookEndpoint.MAX_URL:
        raise Refused(
            "invalid_url", f"Give an https:// URL of at most {WebhookEndpoint.MAX_URL} characters."
        )
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise Refused("invalid_url", "A URL has no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("invalid_url", "That is not a URL.") from None
    scheme = parts.scheme.lower()
    if scheme == "http" and not _allow_http():
        raise Refused("invalid_url", "Webhooks are sent over https:// only.")
    if scheme not in ("https", "http"):
        raise Refused("invalid_url", "Give an https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise Refused("invalid_url", "Put no user name or password in a webhook URL.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("invalid_url", "The URL has no host.")
    if parts.fragment:
        raise Refused("invalid_url", "A webhook URL has no #fragment.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not a public unicast address (IPv4-mapped IPv6 addresses are judged as IPv4)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return not address.is_global or address.is_multicast or address.is_unspecified


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused("unresolvable", f"{host[:100]} does not resolve.") from None
    addresses = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise Refused("unresolvable", f"{host[:100]} does not resolve.")
    return addresses


def check(url: str) -> Target:
    """The URL checked now: every address its host resolves to must be public (unless
    private ones are allowed). Refused otherwise."""
    scheme, host, port, path = parse(url)
    addresses = resolve(host, port)
    _refuse_private(host, addresses)
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def check_to_save(url: str) -> None:
    """`check` for an endpoint being saved, except that a name not in DNS yet is accepted:
    every delivery checks again, and refuses it then."""
    _, host, port, _ = parse(url)
    try:
        addresses = resolve(host, port)
    except Refused:
        return
    _refuse_private(host, addresses)


def _refuse_private(host: str, addresses: list[str]) -> None:
    if _allow_private():
        return
    for address in addresses:
        if blocked(ipaddress.ip_address(address.split("%", 1)[0])):
            raise Refused(
                "private_address",
                f"{host[:100]} resolves to {address}, a loopback, private, link-local or "
                "otherwise non-public address; webhooks are sent to public addresses only.",
            )
