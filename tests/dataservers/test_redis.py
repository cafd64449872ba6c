"""The Redis driver on the real server (Redis 7, ACL), through an ACL user of the run's own.
Each privilege claim of SPEC §13 is tried as the service's user."""

from __future__ import annotations

import hashlib
import time
import traceback

import pytest
import redis as redis_py

from environments.dataservers import DataServerError, new_password, redis

from .servers import CANARY, REDIS_HOST, REDIS_PORT, default_redis

pytest_plugins = ["tests.dataservers.servers"]


def connect_as(url: str) -> redis_py.Redis:
    return redis_py.Redis.from_url(url, decode_responses=True)


def test_check_returns_the_server_version(redis_admin):
    health = redis.check(redis_admin)

    assert health.version == default_redis().info("server")["redis_version"]


def test_check_refuses_an_admin_without_acl(redis_prefix):
    user = f"{redis_prefix}-weak-admin"
    rule = f"on >{CANARY} ~* +@all -acl|setuser -acl|deluser"
    default_redis().execute_command("ACL", "SETUSER", user, *rule.split())

    with pytest.raises(DataServerError) as caught:
        redis.check(f"redis://{user}:{CANARY}@{REDIS_HOST}:{REDIS_PORT}/0")

    assert str(caught.value) == (
        "check failed: NoPermissionError (the admin user may not run ACL SETUSER, ACL DELUSER)"
    )


def test_provision_returns_the_user_url_with_the_exact_rules(redis_admin, redis_names):
    names = redis_names()
    password = new_password()

    url = redis.provision(redis_admin, names, password)

    assert url == f"redis://{names.user}:{password}@{REDIS_HOST}:{REDIS_PORT}/0"
    # The same as a user made with SPEC §13's rule string, as Redis reports both.
    reference = f"{names.user}-reference"
    pattern = names.pattern
    rule = f"on >{password} ~{pattern} &{pattern} +@all -@admin -@dangerous"
    default_redis().execute_command("ACL", "SETUSER", reference, *rule.split())
    assert default_redis().acl_getuser(names.user) == default_redis().acl_getuser(reference)
    assert default_redis().acl_getuser(names.user)["passwords"] == [
        hashlib.sha256(password.encode()).hexdigest()
    ]


def test_the_user_reads_and_writes_its_own_keys_only(redis_admin, redis_names):
    names, other = redis_names("staging"), redis_names("production")
    redis.provision(redis_admin, other, new_password())
    default_redis().set(f"{other.key_prefix}secret", "theirs")
    client = connect_as(redis.provision(redis_admin, names, new_password()))

    client.set(f"{names.key_prefix}counter", 1)
    client.incr(f"{names.key_prefix}counter")
    assert client.get(f"{names.key_prefix}counter") == "2"
    assert client.publish(f"{names.key_prefix}events", "hello") == 0
    for refused in (
        lambda: client.get(f"{other.key_prefix}secret"),
        lambda: client.set(f"{other.key_prefix}secret", "mine now"),
        lambda: client.publish(f"{other.key_prefix}events", "hello"),
        lambda: client.flushall(),
        lambda: client.flushdb(),
        lambda: client.config_get("*"),
        lambda: client.execute_command("ACL", "LIST"),
        lambda: client.execute_command("ACL", "SETUSER", names.user, "allkeys"),
        lambda: client.keys("*"),
    ):
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            refused()
    assert default_redis().get(f"{other.key_prefix}secret") == "theirs"


def test_glob_characters_in_the_key_prefix_match_only_themselves(redis_admin, redis_names):
    names = redis_names("pr[1]*")
    client = connect_as(redis.provision(redis_admin, names, new_password()))
    lookalike = names.key_prefix.replace("pr[1]*", "pr1x")

    client.set(f"{names.key_prefix}k", "v")
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        client.set(f"{lookalike}k", "v")


def test_provision_twice_creates_nothing_twice(redis_admin, redis_names):
    names = redis_names()
    password = new_password()

    first = redis.provision(redis_admin, names, password)
    second = redis.provision(redis_admin, names, password)

    assert first == second
    assert default_redis().acl_users().count(names.user) == 1
    assert len(default_redis().acl_getuser(names.user)["passwords"]) == 1


def test_rotation_adds_a_second_password_then_removes_the_first(redis_admin, redis_names):
    names = redis_names()
    old_password, new = new_password(), new_password()
    old_url = redis.provision(redis_admin, names, old_password)

    new_url = redis.add_password(redis_admin, names, new)

    assert connect_as(old_url).ping() and connect_as(new_url).ping()
    redis.remove_password(redis_admin, names, old_password)
    redis.remove_password(redis_admin, names, old_password)
    with pytest.raises(redis_py.exceptions.AuthenticationError):
        connect_as(old_url).ping()
    client = connect_as(new_url)
    client.set(f"{names.key_prefix}k", "v")
    assert client.get(f"{names.key_prefix}k") == "v"


def test_destroy_removes_the_user_and_its_keys_and_nothing_else(redis_admin, redis_names):
    names, neighbour = redis_names("staging"), redis_names("production")
    client = connect_as(redis.provision(redis_admin, names, new_password()))
    client.mset({f"{names.key_prefix}{i}": i for i in range(2_500)})
    default_redis().set(f"{neighbour.key_prefix}keep", "me")

    removed = redis.destroy(redis_admin, names)

    assert removed == 2_500
    assert names.user not in default_redis().acl_users()
    assert list(default_redis().scan_iter(match=names.pattern)) == []
    assert default_redis().get(f"{neighbour.key_prefix}keep") == "me"
    with pytest.raises(redis_py.exceptions.ConnectionError):
        client.ping()  # its connection was ended with the user
    assert redis.destroy(redis_admin, names) == 0


def test_provision_time(redis_admin, redis_names):
    names = redis_names()
    started = time.perf_counter()
    redis.provision(redis_admin, names, new_password())
    print(f"\nredis provision: {time.perf_counter() - started:.3f} s")


def test_errors_never_hold_the_password(redis_names):
    with pytest.raises(DataServerError) as caught:
        redis.provision(
            f"redis://nobody:{CANARY}@{REDIS_HOST}:{REDIS_PORT}/0", redis_names(), CANARY
        )

    assert str(caught.value) == "connect failed: AuthenticationError"
    assert CANARY not in "".join(traceback.format_exception(caught.value))


def test_a_server_that_is_down_is_a_transient_connect_error(redis_names):
    with pytest.raises(DataServerError) as caught:
        redis.provision(f"redis://admin:{CANARY}@127.0.0.1:1/0", redis_names(), CANARY)

    assert str(caught.value) == "connect failed: ConnectionError"
    assert caught.value.transient
