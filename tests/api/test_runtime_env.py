"""GET /api/v1/runtime/env: what a runtime instance gets at boot."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from environments import services
from environments.api import envfile
from environments.models import AuditEvent, Binding, Variable
from environments.services import VariableInput
from tests.conftest import CANARY
from tests.refuse_audit import refuse_audit_writes
from tests.stored import replace_stored

URL = "/api/v1/runtime/env"
# A fetch's statements once the process keeps the release's ciphertexts: on PostgreSQL the token
# with its release, and the one statement that appends the event (the chain's head exists since
# the deployment was created, so nothing makes sure of it first).
QUERIES = {"postgresql": 2, "sqlite": 7}
PROD_DB = "postgres://app:prod-pw@db-prod.internal:5432/shop"
STAGING_DB = "postgres://app:staging-pw@db-staging.internal:5432/shop"


@pytest.fixture
def shop(deployment, production, staging, actor):
    """The seed's example: two versions, each environment bound to its own Postgres."""
    v1 = services.create_version(deployment=deployment, label="a1", actor=actor)
    v2 = services.create_version(deployment=deployment, label="b2", actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    services.set_variables(
        environment=production,
        items=[
            VariableInput("API_URL", "https://api.example.com"),
            VariableInput("STRIPE_KEY", CANARY, True),
        ],
        actor=actor,
    )
    services.set_variable(
        environment=staging,
        key="API_URL",
        value="https://staging.example.com",
        is_secret=None,
        actor=actor,
    )
    services.create_binding(
        environment=production, kind="postgres", name="db", url=PROD_DB, actor=actor
    )
    services.create_binding(
        environment=staging, kind="postgres", name="db", url=STAGING_DB, actor=actor
    )
    services.set_apex_domain(deployment=deployment, apex="shop.example", actor=actor)
    services.add_domain(environment=production, hostname="www.shop.example", actor=actor)
    # Production stages its config changes (SPEC §9): they go live with an apply.
    services.apply_changes(environment=production, actor=actor)


def test_production_gets_its_raw_environment(api, production, shop, runtime_token):
    response = api.get(URL, token=runtime_token(production))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "deployment": "shop",
        "environment": "production",
        "version": 1,
        # Release 1 deployed v1, release 2 applied revision 5: the variables (2), the binding
        # (3), the apex (4) and www (5).
        "release": 2,
        "config_revision": 5,
        "env": {
            "API_URL": "https://api.example.com",
            "STRIPE_KEY": CANARY,
            "DATABASE_URL": PROD_DB,
            "MIOSA_DEPLOYMENT": "shop",
            "MIOSA_ENVIRONMENT": "production",
            "MIOSA_VERSION": "1",
            "MIOSA_RELEASE": "2",
            "MIOSA_DOMAINS": "shop.example,www.shop.example",
        },
    }


def test_each_environment_gets_its_own_binding_under_the_same_name(
    api, staging, shop, runtime_token
):
    env = api.get(URL, token=runtime_token(staging)).json()["env"]
    assert env["DATABASE_URL"] == STAGING_DB
    assert env["API_URL"] == "https://staging.example.com"
    assert env["MIOSA_VERSION"] == "2"
    assert env["MIOSA_DOMAINS"] == "staging.shop.example"
    assert "STRIPE_KEY" not in env


def test_without_a_deployed_version_there_is_no_miosa_version(api, production, runtime_token):
    body = api.get(URL, token=runtime_token(production)).json()
    assert body["version"] is None
    assert body["env"] == {"MIOSA_DEPLOYMENT": "shop", "MIOSA_ENVIRONMENT": "production"}


def test_every_fetch_is_audited_as_its_token(api, production, shop, runtime_token):
    raw = runtime_token(production, name="web-1")
    api.get(URL, token=raw)
    api.get(URL, token=raw, params={"format": "dotenv"})
    events = AuditEvent.objects.filter(action="runtime.fetch").order_by("id")
    assert [(e.actor_label, e.environment_name, e.detail["format"]) for e in events] == [
        ("token web-1", "production", "json"),
        ("token web-1", "production", "dotenv"),
    ]
    assert all(e.actor_id is None for e in events)


def test_a_browser_session_does_not_become_the_actor(api, client, owner, production, runtime_token):
    client.force_login(owner)
    api.get(URL, token=runtime_token(production, name="web-1"))
    assert AuditEvent.objects.get(action="runtime.fetch").actor_label == "token web-1"


