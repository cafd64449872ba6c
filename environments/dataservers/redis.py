"""Redis data services: one ACL user per service, limited to the keys and channels
`<deployment>:<environment>:*`, without admin or dangerous commands (SPEC §13). Rotation adds a
second password to the same user and later removes the first (SPEC §14).

The admin user needs `ACL SETUSER`/`DELUSER`, and `SCAN` and `UNLINK` on every key to remove a
destroyed service's keys (and `ACL SAVE` when the server keeps its users in an ACL file). Never
FLUSHALL: other services share the server. Passwords reach the server as SHA-256 (`#<hash>`,
which Redis stores the same as `>password`), never in clear.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .core import DataServerError, Health, ServerURL, derived_base, parse_url, step

SCHEMES = ("redis", "rediss")
_GLOB = re.compile(r"([*?\[\]\\])")
_SCAN_BATCH = 1000


@dataclass(frozen=True)
class Names:
    """One service's ACL user and the prefix of its keys and channels, e.g. `shop:staging:`."""

    user: str
    key_prefix: str

    @classmethod
    def for_service(cls, service_key: str, *, key_prefix: str, prefix: str = "miosa") -> Names:
        if not key_prefix or any(c.isspace() or ord(c) < 32 for c in key_prefix):
            raise ValueError("a key prefix is not empty and holds no whitespace")
        user = derived_base(prefix, service_key, limit=128, sep="-")
        return cls(user=user, key_prefix=key_prefix)

    @property
    def pattern(self) -> str:
        """The glob of the service's keys and channels, the prefix's own glob characters escaped."""
        return _GLOB.sub(r"\\\1", self.key_prefix) + "*"


def _parse(admin_url: str) -> ServerURL:
    return parse_url(admin_url, schemes=SCHEMES)


@contextmanager
def _connect(admin: ServerURL) -> Iterator[redis.Redis]:
    with step("connect"):
        client = redis.Redis(
            host=admin.host,
            port=admin.port,
            username=admin.user or None,
            password=admin.password or None,
            db=int(admin.path or 0),
            ssl=admin.scheme == "rediss",
            socket_timeout=10,
            socket_connect_timeout=10,
            decode_responses=True,
            # Fail at once: the task that called us retries transient errors itself.
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()
    try:
        yield client
    finally:
        client.close()


def service_url(admin_url: str, names: Names, password: str) -> str:
    """redis://USER:PASSWORD@HOST:PORT/0 (rediss:// when the admin URL is)."""
    admin = _parse(admin_url)
    return ServerURL(
        scheme=admin.scheme,
        host=admin.host,
        port=admin.port,
        user=names.user,
        password=password,
        path="0",
    ).build()


def _server_version(client: redis.Redis) -> str:
    try:
        hello = client.execute_command("HELLO", "2")
        fields = dict(zip(hello[::2], hello[1::2], strict=True))
        return str(fields["version"])
    except redis.ResponseError:
        return str(client.info("server")["redis_version"])


# Health


def check(admin_url: str) -> Health:
    """Connect, return the server version; refuse an admin user that may not manage ACL users
    or remove keys."""
    admin = _parse(admin_url)
    with _connect(admin) as client, step("check"):
        version = _server_version(client)
        me = client.acl_whoami()
        probes = [
            ("ACL", "SETUSER", "miosa-probe"),
            ("ACL", "DELUSER", "miosa-probe"),
            ("SCAN", "0"),
            ("UNLINK", "miosa-probe:key"),
        ]
        refused = []
        for probe in probes:
            try:
                answer = client.execute_command("ACL", "DRYRUN", me, *probe)
            except redis.exceptions.NoPermissionError:
                refused = ["ACL DRYRUN"]
                break
            if answer != "OK":
                refused.append(" ".join(probe[:2]) if probe[0] == "ACL" else probe[0])
    if refused:
        raise DataServerError(
            "check", "NoPermissionError", f"the admin user may not run {', '.join(refused)}"
        )
    return Health(version=version)


def _persist(client: redis.Redis) -> None:
    """Write the ACL to the server's ACL file, when it has one: otherwise the users made here
    would be gone after a restart. A server without an ACL file keeps users in memory only
    (or in redis.conf through CONFIG REWRITE, which is the operator's business)."""
    try:
        client.execute_command("ACL", "SAVE")
    except redis.ResponseError as exc:
        if "ACL file" not in str(exc):
            raise


# Provisioning


def _rules(names: Names) -> list[str]:
    # Permissions are reset and set again (a retry ends in the same state); passwords are
    # kept, so a retry after a rotation started does not drop the second one.
    return [
        "resetkeys",
        "resetchannels",
        "-@all",
        "on",
        f"~{names.pattern}",
        f"&{names.pattern}",
        "+@all",
        "-@admin",
        "-@dangerous",
    ]


def _hashed(password: str) -> str:
    """What Redis stores of a password: `#<sha256>` sets it without sending it in clear."""
    return hashlib.sha256(password.encode()).hexdigest()


def provision(admin_url: str, names: Names, password: str) -> str:
    """Create (or complete) the ACL user, `on >PASSWORD ~P &P +@all -@admin -@dangerous`
    where P is the key pattern; return its URL. Idempotent."""
    admin = _parse(admin_url)
    with _connect(admin) as client, step("create_user"):
        client.execute_command(
            "ACL", "SETUSER", names.user, *_rules(names), f"#{_hashed(password)}"
        )
        _persist(client)
    return service_url(admin_url, names, password)


# Rotation primitives


def add_password(admin_url: str, names: Names, password: str) -> str:
    """A second password on the same user (the first keeps working); return its URL."""
    admin = _parse(admin_url)
    with _connect(admin) as client, step("add_password"):
        if not client.acl_getuser(names.user):
            raise DataServerError("add_password", "NoSuchUser")
        client.execute_command("ACL", "SETUSER", names.user, f"#{_hashed(password)}")
        _persist(client)
    return service_url(admin_url, names, password)


def remove_password(admin_url: str, names: Names, password: str) -> None:
    """Remove a password: new connections with it are refused. Idempotent. Connections that
    already authenticated with it stay open (Redis cannot tell them from the new password's)."""
    admin = _parse(admin_url)
    with _connect(admin) as client, step("remove_password"):
        user = client.acl_getuser(names.user)
        if user and _hashed(password) in user["passwords"]:
            client.execute_command("ACL", "SETUSER", names.user, f"!{_hashed(password)}")
            _persist(client)


# Destroy


def destroy(admin_url: str, names: Names) -> int:
    """Delete the ACL user (which ends its connections), then its keys, by SCAN and UNLINK on
    its pattern. Returns how many keys were removed. Safe when run twice."""
    admin = _parse(admin_url)
    removed = 0
    with _connect(admin) as client, step("destroy"):
        client.execute_command("ACL", "DELUSER", names.user)
        _persist(client)
        batch: list[str] = []
        for key in client.scan_iter(match=names.pattern, count=_SCAN_BATCH):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                removed += client.unlink(*batch)
                batch = []
        if batch:
            removed += client.unlink(*batch)
    return removed
