"""The runtime fetch at the audited floor: a fixed, small number of statements however
many variables, past the middleware it does not use, from ciphertexts kept per process (never
plaintext), with every guarantee of tests/api/test_runtime_env.py intact."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from environments import crypto, selectors, services
from environments.models import AuditEvent, RuntimeInstance
from environments.services import VariableInput
from tests.concurrently import run_concurrently, skip_unless_postgres
from tests.conftest import CANARY
from tests.refuse_audit import refuse_audit_writes

URL = "/api/v1/runtime/env"
SECRETS = 20
# Inside a transaction (a test's): on PostgreSQL the token look-up and the one statement that
# appends the event with the instance upsert (the chain's head exists since it started); on
# SQLite the token, the chain's three (lock its head, insert the event, move the head) and the
# upsert apart.
STATEMENTS = {"postgresql": 2, "sqlite": 3 + 2}
CHAIN_HEAD = '"environments_auditchainhead"'


def _fill(environment, actor, count: int) -> None:
    services.set_variables(
        environment=environment,
        items=[VariableInput(f"KEY_{n}", f"value-{n}", n < SECRETS) for n in range(count)],
        actor=actor,
    )


@pytest.fixture
def live(deployment, staging, production, actor):
    """Production running v1 (through staging), with whatever was set before `deploy()`."""

    def deploy():
        version = services.create_version(deployment=deployment, actor=actor)
        services.deploy_version(environment=staging, version=version, actor=actor)
        services.deploy_version(environment=production, version=version, actor=actor)

    return deploy


def _fetch(client: Client, raw: str, **headers):
    return client.get(URL, headers={"Authorization": f"Bearer {raw}", **headers})


def _statements(captured) -> list[str]:
    """What the fetch sent, without the savepoints a test's own transaction adds."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


@pytest.mark.parametrize("count", [1, 50])
def test_the_statement_count_is_fixed_for_1_and_50_variables(
    client, production, actor, live, runtime_token, count
):
    _fill(production, actor, count)
    live()
    raw = runtime_token(production)
    assert _fetch(client, raw).status_code == 200  # reads the release's ciphertexts once
    with CaptureQueriesContext(connection) as captured:
        response = _fetch(client, raw, **{"X-Miosa-Instance": "web-1"})
    assert response.status_code == 200
    assert len(response.json()["env"]) == count + 4
    assert len(_statements(captured)) == STATEMENTS[connection.vendor]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [1, 50])
