"""PostgreSQL data services: a database owned by a NOLOGIN owner role, and two LOGIN roles that
are members of it and alternate on rotation (SPEC §13, §14).

The admin role needs CREATEDB and CREATEROLE, not SUPERUSER. It makes itself a member of the
roles it creates: of the owner to create, copy and drop the database, of the logins to end
their sessions. Passwords reach the server as SCRAM-SHA-256 verifiers, never in clear, so a
statement in the server's log holds no password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import errors, sql

from .core import DataServerError, Health, ServerURL, derived_base, new_password, parse_url, step

DEFAULT_CONNECTION_LIMIT = 20
SCHEMES = ("postgres", "postgresql")
Which = Literal["a", "b"]

# The longest suffix added to a service's base name ("_copying"), within PostgreSQL's
# 63-byte identifier limit.
_BASE_LIMIT = 63 - len("_copying")


@dataclass(frozen=True)
class Names:
    """The names of one service's objects on the server."""

    database: str
    owner: str
    login_a: str
    login_b: str

    @classmethod
    def for_service(cls, service_key: str, *, prefix: str = "miosa") -> Names:
        base = derived_base(prefix, service_key, limit=_BASE_LIMIT)
        return cls(database=base, owner=f"{base}_owner", login_a=f"{base}_a", login_b=f"{base}_b")

    @property
    def copying(self) -> str:
        """The database a copy is made in, renamed to `database` once complete."""
        return f"{self.database}_copying"

    def login(self, which: Which) -> str:
        return {"a": self.login_a, "b": self.login_b}[which]


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802, 7677). `password` is
    ASCII here (ours are URL-safe), so SASLprep leaves it unchanged."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


# Connections and URLs


def _parse(admin_url: str) -> ServerURL:
    return parse_url(admin_url, schemes=SCHEMES)


@contextmanager
def _connect(admin: ServerURL, database: str | None = None) -> Iterator[psycopg.Connection]:
    with step("connect"):
        conn = psycopg.connect(
            host=admin.host,
            port=admin.port,
            user=admin.user or None,
            password=admin.password or None,
            dbname=database or admin.path or "postgres",
            sslmode=admin.query.get("sslmode", "prefer"),
            connect_timeout=10,
            application_name="miosa-dataservers",
            autocommit=True,
        )
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def _connect_locked(admin: ServerURL, names: Names) -> Iterator[psycopg.Connection]:
    """An admin connection holding the service's advisory lock: two workers running steps of
    the same service take turns (the catalogs' unique indexes would fail one of them)."""
    key = int.from_bytes(hashlib.sha256(names.database.encode()).digest()[:8], "big", signed=True)
    with _connect(admin) as conn:
        with step("lock"):
            conn.execute("SELECT pg_advisory_lock(%s)", [key])
        yield conn


def service_url(admin_url: str, names: Names, which: Which, password: str) -> str:
    """The URL a login connects with: postgres://USER:PASSWORD@HOST:PORT/DB."""
    admin = _parse(admin_url)
    query = {k: v for k, v in admin.query.items() if k == "sslmode"}
    return ServerURL(
        scheme="postgres",
        host=admin.host,
        port=admin.port,
        user=names.login(which),
        password=password,
        path=names.database,
        query=query,
    ).build()


def _exists(conn: psycopg.Connection, catalog: Literal["role", "database"], name: str) -> bool:
    query = {
        "role": "SELECT 1 FROM pg_roles WHERE rolname = %s",
        "database": "SELECT 1 FROM pg_database WHERE datname = %s",
    }[catalog]
    return conn.execute(query, [name]).fetchone() is not None


def _q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


# Health


