from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from environments import rules


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("app.example.com", "app.example.com"),
        ("App.Example.COM", "app.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("staging.shop.example.com.", "staging.shop.example.com"),
        ("a-b.c1.example", "a-b.c1.example"),
        ("x" * 63 + ".example.com", "x" * 63 + ".example.com"),
        ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008, not 2003's strasse.de
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    ],
)
def test_good_hostnames_are_normalised(raw, normalised):
    assert rules.validate_hostname(raw) == normalised


@pytest.mark.parametrize(
    "raw, message",
    [
        ("https://app.example.com/path", "Did you mean app.example.com?"),
        ("app.example.com:8443", "without a port"),
        ("app.example.com/x", "without a scheme, port or path"),
        ("localhost", "at least one dot"),
        ("x" * 64 + ".example.com", "label"),
        ("-app.example.com", "may not start or end with a hyphen"),
        ("app-.example.com", "may not start or end with a hyphen"),
        ("app..example.com", "empty labels"),
        ("app_1.example.com", "letters, digits and hyphens"),
        (("a" * 60 + ".") * 4 + "example.com", "at most 253"),
        ("", "Enter a hostname"),
        ("1.2.3.4", "not an IP address"),
        ("xn--zz.example", "not a valid internationalised domain label"),
    ],
)
def test_bad_hostnames_get_a_clear_error(raw, message):
    with pytest.raises(ValidationError) as excinfo:
        rules.validate_hostname(raw)
    assert message in excinfo.value.messages[0]


@pytest.mark.parametrize(
    "name, host",
    [
        ("production", "shop.io"),
        ("staging", "staging.shop.io"),
        ("preview/pr-42", "preview-pr-42.shop.io"),
        ("qa", "qa.shop.io"),
    ],
)
def test_suggested_hostnames(name, host):
    assert rules.suggested_hostname(name, "shop.io") == host


