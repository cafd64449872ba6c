"""POST /api/v1/deployments/:id/env: single and batch upserts."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Environment, Variable
from tests.conftest import CANARY
from tests.refuse_audit import refuse_audit_writes
from tests.runtime import runtime_env


def _single(environment="staging", key="API_URL", value="https://api.example.com", **more):
    return {"environment": environment, "key": key, "value": value, **more}


def test_creating_a_variable_is_201_and_lists_it_without_its_value(
    api, deployment, env_url, staging, role_token
):
    response = api.post(env_url, _single(), token=role_token("developer"))
    assert response.status_code == 201
    body = response.json()
    assert body["deployment"] == {"id": deployment.pk, "name": "shop"}
    [row] = body["variables"]
    assert row["key"] == "API_URL" and row["preview"] == "https://…"
    assert row["is_secret"] is False and row["source"] == "env" and "value" not in row
    assert runtime_env(staging)["API_URL"] == "https://api.example.com"
    event = AuditEvent.objects.get(action="variable.create")
    assert event.target == "API_URL" and event.actor_label == "developer-user (token ci)"


def test_replacing_a_variable_is_200(api, env_url, staging, role_token):
    raw = role_token("developer")
    api.post(env_url, _single(value="one"), token=raw)
    response = api.post(env_url, _single(value="two"), token=raw)
    assert response.status_code == 200
    assert response.json()["variables"][0]["preview"] == "two"
    assert runtime_env(staging)["API_URL"] == "two"


def test_a_secret_is_answered_masked(api, env_url, role_token):
    response = api.post(
        env_url, _single(key="TOKEN", value=CANARY, is_secret=True), token=role_token("developer")
    )
    assert response.status_code == 201
    assert response.json()["variables"][0]["preview"] == "••••"
    assert CANARY.encode() not in response.content


def test_a_secret_stays_a_secret_when_is_secret_is_left_out(api, env_url, staging, role_token):
    raw = role_token("developer")
    api.post(env_url, _single(key="TOKEN", value="a", is_secret=True), token=raw)
    response = api.post(env_url, _single(key="TOKEN", value="b"), token=raw)
    assert response.status_code == 200
    assert response.json()["variables"][0] == response.json()["variables"][0] | {
        "is_secret": True,
        "preview": "••••",
    }
    assert Variable.objects.get(key="TOKEN").is_secret


def test_a_secret_cannot_be_turned_plain_409(api, env_url, staging, role_token):
    raw = role_token("developer")
    api.post(env_url, _single(key="TOKEN", value="a", is_secret=True), token=raw)
    response = api.post(env_url, _single(key="TOKEN", value="b", is_secret=False), token=raw)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "secret_cannot_become_plain"
    assert runtime_env(staging)["TOKEN"] == "a"


def test_a_plain_variable_can_become_a_secret(api, env_url, role_token):
    raw = role_token("developer")
    api.post(env_url, _single(key="K", value="a"), token=raw)
    response = api.post(env_url, _single(key="K", value="b", is_secret=True), token=raw)
    assert response.json()["variables"][0]["is_secret"] is True


def test_a_key_of_a_binding_is_a_409(api, env_url, staging, actor, role_token):
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:b@h/db", actor=actor
    )
    response = api.post(env_url, _single(key="DATABASE_URL", value="x"), token=role_token("admin"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "binding_clash"


# Batch -------------------------------------------------------------------------------------


def test_a_batch_is_written_and_answered_200(api, env_url, staging, role_token):
    raw = role_token("developer")
    api.post(env_url, _single(key="OLD", value="x"), token=raw)
    response = api.post(
        env_url,
        {
            "environment": "staging",
            "variables": [
                {"key": "OLD", "value": "y"},
                {"key": "NEW", "value": "z", "is_secret": True},
            ],
        },
        token=raw,
    )
    assert response.status_code == 200
    assert [(r["key"], r["preview"]) for r in response.json()["variables"]] == [
        ("OLD", "y"),
        ("NEW", "••••"),
    ]
    env = runtime_env(staging)
    assert (env["OLD"], env["NEW"]) == ("y", "z")


def test_a_batch_is_all_or_nothing(api, env_url, staging, role_token):
    response = api.post(
        env_url,
        {
            "environment": "staging",
            "variables": [{"key": "GOOD", "value": "1"}, {"key": "MIOSA_X", "value": "2"}],
        },
        token=role_token("developer"),
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "reserved_key",
        "message": response.json()["error"]["message"],
        "field": "variables[1].key",
    }
    assert not Variable.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="variable.").exists()


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ([], "variables"),
        ("KEY=value", "variables"),
        ([["KEY", "value"]], "variables[0]"),
        ([{"key": "A"}], "variables[0].value"),
        ([{"key": "A", "value": 1}], "variables[0].value"),
        ([{"key": "A", "value": "1", "secret": True}], "variables[0].secret"),
        ([{"key": "A", "value": "1"}, {"key": "A", "value": "2"}], "variables[1].key"),
    ],
)
def test_a_bad_batch_names_the_field(api, env_url, role_token, variables, field):
    response = api.post(
        env_url, {"environment": "staging", "variables": variables}, token=role_token("developer")
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


# Validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"key": "A", "value": "v"}, "environment", "required"),
        (_single(environment=7), "environment", "invalid"),
        (_single(environment="Not A Name"), "environment", "invalid_environment_name"),
        ({"environment": "staging", "value": "v"}, "key", "required"),
        (_single(key=None), "key", "invalid"),
        (_single(key="1BAD"), "key", "invalid_key"),
        (_single(key="A-B"), "key", "invalid_key"),
        (_single(key="X" * 257), "key", "invalid_key"),
        (_single(key="MIOSA_VERSION"), "key", "reserved_key"),
        (_single(key="miosa_x"), "key", "reserved_key"),
        (_single(value=None), "value", "invalid"),
        (_single(value=["a"]), "value", "invalid"),
        (_single(value="a\x00b"), "value", "invalid_value"),
        (_single(value="\ud800"), "value", "invalid_value"),
        (_single(is_secret="yes"), "is_secret", "invalid"),
        (_single(is_secret=None), "is_secret", "invalid"),
        (_single(secret=True), "secret", "unknown_field"),
    ],
)
def test_bad_input_is_400_naming_the_field(api, env_url, role_token, body, field, code):
    response = api.post(env_url, body, token=role_token("developer"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code
    assert not Variable.objects.exists()


def test_a_value_over_32_kib_is_413(api, env_url, role_token):
    response = api.post(env_url, _single(value="x" * (32 * 1024 + 1)), token=role_token("admin"))
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "value"


def test_a_value_of_exactly_32_kib_is_accepted(api, env_url, role_token):
    response = api.post(env_url, _single(value="é" * (16 * 1024)), token=role_token("admin"))
    assert response.status_code == 201


def test_more_than_64_kib_per_environment_is_413(api, env_url, role_token):
    raw = role_token("admin")
    for n in range(2):
        api.post(env_url, _single(key=f"BIG_{n}", value="x" * (32 * 1024)), token=raw)
    response = api.post(env_url, _single(key="ONE_MORE", value="x"), token=raw)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "environment_too_large"


def test_more_than_500_keys_per_environment_is_413(api, env_url, role_token):
    raw = role_token("admin")
    batch = [{"key": f"K{n}", "value": ""} for n in range(500)]
    first = api.post(env_url, {"environment": "staging", "variables": batch}, token=raw)
    assert first.status_code == 200
    response = api.post(env_url, _single(key="K500", value=""), token=raw)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_variables"


def test_unicode_values_are_stored_exactly(api, env_url, staging, role_token):
    value = 'żółw 🐢 "quoted" $HOME \\ # = \n line'
    api.post(env_url, _single(value=value), token=role_token("admin"))
    assert runtime_env(staging)["API_URL"] == value


# Body, media type, size --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{", b"{'key': 1}", b"\xff\xfe", b"[" * 100_000, b"NaN", b'{"a": NaN}']
)
def test_malformed_json_is_400(api, env_url, role_token, body):
    response = api.post(env_url, body=body, token=role_token("admin"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"3", b"null"])
def test_a_body_that_is_not_an_object_is_400(api, env_url, role_token, body):
    response = api.post(env_url, body=body, token=role_token("admin"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_body"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json; charset=latin-1",
        "",
    ],
)
def test_a_body_that_is_not_json_is_415(api, env_url, role_token, content_type):
    response = api.request(
        "POST",
        env_url,
        body=b'{"environment": "staging"}',
        content_type=content_type,
        token=role_token("admin"),
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_json_with_a_utf8_charset_is_accepted(api, env_url, role_token):
    response = api.request(
        "POST",
        env_url,
        json=_single(),
        content_type="application/json; charset=UTF-8",
        token=role_token("admin"),
    )
    assert response.status_code == 201


def test_a_body_over_1_mib_is_413(api, env_url, role_token):
    body = b'{"environment": "staging", "key": "A", "value": "' + b"x" * (1024 * 1024) + b'"}'
    response = api.post(env_url, body=body, token=role_token("admin"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_posting_needs_no_csrf_token(env_url, role_token):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        env_url,
        _single(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {role_token('developer')}"},
    )
    assert response.status_code == 201


# Access matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "staging", 404),
        ("viewer", "staging", 403),
        ("viewer", "production", 403),
        ("developer", "staging", 201),
        ("developer", "production", 403),
        ("admin", "staging", 201),
        ("admin", "production", 201),
        ("owner", "staging", 201),
        ("owner", "production", 201),
    ],
)
def test_who_may_write_where(api, env_url, role_token, role, environment, status):
    response = api.post(env_url, _single(environment=environment), token=role_token(role))
    assert response.status_code == status
    assert Variable.objects.exists() == (status == 201)


def test_writing_without_a_token_is_401(api, env_url, deployment):
    assert api.post(env_url, _single()).status_code == 401


def test_an_unknown_environment_is_404(api, env_url, role_token):
    response = api.post(env_url, _single(environment="qa"), token=role_token("admin"))
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "environment"


def test_a_custom_environment_is_written_by_a_developer(
    api, env_url, deployment, actor, role_token
):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    response = api.post(
        env_url, _single(environment="preview/pr-42"), token=role_token("developer")
    )
    assert response.status_code == 201


def test_a_write_fails_closed_when_the_audit_event_cannot_be_written(
    api, env_url, role_token, monkeypatch
):
    raw = role_token("admin")

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    refuse_audit_writes(monkeypatch, refuse)
    response = api.post(env_url, _single(key="TOKEN", value=CANARY, is_secret=True), token=raw)
    assert response.status_code == 500
    assert CANARY.encode() not in response.content
    assert not Variable.objects.exists()


def test_a_write_to_staged_production_says_it_is_pending(api, env_url, live, role_token, served):
    raw = role_token("admin")
    response = api.post(env_url, _single(environment="production"), token=raw)
    assert response.status_code == 201
    assert (response.json()["pending"], response.json()["live_release"]) == (True, 1)
    batch = {"environment": "production", "variables": [{"key": "B", "value": "2"}]}
    response = api.post(env_url, batch, token=raw)
    assert (response.json()["pending"], response.json()["live_release"]) == (True, 1)
    assert "API_URL" not in served(Environment.objects.get(name="production"))["env"]


def test_a_write_to_an_immediate_environment_is_live_in_a_new_release(
    api, env_url, live, role_token
):
    raw = role_token("developer")
    response = api.post(env_url, _single(), token=raw)
    assert (response.json()["pending"], response.json()["live_release"]) == (False, 2)
    batch = {"environment": "staging", "variables": [{"key": "B", "value": "2"}]}
    response = api.post(env_url, batch, token=raw)
    assert (response.json()["pending"], response.json()["live_release"]) == (False, 3)


def test_before_any_deploy_a_write_is_not_pending(api, env_url, role_token):
    response = api.post(env_url, _single(environment="production"), token=role_token("admin"))
    assert (response.json()["pending"], response.json()["live_release"]) == (False, None)