def check(admin_url: str) -> Health:
    """Connect, return the server version; refuse an admin role without CREATEDB and CREATEROLE."""
    admin = _parse(admin_url)
    with _connect(admin) as conn, step("check"):
        version, is_super, createdb, createrole = conn.execute(
            "SELECT current_setting('server_version'), rolsuper, rolcreatedb, rolcreaterole"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    missing = [p for p, has in (("CREATEDB", createdb), ("CREATEROLE", createrole)) if not has]
    if missing and not is_super:
        raise DataServerError(
            "check", "InsufficientPrivilege", f"the admin role lacks {' and '.join(missing)}"
        )
    return Health(version=version)


# Provisioning


def provision(
    admin_url: str,
    names: Names,
    password: str,
    *,
    connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    copy_from: Names | None = None,
) -> str:
    """Create (or complete) the service and return login `_a`'s URL. Idempotent: a retry with
    the same password creates nothing twice and returns the same URL, so generate the password
    once and keep it before the first attempt. `copy_from`: the database starts as a copy of
    that service's (see `copy`). Once the service is ready, use the rotation functions instead:
    provisioning again resets login `_b` to NOLOGIN."""
    admin = _parse(admin_url)
    with _connect_locked(admin, names) as conn:
        _ensure_owner(conn, names)
        if copy_from is not None:
            _copy(conn, admin, copy_from, names)
        with step("create_database"):
            if not _exists(conn, "database", names.database):
                with suppress(errors.DuplicateDatabase):  # another worker ran this step
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            _q(names.database), _q(names.owner)
                        )
                    )
        _restrict_connect(conn, names.database, names)
        with step("create_logins"):
            for which in ("a", "b"):
                _ensure_login(
                    conn,
                    names,
                    which,
                    password if which == "a" else None,
                    connection_limit=connection_limit,
                )
    return service_url(admin_url, names, "a", password)


def _ensure_owner(conn: psycopg.Connection, names: Names) -> None:
    with step("create_owner"):
        if not _exists(conn, "role", names.owner):
            with suppress(errors.DuplicateObject):
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                        " NOREPLICATION NOBYPASSRLS"
                    ).format(_q(names.owner))
                )
        # Membership lets the admin create the database OWNER it, copy into it and drop it.
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(_q(names.owner)))


def _restrict_connect(conn: psycopg.Connection, database: str, names: Names) -> None:
    with step("grant_connect"):
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(_q(database)))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                _q(database), _q(names.owner)
            )
        )


def _ensure_login(
    conn: psycopg.Connection,
    names: Names,
    which: Which,
    password: str | None,
    *,
    connection_limit: int,
) -> None:
    """Login role `which` with LOGIN and `password`, or NOLOGIN without one when it is None."""
    role = names.login(which)
    # SUPERUSER, REPLICATION and BYPASSRLS are off when created; naming them in ALTER ROLE is
    # for superusers only (and a CREATEROLE admin cannot turn them on).
    attributes = sql.SQL(
        "{login} NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT {limit} PASSWORD {password}"
    ).format(
        login=sql.SQL("LOGIN" if password is not None else "NOLOGIN"),
        limit=sql.Literal(int(connection_limit)),
        password=sql.Literal(scram_verifier(password) if password is not None else None),
    )
    created = False
    if not _exists(conn, "role", role):
        try:
            conn.execute(
                sql.SQL("CREATE ROLE {} NOSUPERUSER NOREPLICATION NOBYPASSRLS ").format(_q(role))
                + attributes
            )
            created = True
        except errors.DuplicateObject:
            pass
    if not created:
        conn.execute(sql.SQL("ALTER ROLE {} ").format(_q(role)) + attributes)
    conn.execute(sql.SQL("GRANT {} TO {}").format(_q(names.owner), _q(role)))
    # Whatever either login creates is owned by the owner, so the other keeps full access.
    conn.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(_q(role), _q(names.owner)))
    # Membership lets the admin end the login's sessions (pg_terminate_backend).
    conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(_q(role)))


# Rotation primitives


def enable_login(
    admin_url: str,
    names: Names,
    which: Which,
    password: str,
    *,
    connection_limit: int = DEFAULT_CONNECTION_LIMIT,
) -> str:
    """Give login `which` LOGIN and `password`; return its URL. Idempotent."""
    admin = _parse(admin_url)
    with _connect_locked(admin, names) as conn, step("enable_login"):
        _ensure_login(conn, names, which, password, connection_limit=connection_limit)
    return service_url(admin_url, names, which, password)