@pytest.mark.parametrize(
    "url, masked",
    [
        ("postgres://app:pw@db.internal:5432/shop", "postgres://app:••••@db.internal:5432/shop"),
        ("redis://:s3cr3t@cache:6379/0", "redis://:••••@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("postgres://app:p%40ss@db/x?sslmode=require", "postgres://app:••••@db/x?sslmode=require"),
        ("s3://bucket", "s3://bucket"),
        (
            "postgresql://app@db/shop?password=hunter2QS&sslmode=require",
            "postgresql://app@db/shop?password=••••&sslmode=require",
        ),
        (
            "https://b.example.com/o?X-Amz-Credential=AKIA1&X-Amz-Signature=abc123&x=1",
            "https://b.example.com/o?X-Amz-Credential=••••&X-Amz-Signature=••••&x=1",
        ),
        ("redis://h:6379/0?auth_token=t0k3n", "redis://h:6379/0?auth_token=••••"),
        ("postgres://h/d?p%61ssword=hunter2", "postgres://h/d?p%61ssword=••••"),
        ("https://ghp_t0k3n@b.example.com/x", "https://••••@b.example.com/x"),
        ("postgres://app:/S3cretPassw0rd@db.internal:5432/shop", "postgres://••••"),
        ("postgres://app:12?abc@db/x", "postgres://••••"),
    ],
)
def test_mask_url_hides_only_the_password(url, masked):
    assert rules.mask_url(url) == masked


@pytest.mark.parametrize(
    "kind, url, ok",
    [
        ("postgres", "postgres://u:p@h:5432/d", True),
        ("postgres", "postgresql://u:p@h/d", True),
        ("postgres", "mysql://u:p@h/d", False),
        ("postgres", "postgres://u:p@h:99999/d", False),
        ("postgres", "postgres:///d", False),
        ("redis", "rediss://:p@h:6380", True),
        ("redis", "http://h", False),
        ("bucket", "s3://my-bucket", True),
        ("bucket", "https://key:secret@storage.example.com/bucket", True),
        ("bucket", "ftp://h", False),
        ("nosql", "mongodb://h", False),
        ("redis", "redis://h x", False),
        ("postgres", "postgres://app:/S3cretPassw0rd@db.internal:5432/shop", False),
        ("postgres", "postgres://app:123/s3cr3t@db/x", False),
        ("postgres", "postgres://app:S3cr%2Ft@db/x", True),
        # Issue 18: userinfo two parsers read differently (libpq splits at the first '@').
        ("postgres", "postgres://u:p@ss@127.0.0.1:5432/db", False),
        ("postgres", "postgres://u:p%40ss@127.0.0.1:5432/db", True),
        ("postgres", "postgres://u@x:p@h/db", False),
        ("postgres", "postgres://u:p[x]@h/db", False),
        ("postgres", "postgres://u:p%zz@h/db", False),
        ("postgres", "postgres://u:50%@h/db", False),
        ("postgres", "postgres://u:p\\x@h/db", False),
        ("postgres", 'postgres://u:p"x@h/db', False),
        ("postgres", "postgres://u:pä@h/db", False),
        ("postgres", "postgres://u:p%C3%A4@h/db", True),
        ("postgres", "postgres://u:!$&'()*+,;=~._-x@h/db", True),
        ("redis", "redis://:p:w@h", True),
        ("bucket", "https://evil.example\\.storage.example.com/b", False),
        ("postgres", "postgres://u:p@db%2Einternal/x", False),
    ],
)
def test_binding_urls_are_checked_per_kind_without_echoing_the_url(kind, url, ok):
    if ok:
        assert rules.validate_binding_url(kind, url) == url
    else:
        with pytest.raises(ValidationError) as excinfo:
            rules.validate_binding_url(kind, url)
        assert url not in excinfo.value.messages[0]


@pytest.mark.parametrize(
    "value, preview",
    [("short", "short"), ("12345678", "12345678"), ("123456789", "12345678…"), ("", "")],
)
def test_plain_preview(value, preview):
    assert rules.plain_preview(value) == preview


def test_the_binding_kinds_are_listed_once():
    from environments.models import Binding

    constraint = next(c for c in Binding._meta.constraints if c.name == "binding_kind_valid")
    assert constraint.condition.children == [("kind__in", list(rules.BINDING_KINDS))]
    assert Binding._meta.get_field("kind").choices == [
        (name, kind.label) for name, kind in rules.BINDING_KINDS.items()
    ]
    assert Binding.Kind.POSTGRES == "postgres"


def test_an_unknown_binding_kind_names_the_kinds():
    with pytest.raises(ValidationError) as excinfo:
        rules.validate_binding_kind("mysql")
    assert excinfo.value.messages == ["The kind must be postgres, redis or bucket."]
    assert excinfo.value.code == "invalid_binding_kind"
    assert rules.validate_binding_kind("redis") == "redis"


def test_one_adapter_turns_a_rule_refusal_into_a_service_error():
    from environments.errors import Invalid, TooLarge, validated

    with pytest.raises(TooLarge) as excinfo:
        validated(rules.validate_variable_value, "x" * (rules.MAX_VALUE_BYTES + 1), field="value")
    assert (excinfo.value.status, excinfo.value.code, excinfo.value.field) == (
        413,
        "value_too_large",
        "value",
    )
    with pytest.raises(Invalid) as excinfo:
        validated(rules.validate_variable_key, "MIOSA_X", field="variables[2].key")
    assert (excinfo.value.status, excinfo.value.code, excinfo.value.field) == (
        400,
        "reserved_key",
        "variables[2].key",
    )
    assert validated(rules.validate_variable_key, " K ", field="key") == "K"


@pytest.mark.parametrize("name", ["preview/a..b", "preview/pr-1..", "qa/x..y"])
def test_an_environment_name_may_not_contain_two_dots(name):
    with pytest.raises(ValidationError, match=r"'\.\.'"):
        rules.validate_environment_name(name)


def test_a_name_with_single_dots_is_fine():
    assert rules.validate_environment_name("preview/v1.2.3") == "preview/v1.2.3"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@ss@127.0.0.1:5432/db",
        "postgres://u:p/ss@127.0.0.1:5432/db",
        "postgres://u:p[ss]@127.0.0.1:5432/db",
    ],
)
def test_a_password_parsers_read_differently_is_refused_saying_to_percent_encode(url):
    """Issue 18: Python reads host 127.0.0.1 in postgres://u:p@ss@127.0.0.1:5432/db, libpq
    password p and host ss@127.0.0.1."""
    with pytest.raises(ValidationError) as excinfo:
        rules.validate_binding_url("postgres", url)
    message = excinfo.value.messages[0]
    assert excinfo.value.code == "invalid_binding_url"
    assert "percent-encode" in message and "%40" in message
    assert "ss@127" not in message and "p@ss" not in message


@pytest.mark.parametrize("name", ["qa/groups", "preview/protection"])
def test_an_environment_name_may_not_end_in_an_api_subresource(name):
    """…/environments/qa/groups is qa's groups in the API: an environment so named could not
    be deleted there."""
    with pytest.raises(ValidationError, match="may not end in"):
        rules.validate_environment_name(name)


def test_every_subresource_under_an_environments_path_is_reserved():
    from environments.api import urls

    found = {
        str(p.pattern).rsplit("/", 1)[-1]
        for p in urls.urlpatterns
        if "environments/<path:name>/" in str(p.pattern)
    }
    assert found and found <= rules.ENVIRONMENT_SUBRESOURCES
    assert rules.validate_environment_name("groups/qa") == "groups/qa"  # first part: a name