def test_the_response_is_never_cached(api, production, runtime_token):
    response = api.get(URL, token=runtime_token(production))
    assert response["Cache-Control"] == "no-store"


# Fail closed -------------------------------------------------------------------------------


def test_if_the_fetch_cannot_be_audited_nothing_is_returned(
    api, production, shop, runtime_token, monkeypatch
):
    raw = runtime_token(production)

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    refuse_audit_writes(monkeypatch, refuse)
    response = api.get(URL, token=raw)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert CANARY.encode() not in response.content
    assert b"prod-pw" not in response.content
    assert b"audit store" not in response.content


def test_an_undecryptable_value_is_503_and_never_a_partial_env(
    api, production, shop, runtime_token
):
    variable = Variable.objects.get(environment=production, key="API_URL")
    replace_stored(variable, bytes(variable.ciphertext)[:-1] + b"\x00")
    response = api.get(URL, token=runtime_token(production))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "undecryptable"
    assert CANARY.encode() not in response.content
    assert b"DATABASE_URL" not in response.content
    # The failed fetch is on record, with its outcome.
    event = AuditEvent.objects.filter(action="runtime.fetch").latest("id")
    assert event.outcome == "failure" and event.detail["reason"] == "undecryptable"


def test_a_binding_under_an_unknown_key_is_503(api, production, shop, runtime_token):
    binding = Binding.objects.get(environment=production)
    blob = bytes(binding.ciphertext)
    replace_stored(binding, blob[:2] + b"zz" + blob[4:])
    response = api.get(URL, token=runtime_token(production), params={"format": "dotenv"})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"


# ETag --------------------------------------------------------------------------------------


