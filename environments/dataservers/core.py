"""What every kind of data server shares: the one error type, the health result, the parsing
and building of server URLs, passwords and the derived names' building blocks.

No Django imports: the drivers run inside tasks, commands and tests alike.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

# Error classes a retry may cure: the server was unreachable, restarting or overloaded.
_TRANSIENT = frozenset(
    {
        "OperationalError",
        "ConnectionTimeout",
        "ConnectionError",
        "TimeoutError",
        "BusyLoadingError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "AdminShutdown",
        "CannotConnectNow",
        "TooManyConnections",
    }
)


class DataServerError(Exception):
    """A step on a data server failed. The message names the step and the server's error class
    (and, for a few checks, a fixed sentence of ours); it never holds a server's own message,
    a URL or a credential, so it can be stored on the service and shown to its users."""

    def __init__(self, step: str, error_class: str, detail: str = "") -> None:
        self.step = step
        self.error_class = error_class
        self.detail = detail
        self.transient = error_class in _TRANSIENT
        message = f"{step} failed: {error_class}"
        super().__init__(f"{message} ({detail})" if detail else message)


@dataclass(frozen=True)
class Health:
    version: str


def error_class(exc: BaseException) -> str:
    """The server's name for what went wrong: an S3/IAM error code, a PostgreSQL error class
    (with its SQLSTATE), otherwise the exception's class name. Never the exception's text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and re.fullmatch(r"[A-Za-z0-9.]{1,64}", code):
            return code
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and re.fullmatch(r"[0-9A-Z]{5}", sqlstate):
        return f"{type(exc).__name__} {sqlstate}"
    return type(exc).__name__


@contextmanager
def step(name: str) -> Iterator[None]:
    """Run a step; any failure leaves as DataServerError(name, class). `from None`: the original
    exception's text (which may echo a host, a user or a statement) is not chained."""
    try:
        yield
    except DataServerError:
        raise
    except Exception as exc:
        raise DataServerError(name, error_class(exc)) from None


# Server URLs


@dataclass(frozen=True)
class ServerURL:
    """A parsed server URL; `password` stays out of repr()."""

    scheme: str
    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)
    path: str = ""  # without the leading slash: a database, a Redis db number, a bucket
    query: dict[str, str] = field(default_factory=dict)

    def build(self) -> str:
        return build_url(self)


_DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]")


def parse_url(url: str, *, schemes: tuple[str, ...]) -> ServerURL:
    """Parse a server URL, refusing ambiguous ones. Errors name what is wrong, never the URL."""

    def refuse(detail: str) -> DataServerError:
        return DataServerError("parse_url", "InvalidURL", detail)

    if not isinstance(url, str) or any(c.isspace() for c in url) or "#" in url:
        raise refuse("the URL holds whitespace or a fragment")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes:
        raise refuse(f"the scheme must be one of {', '.join(schemes)}")
    authority_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    # An unencoded "@", "/" or "?" in a password makes the split a guess: refuse it.
    if authority.count("@") > 1 or "@" in tail:
        raise refuse("an '@', '/' or '?' in a user or password must be percent-encoded")
    parts = urlsplit(f"{scheme.lower()}://{rest}")
    userinfo = authority.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    host = parts.hostname or ""
    if not (_HOST.fullmatch(host) or (":" in host and _HOST.fullmatch(f"[{host}]"))):
        raise refuse("the host is missing or not a host name")
    try:
        port = parts.port
    except ValueError:
        raise refuse("the port is not a number from 1 to 65535") from None
    if port is None:
        if scheme.lower() == "s3":
            query = _query(parts.query)
            port = 80 if query.get("secure") == "false" else 443
        else:
            port = _DEFAULT_PORTS[scheme.lower()]
    path = unquote(parts.path.lstrip("/"))
    return ServerURL(
        scheme=scheme.lower(),
        host=host,
        port=port,
        user=unquote(user),
        password=unquote(password),
        path=path,
        query=_query(parts.query),
    )


def _query(query: str) -> dict[str, str]:
    pairs = [p.partition("=") for p in query.split("&") if p]
    return {unquote(k): unquote(v) for k, _, v in pairs}


def build_url(url: ServerURL) -> str:
    host = url.host if ":" not in url.host else f"[{url.host}]"
    userinfo = ""
    if url.user or url.password:
        userinfo = quote(url.user, safe="")
        if url.password:
            userinfo += ":" + quote(url.password, safe="")
        userinfo += "@"
    text = f"{url.scheme}://{userinfo}{host}:{url.port}"
    if url.path:
        text += "/" + quote(url.path, safe="")
    if url.query:
        pairs = (f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in url.query.items())
        text += "?" + "&".join(pairs)
    return text


def new_password() -> str:
    """A password for a service credential: URL-safe, so it never needs encoding."""
    return secrets.token_urlsafe(32)


# Derived names

_KEY = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)*")


def derived_base(prefix: str, service_key: str, *, limit: int, sep: str = "_") -> str:
    """`<prefix><sep><service key>`, both checked (lower-case letters, digits, '_' and '-':
    they come from our own ids and slugs, never from raw user input), shortened with a hash
    when longer than `limit` so that distinct keys still give distinct names."""
    for what, value in (("prefix", prefix), ("service key", service_key)):
        if not _KEY.fullmatch(value):
            raise ValueError(f"a {what} is lower-case letters and digits joined by '_' or '-'")
    base = f"{prefix}{sep}{service_key}"
    if len(base) <= limit:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: limit - 9]}{sep}{digest}"
