"""Parsing and building server URLs, the error type, derived names: no server needed."""

from __future__ import annotations

import pytest

from environments.dataservers import DataServerError, bucket, new_password, redis
from environments.dataservers.core import ServerURL, build_url, derived_base, parse_url, step

from .servers import CANARY

pytest_plugins = ["tests.dataservers.servers"]


def test_a_postgres_url_parses_into_its_parts():
    url = parse_url("postgres://app:s3cr%40t@db.internal:6432/shop", schemes=("postgres",))

    assert url == ServerURL(
        scheme="postgres", host="db.internal", port=6432, user="app", password="s3cr@t", path="shop"
    )
    assert "s3cr" not in repr(url)


def test_building_encodes_what_parsing_decodes():
    url = ServerURL(
        scheme="s3",
        host="127.0.0.1",
        port=9000,
        user="AKIA/+x",
        password="pa:ss/w@rd?#",
        path="bucket",
        query={"secure": "false"},
    )

    text = build_url(url)

    assert text == "s3://AKIA%2F%2Bx:pa%3Ass%2Fw%40rd%3F%23@127.0.0.1:9000/bucket?secure=false"
    assert parse_url(text, schemes=("s3",)) == url


def test_default_ports():
    assert parse_url("postgres://h/db", schemes=("postgres",)).port == 5432
    assert parse_url("redis://h", schemes=("redis",)).port == 6379
    assert parse_url("s3://k:s@h", schemes=("s3",)).port == 443
    assert parse_url("s3://k:s@h?secure=false", schemes=("s3",)).port == 80


@pytest.mark.parametrize(
    "url",
    [
        f"postgres://app:{CANARY}@x@db:5432/shop",  # an unencoded @
        f"postgres://app:{CANARY}/x@db:5432/shop",  # an unencoded /
        f"postgres://app:{CANARY}?x@db:5432/shop",  # an unencoded ?
        f"postgres://app:{CANARY}#x@db:5432/shop",  # an unencoded #
        f"postgres://app:{CANARY} x@db:5432/shop",
        f"mysql://app:{CANARY}@db:5432/shop",
        f"postgres://app:{CANARY}@:5432/shop",
        f"postgres://app:{CANARY}@db:99999/shop",
        f"postgres://app:{CANARY}@db:port/shop",
        f"postgres://app:{CANARY}@d_b/shop",
    ],
)
def test_ambiguous_or_broken_urls_are_refused_without_echoing_them(url):
    with pytest.raises(DataServerError) as caught:
        parse_url(url, schemes=("postgres",))

    assert caught.value.step == "parse_url"
    assert CANARY not in str(caught.value)
    assert "db" not in str(caught.value).replace("must be", "")


def test_the_error_message_names_step_and_class():
    error = DataServerError("create_owner", "InsufficientPrivilege 42501")

    assert str(error) == "create_owner failed: InsufficientPrivilege 42501"
    assert not error.transient
    assert DataServerError("connect", "OperationalError").transient


def test_a_step_keeps_the_class_and_drops_the_text():
    with pytest.raises(DataServerError) as caught, step("copy"):
        raise KeyError(f"postgres://u:{CANARY}@h/db")

    assert str(caught.value) == "copy failed: KeyError"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_generated_passwords_are_url_safe_and_distinct():
    passwords = {new_password() for _ in range(50)}

    assert len(passwords) == 50
    for password in passwords:
        assert build_url(ServerURL("redis", "h", 1, "u", password)).endswith(f":{password}@h:1")


def test_derived_names_refuse_anything_but_letters_digits_and_separators():
    for bad in ("", "Shop", "a b", "a;b", "a--b", "_a", "été"):
        with pytest.raises(ValueError):
            derived_base("miosa", bad, limit=55)


def test_bucket_names_are_valid_bucket_names():
    names = bucket.Names.for_service("svc_" + "9" * 80, prefix="miosa_t")

    assert len(names.bucket) <= 63
    assert names.bucket == names.bucket.lower()
    assert "_" not in names.bucket


def test_redis_patterns_escape_glob_characters():
    names = redis.Names.for_service("s1", key_prefix="shop:pr-[1]*?:")

    assert names.pattern == r"shop:pr-\[1\]\*\?:*"
    with pytest.raises(ValueError):
        redis.Names.for_service("s1", key_prefix="shop:two words:")