def test_an_unchanged_environment_answers_304_to_its_etag(api, production, shop, runtime_token):
    raw = runtime_token(production)
    first = api.get(URL, token=raw)
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = api.get(URL, token=raw, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag and again["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == 2


@pytest.mark.parametrize("header", ["W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_lists_weak_and_several_tags(api, production, runtime_token, header):
    raw = runtime_token(production)
    etag = api.get(URL, token=raw)["ETag"]
    response = api.get(URL, token=raw, headers={"If-None-Match": header.format(etag=etag)})
    assert response.status_code == 304


def test_a_changed_value_changes_the_etag(api, production, shop, runtime_token, actor):
    raw = runtime_token(production)
    etag = api.get(URL, token=raw)["ETag"]
    services.set_variable(
        environment=production, key="API_URL", value="https://new", is_secret=None, actor=actor
    )
    # Staged in production (SPEC §9): a pending edit changes nothing a runtime gets...
    assert api.get(URL, token=raw, headers={"If-None-Match": etag}).status_code == 304
    services.apply_changes(environment=production, actor=actor)
    # ...until it goes live.
    response = api.get(URL, token=raw, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response["ETag"] != etag
    assert response.json()["env"]["API_URL"] == "https://new"


def test_json_and_dotenv_have_different_etags(api, production, shop, runtime_token):
    raw = runtime_token(production)
    json_tag = api.get(URL, token=raw)["ETag"]
    dotenv = api.get(
        URL, token=raw, params={"format": "dotenv"}, headers={"If-None-Match": json_tag}
    )
    assert dotenv.status_code == 200
    assert dotenv["ETag"] != json_tag


def test_the_etag_is_not_a_plain_hash_of_the_body(api, production, shop, runtime_token):
    import hashlib

    response = api.get(URL, token=runtime_token(production))
    for algorithm in ("md5", "sha1", "sha256"):
        assert hashlib.new(algorithm, response.content).hexdigest() not in response["ETag"]


# dotenv ------------------------------------------------------------------------------------

AWKWARD = {
    "QUOTES": "say \"hi\" and 'bye'",
    "DOLLAR": "$HOME ${PATH} $$ \\$x",
    "BACKSLASH": "C:\\path\\to\\ \\n is not a newline \\",
    "HASH": "a # not a comment #",
    "EQUALS": "a=b==c",
    "NEWLINES": "line one\nline two\r\nline three\rend\n",
    "UNICODE": "żółw 🐢 – ü ∑ \u2028 \ufeff",
    "TABS": "\tindented\t",
    "SPACES": "  padded  ",
    "EMPTY": "",
    "ESCAPES": "\\a \\b \\f \\t \\v \\' \\\" \\x41 \\u0041",
}


def test_dotenv_round_trips_awkward_values_through_python_dotenv(
    api, production, actor, runtime_token, tmp_path
):
    services.set_variables(
        environment=production,
        items=[VariableInput(key, value) for key, value in AWKWARD.items()],
        actor=actor,
    )
    response = api.get(URL, token=runtime_token(production), params={"format": "dotenv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode("utf-8")
    expected = {**AWKWARD, "MIOSA_DEPLOYMENT": "shop", "MIOSA_ENVIRONMENT": "production"}
    assert dotenv_values(stream=io.StringIO(text), interpolate=False) == expected
    # A file opened in text mode translates newlines: escaping \r keeps it exact.
    path = tmp_path / ".env"
    path.write_bytes(response.content)
    assert dotenv_values(path, interpolate=False) == expected


def test_dotenv_lines_are_key_equals_double_quoted_value(api, production, actor, runtime_token):
    services.set_variable(
        environment=production, key="A", value='x"y\\z\n$1', is_secret=None, actor=actor
    )
    response = api.get(URL, token=runtime_token(production), params={"format": "dotenv"})
    assert response.content.decode() == (
        'A="x\\"y\\\\z\\n$1"\nMIOSA_DEPLOYMENT="shop"\nMIOSA_ENVIRONMENT="production"\n'
    )


values = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=80)
keys = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")


@settings(max_examples=500, database=None)
@given(st.dictionaries(keys, values, max_size=8))
def test_dotenv_rendering_round_trips_any_text(env):
    assert dotenv_values(stream=io.StringIO(envfile.render(env)), interpolate=False) == env


def test_an_unknown_format_is_400(api, production, runtime_token):
    response = api.get(URL, token=runtime_token(production), params={"format": "yaml"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "format"
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()


# Access ------------------------------------------------------------------------------------


def test_no_token_is_401(api, production):
    assert api.get(URL).status_code == 401


def test_a_token_of_a_deleted_environment_is_401(api, deployment, actor, runtime_token):
    preview = services.create_environment(deployment=deployment, name="preview/pr-1", actor=actor)
    raw = runtime_token(preview)
    assert api.get(URL, token=raw).status_code == 200
    services.delete_environment(environment=preview, actor=actor)
    assert api.get(URL, token=raw).status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405(api, production, runtime_token, method):
    response = api.request(method, URL, token=runtime_token(production), json={})
    assert response.status_code == 405
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()


# Query count -------------------------------------------------------------------------------


@pytest.mark.parametrize("history", [1, 200])
# 499: with its binding, the most keys an environment may hold (SPEC §12).
@pytest.mark.parametrize("count", [5, 499])
@pytest.mark.parametrize("fmt", ["json", "dotenv"])
def test_the_query_count_is_fixed_however_many_variables(
    api, production, actor, runtime_token, django_assert_num_queries, count, fmt, history
):
    services.set_variables(
        environment=production,
        items=[VariableInput(f"KEY_{n}", f"value-{n}", n % 2 == 0) for n in range(count)],
        actor=actor,
    )
    for n in range(history - 1):  # revisions of history, none of them live yet (staged)
        services.set_variable(
            environment=production, key="KEY_0", value=f"v{n}", is_secret=None, actor=actor
        )
    services.create_binding(
        environment=production, kind="redis", name="cache", url="redis://c:6379", actor=actor
    )
    services.add_domain(environment=production, hostname="shop.example", actor=actor)
    raw = runtime_token(production)
    api.get(URL, token=raw)  # the first use writes last_used_at; the process keeps the ciphertexts
    # token (+ environment, deployment, live release, version), then on PostgreSQL the chain's
    # head made sure of (inside this test's transaction only) and one statement that locks and
    # moves the head, inserts the event and upserts the instance; on SQLite the audit event
    # (lock the chain's head, insert, move the head) and the upsert apart, in the transaction
    # (its savepoint and release counted here). The configuration's ciphertexts were read by
    # the first fetch.
    with django_assert_num_queries(QUERIES[connection.vendor]):
        response = api.get(URL, token=raw, params={"format": fmt})
    assert response.status_code == 200
    if fmt == "json":
        assert len(json.loads(response.content)["env"]) == count + 4
