"""POST /api/v1/deployments/:id/env/:key/restore: an earlier value back, as a new revision."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, ConfigEntry, Environment
from tests.conftest import CANARY


def _url(deployment, key="API_URL") -> str:
    return f"/api/v1/deployments/{deployment.pk}/env/{key}/restore"


def _revision(environment) -> int:
    return Environment.objects.get(pk=environment.pk).config_revision


@pytest.fixture
def values(staging, production, actor):
    """API_URL and the secret TOKEN, each set twice in staging and in production."""
    for environment in (staging, production):
        services.set_variables(
            environment=environment,
            items=[
                services.VariableInput("API_URL", "https://old.example"),
                services.VariableInput("TOKEN", CANARY, True),
            ],
            actor=actor,
        )
        services.set_variables(
            environment=environment,
            items=[
                services.VariableInput("API_URL", "https://new.example"),
                services.VariableInput("TOKEN", "replaced"),
            ],
            actor=actor,
        )


def test_restoring_a_plain_value_answers_its_preview_and_is_audited(
    api, deployment, staging, values, role_token, served
):
    response = api.post(
        _url(deployment), {"environment": "staging", "revision": 2}, token=role_token("developer")
    )
    assert response.status_code == 200
    body = response.json()
    [row] = body["variables"]
    assert (row["key"], row["preview"], row["is_secret"]) == ("API_URL", "https://…", False)
    assert "value" not in row
    assert (body["pending"], body["live_release"]) == (False, None)
    assert served(staging)["env"]["API_URL"] == "https://old.example"
    assert _revision(staging) == 4
    event = AuditEvent.objects.get(action="variable.restore")
    assert (event.target, event.detail["from_revision"]) == ("API_URL", 2)


def test_a_secret_is_restored_without_being_shown(
    api, deployment, staging, values, role_token, served
):
    response = api.post(
        _url(deployment, "TOKEN"),
        {"environment": "staging", "revision": 2},
        token=role_token("developer"),
    )
    assert response.status_code == 200
    [row] = response.json()["variables"]
    assert (row["preview"], row["is_secret"]) == ("••••", True)
    assert CANARY.encode() not in response.content
    assert served(staging)["env"]["TOKEN"] == CANARY


def test_a_restore_in_staged_production_says_it_is_pending(
    api, deployment, production, values, live, role_token, served
):
    response = api.post(
        _url(deployment), {"environment": "production", "revision": 2}, token=role_token("admin")
    )
    assert response.status_code == 200
    assert (response.json()["pending"], response.json()["live_release"]) == (True, 1)
    assert served(production)["env"]["API_URL"] == "https://new.example"


def test_a_restore_in_an_immediate_environment_goes_live_at_once(
    api, deployment, staging, values, live, role_token, served
):
    response = api.post(
        _url(deployment), {"environment": "staging", "revision": 2}, token=role_token("developer")
    )
    assert (response.json()["pending"], response.json()["live_release"]) == (False, 2)
    assert served(staging)["env"]["API_URL"] == "https://old.example"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"revision": 2}, 400, "environment"),
        ({"environment": None, "revision": 2}, 400, "environment"),
        ({"environment": "staging"}, 400, "revision"),
        ({"environment": "staging", "revision": "2"}, 400, "revision"),
        ({"environment": "staging", "revision": True}, 400, "revision"),
        ({"environment": "staging", "revision": 0}, 400, "revision"),
        ({"environment": "staging", "revision": 2.0}, 400, "revision"),
        ({"environment": "staging", "revision": 2, "value": "x"}, 400, "value"),
        ({"environment": "staging", "revision": 99}, 404, "revision"),
        ({"environment": "staging", "revision": 2**80}, 404, "revision"),
        ({"environment": "staging", "revision": 1}, 404, "revision"),  # before it was set
        ({"environment": "qa", "revision": 2}, 404, "environment"),
    ],
)
def test_bad_input_writes_nothing(
    api, deployment, staging, values, role_token, body, status, field
):
    response = api.post(_url(deployment), body, token=role_token("owner"))
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert _revision(staging) == 3
    assert not AuditEvent.objects.filter(action="variable.restore").exists()


def test_a_key_deleted_since_comes_back(
    api, deployment, staging, values, actor, role_token, served
):
    services.delete_variable(environment=staging, key="API_URL", actor=actor)
    response = api.post(
        _url(deployment), {"environment": "staging", "revision": 3}, token=role_token("developer")
    )
    assert response.status_code == 200
    assert served(staging)["env"]["API_URL"] == "https://new.example"


def test_a_key_that_is_now_a_binding_is_409(api, deployment, staging, actor, role_token):
    services.set_variable(
        environment=staging, key="DATABASE_URL", value="x", is_secret=None, actor=actor
    )
    services.delete_variable(environment=staging, key="DATABASE_URL", actor=actor)
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:b@h/db", actor=actor
    )
    response = api.post(
        _url(deployment, "DATABASE_URL"),
        {"environment": "staging", "revision": 2},
        token=role_token("admin"),
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "binding_clash"


def test_an_undecryptable_earlier_value_is_503_and_restores_nothing(
    api, deployment, staging, values, role_token
):
    entry = ConfigEntry.objects.get(environment=staging, key="TOKEN", set_revision=2)
    ConfigEntry.objects.filter(pk=entry.pk).update(ciphertext=b"\x01\x02zz" + b"\x00" * 40)
    response = api.post(
        _url(deployment, "TOKEN"),
        {"environment": "staging", "revision": 2},
        token=role_token("admin"),
    )
    assert response.status_code == 503
    assert _revision(staging) == 3


@pytest.mark.parametrize("key", ["1BAD", "MIOSA_VERSION"])
def test_a_key_that_cannot_exist_is_404(api, deployment, values, role_token, key):
    response = api.post(
        _url(deployment, key), {"environment": "staging", "revision": 2}, token=role_token("owner")
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "staging", 404),
        ("viewer", "staging", 403),
        ("developer", "staging", 200),
        ("developer", "production", 403),
        ("admin", "production", 200),
        ("owner", "production", 200),
    ],
)
def test_who_may_restore_where(api, deployment, values, role_token, role, environment, status):
    response = api.post(
        _url(deployment), {"environment": environment, "revision": 2}, token=role_token(role)
    )
    assert response.status_code == status
    assert AuditEvent.objects.filter(action="variable.restore").exists() == (status == 200)


def test_no_token_is_401(api, deployment, values):
    response = api.post(_url(deployment), {"environment": "staging", "revision": 2})
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