def test_on_postgresql_a_fetch_is_two_statements(
    client, production, actor, live, runtime_token, count
):
    """Outside a test transaction, as in production (autocommit), so that everything the fetch
    sends is counted: the token, then one statement that locks and moves the chain's head,
    inserts the event and upserts the instance (audit.append with its `also` step); no BEGIN,
    no COMMIT."""
    skip_unless_postgres()
    _fill(production, actor, count)
    live()
    raw = runtime_token(production)
    with CaptureQueriesContext(connection) as first:
        assert _fetch(client, raw).status_code == 200
    # The first fetch of a release in a process also reads its ciphertexts (and the token's
    # first use writes its last_used_at, then at most once a minute); later ones do not.
    assert any("environments_configentry" in q["sql"] for q in first.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        response = _fetch(client, raw, **{"X-Miosa-Instance": "web-1"})
    assert response.status_code == 200
    assert len(response.json()["env"]) == count + 4
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == 2, sql
    assert "environments_runtimetoken" in sql[0] and sql[0].lstrip().startswith("SELECT")
    statement = sql[1]
    assert statement.startswith("WITH old AS (")
    assert f"FROM {CHAIN_HEAD} WHERE chain = " in statement and "FOR UPDATE" in statement
    assert f"UPDATE {CHAIN_HEAD} AS h" in statement
    assert 'INSERT INTO "environments_runtimeinstance"' in statement
    assert 'INSERT INTO "environments_auditevent"' in statement
    assert RuntimeInstance.objects.filter(instance="web-1").count() == 1
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == 2
    out = io.StringIO()
    call_command("verify_audit", "--deployment", "shop", stdout=out)
    assert "OK chain" in out.getvalue() and "(shop)" in out.getvalue()


# The kept ciphertexts -------------------------------------------------------------------------


def test_a_new_release_is_served_at_once(client, production, actor, live, runtime_token):
    services.set_variable(
        environment=production, key="API_URL", value="https://one", is_secret=None, actor=actor
    )
    live()
    raw = runtime_token(production)
    assert _fetch(client, raw).json()["env"]["API_URL"] == "https://one"
    services.set_variable(
        environment=production, key="API_URL", value="https://two", is_secret=None, actor=actor
    )
    assert _fetch(client, raw).json()["env"]["API_URL"] == "https://one"  # staged
    services.apply_changes(environment=production, actor=actor)
    assert _fetch(client, raw).json()["env"]["API_URL"] == "https://two"


def test_an_environment_without_a_release_serves_its_current_configuration(
    client, production, actor, runtime_token
):
    raw = runtime_token(production)
    assert "API_URL" not in _fetch(client, raw).json()["env"]
    services.set_variable(
        environment=production, key="API_URL", value="https://one", is_secret=None, actor=actor
    )
    assert _fetch(client, raw).json()["env"]["API_URL"] == "https://one"


def test_no_plaintext_is_kept(client, production, actor, live, runtime_token):
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    live()
    assert CANARY in _fetch(client, runtime_token(production)).content.decode()
    kept = selectors.kept_runtime_entries(production)
    assert kept, "the release's ciphertexts are kept"
    for entries in kept:
        for _key, sealed in entries.values:
            assert CANARY not in repr(sealed)
            for part in (sealed.nonce, sealed.body, sealed.associated):
                assert CANARY.encode() not in part


def test_a_key_removed_after_rotation_makes_a_fresh_read(
    client, production, actor, live, runtime_token
):
    """Kept ciphertexts of the old key would no longer decrypt: the keyring is in the key."""
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    live()
    raw = runtime_token(production)
    assert _fetch(client, raw).json()["env"]["STRIPE_KEY"] == CANARY
    from django.conf import settings

    new_key = "t3:" + base64.b64encode(b"n" * crypto.KEY_SIZE).decode()
    with override_settings(ENCRYPTION_KEYS=f"{new_key},{settings.ENCRYPTION_KEYS}"):
        services.rotate_encryption_keys(actor=actor)
        assert _fetch(client, raw).json()["env"]["STRIPE_KEY"] == CANARY
    with override_settings(ENCRYPTION_KEYS=new_key):
        response = _fetch(client, raw)
    assert response.status_code == 200
    assert response.json()["env"]["STRIPE_KEY"] == CANARY


# Middleware ----------------------------------------------------------------------------------


def test_the_fetch_skips_sessions_and_keeps_the_security_headers(
    client, owner, production, runtime_token
):
    client.force_login(owner)  # a session cookie rides along, and means nothing here
    response = _fetch(client, runtime_token(production, name="web"))
    assert response.status_code == 200
    assert "Set-Cookie" not in response and not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store"
    assert AuditEvent.objects.get(action="runtime.fetch").actor_label == "token web"


def test_an_unknown_host_is_refused_before_anything_is_recorded(client, production, runtime_token):
    raw = runtime_token(production)
    response = client.get(URL, headers={"Authorization": f"Bearer {raw}"}, HTTP_HOST="evil.test")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()
    assert not RuntimeInstance.objects.exists()


def test_other_paths_still_go_through_the_whole_stack(client, owner, production):
    client.force_login(owner)
    response = client.get(f"{URL}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


# Refusals record nothing ------------------------------------------------------------------------


def test_an_unknown_token_records_nothing(client, production, runtime_token):
    runtime_token(production)
    response = _fetch(client, "mio_rt_" + "x" * 43, **{"X-Miosa-Instance": "web-1"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="miosa"'
    assert response.json()["error"]["code"] == "invalid_token"
    assert not RuntimeInstance.objects.exists()
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()


def test_a_bad_format_with_a_good_token_records_nothing(client, production, runtime_token):
    raw = runtime_token(production)
    response = client.get(
        URL,
        {"format": "yaml"},
        headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": "web-1"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "format"
    assert not RuntimeInstance.objects.exists()
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()


@pytest.mark.django_db(transaction=True)  # the refused write ends a real transaction
def test_when_the_event_cannot_be_written_no_instance_is_recorded(
    client, production, actor, live, runtime_token, monkeypatch
):
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    live()
    raw = runtime_token(production)

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    refuse_audit_writes(monkeypatch, refuse)
    response = _fetch(client, raw, **{"X-Miosa-Instance": "web-1"})
    assert response.status_code == 500
    assert CANARY.encode() not in response.content
    assert not RuntimeInstance.objects.exists()


def test_a_token_name_is_cleaned_alike_for_the_instance_and_the_event(
    client, production, runtime_token
):
    """The instance row (written in SQL on PostgreSQL) drops control and format characters as
    the audit event's actor label (Python) does."""
    raw = runtime_token(production, name="web\u200b\x07\u202e-1\u00ad")
    assert _fetch(client, raw).status_code == 200
    event = AuditEvent.objects.get(action="runtime.fetch")
    assert event.actor_label == "token web-1"
    row = RuntimeInstance.objects.get()
    assert (row.instance, row.token_name) == ("token web-1", "token web-1")


# Under a boot storm --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_fetches_are_each_served_and_audited(production, actor, live, runtime_token):
    skip_unless_postgres()
    _fill(production, actor, 50)
    live()
    raw = runtime_token(production)

    def boot(n: int):
        def fetch():
            response = _fetch(Client(), raw, **{"X-Miosa-Instance": f"web-{n % 10}"})
            return response.status_code, len(response.json()["env"])

        return fetch

    results = run_concurrently([boot(n) for n in range(24)])
    assert results == [(200, 54)] * 24
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == 24
    assert RuntimeInstance.objects.count() == 10


def test_the_etag_is_the_salted_hmac_of_the_release_revision_and_format(production, settings):
    """Its key is derived once per SECRET_KEY (not at every fetch): the tag is still Django's
    salted_hmac of what it names, and changes with SECRET_KEY."""
    from django.utils.crypto import salted_hmac

    from environments.api.runtime import runtime_etag

    def expected() -> str:
        mac = salted_hmac(
            "environments.api.runtime-etag", f"{production.pk}/0/7/json", algorithm="sha256"
        )
        return f'"{mac.hexdigest()}"'

    assert runtime_etag(production, 7, "json") == expected()
    before = runtime_etag(production, 7, "json")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789-abcdefghijkl"
    assert runtime_etag(production, 7, "json") == expected() != before
    assert runtime_etag(production, 7, "shell") != runtime_etag(production, 7, "json")