def disable_login(admin_url: str, names: Names, which: Which, *, end_sessions: bool = True) -> int:
    """NOLOGIN and a new random password for login `which`, then end its sessions (waiting
    for them to drain first is the caller's business: `end_sessions=False` leaves them, for
    `terminate_sessions` later). Returns how many sessions were ended."""
    admin = _parse(admin_url)
    role = names.login(which)
    with _connect_locked(admin, names) as conn, step("disable_login"):
        if not _exists(conn, "role", role):
            return 0
        conn.execute(
            sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD {}").format(
                _q(role), sql.Literal(scram_verifier(new_password()))
            )
        )
        return _terminate(conn, role) if end_sessions else 0


def terminate_sessions(admin_url: str, names: Names, which: Which) -> int:
    """End the sessions of login `which` (after a revocation's drain). Idempotent."""
    admin = _parse(admin_url)
    with _connect(admin) as conn, step("terminate_sessions"):
        return _terminate(conn, names.login(which))


def _terminate(conn: psycopg.Connection, role: str) -> int:
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE usename = %s AND pid <> pg_backend_pid()",
        [role],
    ).fetchall()
    return sum(1 for (ended,) in rows if ended)


# Copies


def copy(admin_url: str, source: Names, target: Names) -> Literal["template", "dump", "exists"]:
    """Make `target`'s database a copy of `source`'s (schema and data), owned by `target`'s
    owner and carrying none of `source`'s roles. The copy is made under a temporary name and
    renamed when complete, so a retry after a crash starts over and a retry after success does
    nothing ("exists"). `CREATE DATABASE … TEMPLATE` when nobody is connected to the source
    ("template"); otherwise, or when the source holds objects of kinds not re-owned here,
    `pg_dump | pg_restore` ("dump"). The source is only read. A target database that already
    exists is taken for the finished copy: copy before provisioning (or through
    `provision(copy_from=…)`), never after."""
    admin = _parse(admin_url)
    with _connect_locked(admin, target) as conn:
        return _copy(conn, admin, source, target)


def _copy(
    conn: psycopg.Connection, admin: ServerURL, source: Names, target: Names
) -> Literal["template", "dump", "exists"]:
    _ensure_owner(conn, target)
    with step("copy"):
        if _exists(conn, "database", target.database):
            return "exists"
        _drop_database(conn, target.copying)
        # CREATE DATABASE waits 5 s for a template's sessions to end before it gives up;
        # don't wait when there are some (one may still connect in between: then it fails).
        in_use = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [source.database]
        ).fetchone()[0]
        method: Literal["template", "dump"] = "dump" if in_use else "template"
        if method == "template":
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                        _q(target.copying), _q(source.database), _q(target.owner)
                    )
                )
            except errors.ObjectInUse:
                method = "dump"
        if method == "template":
            try:
                reowned = _reown(admin, source, target)
            except Exception:
                # Left behind, the copy's objects would keep the source's roles from
                # being dropped.
                _drop_database(conn, target.copying)
                raise
            if not reowned:
                _drop_database(conn, target.copying)
                method = "dump"
        if method == "dump":
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(_q(target.copying), _q(target.owner))
            )
            _dump_restore(admin, source.database, target)
    _restrict_connect(conn, target.copying, target)
    with step("copy"):
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                _q(target.copying), _q(target.database)
            )
        )
    return method


# Statements that give the target's owner what the source's owner owns in a template copy:
# schemas first (a new owner needs CREATE on the schema), then relations (sequences that belong
# to a column follow their table), routines, free-standing types and large objects.
_REOWN = """
SELECT format('ALTER SCHEMA %%I OWNER TO %%I', nspname, %(new)s::text)
  FROM pg_namespace WHERE nspowner = %(old)s::regrole
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                             WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              c.oid::regclass, %(new)s::text)
  FROM pg_class c
 WHERE c.relowner = %(old)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                      AND c.relkind = 'S')
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE'
                             ELSE 'FUNCTION' END,
              p.oid::regprocedure, %(new)s::text)
  FROM pg_proc p WHERE p.proowner = %(old)s::regrole
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, %(new)s::text)
  FROM pg_type t
 WHERE t.typowner = %(old)s::regrole AND t.typtype IN ('d', 'e', 'r', 'c')
   AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
UNION ALL
SELECT format('ALTER LARGE OBJECT %%s OWNER TO %%I', oid, %(new)s::text)
  FROM pg_largeobject_metadata WHERE lomowner = %(old)s::regrole
"""

