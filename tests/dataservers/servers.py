"""Real servers for the data server drivers: PostgreSQL and Redis on this machine, moto's S3
and IAM server on a loopback port. A plugin, named by `pytest_plugins` in the modules that use
it (here and tests/test_data_services*.py), so that one session starts each server once.
Everything made here carries the run's prefix (so parallel runs do not meet) and is removed at
the end even when a test failed.

PostgreSQL and Redis are reached as their superuser / default user only to set up a least
privileged admin and to sweep up afterwards; the drivers under test use that admin."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterator

import boto3
import psycopg
import pytest
import redis as redis_py
from botocore.config import Config
from psycopg import sql

from environments.dataservers import bucket, postgres, redis
from environments.dataservers.core import ServerURL

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# In every admin URL, so any message that carries a URL or a password shows it.
CANARY = "canary-9d1e-never-in-a-message"


@pytest.fixture(scope="session")
def run() -> str:
    """This run's prefix: lower-case letters and digits, '_' between them."""
    return f"miosa_t_{secrets.token_hex(3)}"


def superuser_pg(database: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname=database, autocommit=True
    )


def pg_url(user: str, password: str, database: str = "postgres") -> str:
    return f"postgres://{user}:{password}@{PG_HOST}:{PG_PORT}/{database}"


def _sweep_pg(prefix: str) -> None:
    with superuser_pg() as conn:
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix]
        ).fetchall():
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        roles = [
            name
            for (name,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)"
                " ORDER BY rolname LIKE '%%admin' , rolname",
                [prefix],
            ).fetchall()
        ]
        for name in roles:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [name],
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_run(run: str) -> Iterator[str]:
    """The run's prefix; every database and role starting with it is dropped at the end."""
    try:
        yield run
    finally:
        _sweep_pg(run)


@pytest.fixture(scope="session")
def pg_admin(pg_run: str) -> str:
    """The admin URL of a role with CREATEDB and CREATEROLE and nothing more."""
    role = f"{pg_run}_admin"
    with superuser_pg() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER CREATEDB CREATEROLE").format(
                sql.Identifier(role)
            )
        )
    return pg_url(role, CANARY)


@pytest.fixture
def pg_names(pg_run: str, pg_admin: str) -> Iterator[Callable[[], postgres.Names]]:
    """pg_names() -> the names of a new service, destroyed after the test."""
    made: list[postgres.Names] = []

    def make() -> postgres.Names:
        names = postgres.Names.for_service(secrets.token_hex(4), prefix=pg_run)
        made.append(names)
        return names

    yield make
    # Copies first: a copy in progress holds objects of its source's roles.
    for names in reversed(made):
        postgres.destroy(pg_admin, names)


def connect_as(url: str) -> psycopg.Connection:
    """Connect with a service URL (trust authentication here: the password is not checked,
    LOGIN/NOLOGIN and CONNECT are)."""
    return psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True)


# Redis


def default_redis() -> redis_py.Redis:
    return redis_py.Redis(host=REDIS_HOST, port=REDIS_PORT, decode_responses=True)


@pytest.fixture(scope="session")
def dashed_run(run: str) -> str:
    """The run's prefix with '-' for '_' (Redis users, buckets, IAM users)."""
    return run.replace("_", "-")


@pytest.fixture(scope="session")
def redis_prefix(run: str, dashed_run: str) -> Iterator[str]:
    """The run's prefix; every ACL user (with '-' or '_') and key starting with it is removed at
    the end."""
    try:
        yield dashed_run
    finally:
        client = default_redis()
        for name in client.acl_users():
            if name.startswith((dashed_run, run)):
                client.acl_deluser(name)
        for key in client.scan_iter(match=f"{dashed_run}*", count=1000):
            client.unlink(key)
        client.close()


@pytest.fixture(scope="session")
def redis_admin(redis_prefix: str) -> str:
    """The admin URL of an ACL user of this run's own (all keys and commands)."""
    user = f"{redis_prefix}-admin"
    default_redis().execute_command("ACL", "SETUSER", user, "on", f">{CANARY}", "~*", "&*", "+@all")
    return f"redis://{user}:{CANARY}@{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def redis_names(redis_prefix: str, redis_admin: str) -> Iterator[Callable[..., redis.Names]]:
    """redis_names(environment="staging") -> names of a new service whose keys are
    `<run>-shop:<environment>:*`, destroyed after the test."""
    made: list[redis.Names] = []

    def make(environment: str = "staging") -> redis.Names:
        key = secrets.token_hex(4)
        names = redis.Names.for_service(
            key, key_prefix=f"{redis_prefix}-shop:{environment}:", prefix=redis_prefix
        )
        made.append(names)
        return names

    yield make
    for names in made:
        redis.destroy(redis_admin, names)


# Buckets: moto's server, with IAM enforced once the admin user exists


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"{host}:{port}"
    finally:
        _set_moto_auth(f"{host}:{port}", "inf")
        server.stop()


def _set_moto_auth(endpoint: str, count: str) -> None:
    """After `count` more requests, moto checks signatures and IAM policies (its
    INITIAL_NO_AUTH_ACTION_COUNT, set through its /moto-api/reset-auth)."""
    import urllib.request

    request = urllib.request.Request(
        f"http://{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


_SESSION = boto3.session.Session()


@functools.cache
def moto_client(service: str, endpoint: str, key: str, secret: str):
    return _SESSION.client(
        service,
        endpoint_url=f"http://{endpoint}",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def _moto_user(iam, name: str, policy: dict) -> tuple[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.fixture(scope="session")
def moto_keys(moto_endpoint: str, dashed_run: str) -> dict[str, tuple[str, str]]:
    """IAM users made before enforcement starts: an admin allowed everything, and one allowed
    S3 alone (for the health check's refusal)."""
    iam = moto_client("iam", moto_endpoint, "bootstrap", "bootstrap")
    keys = {
        "admin": _moto_user(iam, f"{dashed_run}-admin", ALLOW_ALL),
        "s3_only": _moto_user(
            iam,
            f"{dashed_run}-s3-only",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            },
        ),
    }
    _set_moto_auth(moto_endpoint, "0")
    return keys


def s3_url(endpoint: str, key: str, secret: str) -> str:
    host, port = endpoint.split(":")
    return ServerURL(
        scheme="s3", host=host, port=int(port), user=key, password=secret, query={"secure": "false"}
    ).build()


@pytest.fixture(scope="session")
def bucket_admin(moto_endpoint: str, moto_keys: dict[str, tuple[str, str]]) -> str:
    return s3_url(moto_endpoint, *moto_keys["admin"])


@pytest.fixture
def bucket_names(dashed_run: str, bucket_admin: str) -> Iterator[Callable[[], bucket.Names]]:
    made: list[bucket.Names] = []

    def make() -> bucket.Names:
        names = bucket.Names.for_service(secrets.token_hex(4), prefix=dashed_run)
        made.append(names)
        return names

    yield make
    for names in made:
        bucket.destroy(bucket_admin, names)
