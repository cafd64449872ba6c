"""GET /api/v1/deployments/:id/env."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Variable
from environments.services import VariableInput
from tests.conftest import CANARY, ROLES
from tests.refuse_audit import refuse_audit_writes

DB_URL = "postgres://app:hunter2-db-password@db.internal:5432/shop"


@pytest.fixture
def variables(production, staging, actor):
    services.set_variable(
        environment=production,
        key="API_URL",
        value="https://api.example.com",
        is_secret=None,
        actor=actor,
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(environment=staging, key="DEBUG", value="1", is_secret=False, actor=actor)
    services.create_binding(
        environment=production, kind="postgres", name="shop-db", url=DB_URL, actor=actor
    )


def _rows(response):
    return [
        {k: v for k, v in row.items() if k not in ("updated_at", "set_at")}
        for row in response.json()["variables"]
    ]


def test_lists_every_environment_with_previews_secrets_and_bindings(
    api, deployment, env_url, variables, role_token
):
    response = api.get(env_url, token=role_token("viewer"))
    assert response.status_code == 200
    body = response.json()
    assert body["deployment"] == {"id": deployment.pk, "name": "shop"}
    assert _rows(response) == [
        {
            "environment": "production",
            "key": "API_URL",
            "preview": "https://…",
            "is_secret": False,
            "source": "env",
        },
        {
            "environment": "production",
            "key": "DATABASE_URL",
            "preview": "postgres://app:••••@db.internal:5432/shop",
            "is_secret": True,
            "source": "binding",
            "instances_on_older_value": 0,
        },
        {
            "environment": "production",
            "key": "STRIPE_KEY",
            "preview": "••••",
            "is_secret": True,
            "source": "env",
            "instances_on_older_value": 0,
        },
        {
            "environment": "staging",
            "key": "DEBUG",
            "preview": "1",
            "is_secret": False,
            "source": "env",
        },
    ]
    assert all(row["updated_at"].endswith("Z") for row in body["variables"])
    # Secrets and bindings say when their value was written (SPEC §14); plain rows do not.
    assert [row["key"] for row in body["variables"] if "set_at" in row] == [
        "DATABASE_URL",
        "STRIPE_KEY",
    ]
    assert all(row["set_at"].endswith("Z") for row in body["variables"] if "set_at" in row)
    assert CANARY.encode() not in response.content
    assert b"hunter2" not in response.content


def test_the_environment_parameter_narrows_the_list(api, env_url, variables, role_token):
    response = api.get(env_url, token=role_token("viewer"), params={"environment": "staging"})
    assert [(r["environment"], r["key"]) for r in response.json()["variables"]] == [
        ("staging", "DEBUG")
    ]


def test_an_unknown_environment_is_404(api, env_url, role_token):
    response = api.get(env_url, token=role_token("viewer"), params={"environment": "qa"})
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "environment"


def test_a_malformed_environment_name_is_400(api, env_url, role_token):
    response = api.get(env_url, token=role_token("viewer"), params={"environment": "Prod\x00"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "environment"


@pytest.mark.parametrize("role", ROLES)
def test_every_member_can_list(api, env_url, variables, role_token, role):
    assert api.get(env_url, token=role_token(role)).status_code == 200


def test_no_token_is_401(api, env_url):
    assert api.get(env_url).status_code == 401


def test_another_deployments_member_gets_the_same_404_as_for_an_unknown_deployment(
    api, env_url, role_token
):
    outsider = role_token("outsider")
    hidden = api.get(env_url, token=outsider)
    unknown = api.get("/api/v1/deployments/999999/env", token=outsider)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()


def test_an_id_beyond_64_bits_is_404(api, role_token):
    response = api.get(f"/api/v1/deployments/{2**70}/env", token=role_token("owner"))
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_are_405(api, env_url, role_token, method):
    response = api.request(method, env_url, token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


# Reveal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_reveal_adds_plain_values_only_and_is_audited(api, env_url, variables, role_token, role):
    response = api.get(env_url, token=role_token(role), params={"reveal": "true"})
    assert response.status_code == 200
    values = {r["key"]: r.get("value") for r in response.json()["variables"]}
    assert values == {
        "API_URL": "https://api.example.com",
        "DEBUG": "1",
        "DATABASE_URL": None,
        "STRIPE_KEY": None,
    }
    assert CANARY.encode() not in response.content
    assert b"hunter2" not in response.content
    event = AuditEvent.objects.get(action="variable.reveal")
    assert event.target == "production/API_URL,staging/DEBUG"
    assert event.actor_label.endswith("(token ci)")


def test_reveal_of_one_environment_records_its_keys(api, env_url, variables, role_token):
    api.get(env_url, token=role_token("admin"), params={"reveal": "true", "environment": "staging"})
    event = AuditEvent.objects.get(action="variable.reveal")
    assert (event.environment_name, event.target) == ("staging", "DEBUG")


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_reveal_below_admin_is_403_and_reveals_nothing(api, env_url, variables, role_token, role):
    response = api.get(env_url, token=role_token(role), params={"reveal": "true"})
    assert response.status_code == 403
    assert b"api.example.com" not in response.content
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_reveal_must_be_true_or_false(api, env_url, role_token):
    response = api.get(env_url, token=role_token("admin"), params={"reveal": "yes"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "reveal"


def test_reveal_fails_closed_when_the_audit_event_cannot_be_written(
    api, env_url, variables, role_token, monkeypatch
):
    raw = role_token("admin")

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    refuse_audit_writes(monkeypatch, refuse)
    response = api.get(env_url, token=raw, params={"reveal": "true"})
    assert response.status_code == 500
    assert b"api.example.com" not in response.content
    assert b"audit store" not in response.content


# Values that cannot be decrypted -----------------------------------------------------------


def _tamper(key: str) -> None:
    variable = Variable.objects.get(key=key)
    blob = bytearray(bytes(variable.ciphertext))
    blob[-1] ^= 0x01
    Variable.objects.filter(pk=variable.pk).update(ciphertext=bytes(blob))


def test_an_undecryptable_value_is_listed_without_a_preview(api, env_url, variables, role_token):
    _tamper("API_URL")
    response = api.get(env_url, token=role_token("viewer"), params={"environment": "production"})
    assert response.status_code == 200
    row = next(r for r in response.json()["variables"] if r["key"] == "API_URL")
    assert row["preview"] is None and row["undecryptable"] is True


def test_reveal_with_an_undecryptable_value_is_503_and_reveals_nothing(
    api, env_url, variables, role_token
):
    _tamper("API_URL")
    response = api.get(env_url, token=role_token("admin"), params={"reveal": "true"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "undecryptable"
    assert b"DEBUG" not in response.content


# Query count -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 300])
@pytest.mark.parametrize("params", [{}, {"environment": "production"}])
def test_the_query_count_is_fixed_however_many_variables(
    api, env_url, production, staging, actor, role_token, django_assert_num_queries, count, params
):
    for environment in (production, staging):
        services.set_variables(
            environment=environment,
            items=[VariableInput(f"KEY_{n}", f"value-{n}", n % 2 == 0) for n in range(count)],
            actor=actor,
        )
        services.create_binding(
            environment=environment, kind="redis", name="cache", url="redis://c:6379", actor=actor
        )
    raw = role_token("viewer")
    api.get(env_url, token=raw)  # the first use writes last_used_at
    # token, membership + deployment, environment(s), variables, bindings, the secrets' value
    # history and the live instances (their age and convergence, SPEC §14)
    with django_assert_num_queries(7):
        response = api.get(env_url, token=raw, params=params)
    expected = (count + 1) * (2 if not params else 1)
    assert len(response.json()["variables"]) == expected