# Anything in this database still tied to one of the source's roles (an object of another
# kind, a grant, a default privilege, a policy).
_LEFTOVERS = """
SELECT count(*) FROM pg_shdepend
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND refclassid = 'pg_authid'::regclass
   AND refobjid IN (SELECT oid FROM pg_roles WHERE rolname = ANY(%s))
"""


def _reown(admin: ServerURL, source: Names, target: Names) -> bool:
    """Re-own the template copy's objects; False when something of the source's roles remains
    (the caller then copies with pg_dump instead)."""
    with _connect(admin, target.copying) as conn, conn.transaction():
        statements = conn.execute(_REOWN, {"old": source.owner, "new": target.owner}).fetchall()
        for (statement,) in statements:
            conn.execute(statement)
        roles = [source.owner, source.login_a, source.login_b]
        (left,) = conn.execute(_LEFTOVERS, [roles]).fetchone()
    return left == 0


def _dump_restore(admin: ServerURL, source_database: str, target: Names) -> None:
    """pg_dump the source without owners or grants, restore it as the target's owner. The
    credentials go through a password file, never a command line."""
    tools = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    if not all(tools.values()):
        raise DataServerError("copy", "PgDumpMissing", "pg_dump and pg_restore are not installed")
    with tempfile.TemporaryDirectory(prefix="miosa-copy-") as tmp:
        passfile = os.path.join(tmp, "pgpass")
        with open(os.open(passfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            fields = [admin.host, str(admin.port), "*", admin.user, admin.password]
            f.write(":".join(v.replace("\\", "\\\\").replace(":", "\\:") for v in fields) + "\n")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PGHOST": admin.host,
            "PGPORT": str(admin.port),
            "PGUSER": admin.user,
            "PGPASSFILE": passfile,
            "PGSSLMODE": admin.query.get("sslmode", "prefer"),
            "PGCONNECT_TIMEOUT": "10",
        }
        with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as restore_err:
            # Fixed tool paths and arguments; names are our derived ones.
            dump = subprocess.Popen(  # noqa: S603
                [tools["pg_dump"], "--format=custom", "--no-owner", "--no-privileges"],
                env={**env, "PGDATABASE": source_database},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=dump_err,
            )
            restore = subprocess.Popen(  # noqa: S603
                [
                    tools["pg_restore"],
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    f"--role={target.owner}",
                    f"--dbname={target.copying}",
                ],
                env=env,
                stdin=dump.stdout,
                stdout=restore_err,
                stderr=restore_err,
            )
            assert dump.stdout is not None
            dump.stdout.close()  # pg_dump gets SIGPIPE if pg_restore stops early
            restore_code, dump_code = restore.wait(), dump.wait()
    if dump_code:
        raise DataServerError("copy", "PgDumpFailed", f"pg_dump exited {dump_code}")
    if restore_code:
        raise DataServerError("copy", "PgRestoreFailed", f"pg_restore exited {restore_code}")


# Destroy


def destroy(admin_url: str, names: Names) -> None:
    """End the service's sessions, drop its database (and any unfinished copy) and its roles.
    Removes whatever exists, so it is safe on a half-created service and when run twice."""
    admin = _parse(admin_url)
    with _connect_locked(admin, names) as conn, step("destroy"):
        for database in (names.database, names.copying):
            _drop_database(conn, database)
        for role in (names.login_a, names.login_b, names.owner):
            if _exists(conn, "role", role):
                _terminate(conn, role)
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(_q(role)))


def _drop_database(conn: psycopg.Connection, database: str) -> None:
    if _exists(conn, "database", database):
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_q(database)))
