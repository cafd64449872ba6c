"""POST /api/v1/deployments/:id/rollback: an earlier release's version, with its configuration
(restore, the default) or with the current one (keep)."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Environment, Release
from tests.conftest import CANARY


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/rollback"


@pytest.fixture
def history(deployment, staging, production, actor):
    """Staging release 1 runs v1 with API_URL=one and a secret; release 3 runs v2 with
    API_URL=two and another secret (release 2 was the config change between)."""
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.set_variables(
        environment=staging,
        items=[
            services.VariableInput("API_URL", "one"),
            services.VariableInput("TOKEN", CANARY, True),
        ],
        actor=actor,
    )
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.set_variables(
        environment=staging,
        items=[services.VariableInput("API_URL", "two"), services.VariableInput("TOKEN", "new")],
        actor=actor,
    )
    services.deploy_version(environment=staging, version=v2, actor=actor)


def test_rolling_back_restores_the_version_and_its_configuration_by_default(
    api, deployment, staging, history, role_token, served
):
    response = api.post(
        _url(deployment), {"environment": "staging", "release": 1}, token=role_token("developer")
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "environment": "staging",
        "number": 4,
        "version": 1,
        "config_revision": 2,
        "kind": "rollback",
        "actor": "developer-user (token ci)",
        "created_at": body["created_at"],
        "rollback_of": 1,
    }
    assert CANARY.encode() not in response.content
    runtime = served(staging)
    assert runtime["env"]["API_URL"] == "one"
    assert runtime["env"]["TOKEN"] == CANARY  # the old secret is back, never shown on the way
    assert (runtime["version"], runtime["release"]) == (1, 4)
    event = AuditEvent.objects.get(action="release.rollback")
    assert event.detail["rollback_of"] == 1 and event.environment_name == "staging"


def test_keep_rolls_back_the_version_only(api, deployment, staging, history, role_token, served):
    response = api.post(
        _url(deployment),
        {"environment": "staging", "release": 1, "config": "keep"},
        token=role_token("developer"),
    )
    assert response.status_code == 201
    current = Environment.objects.get(pk=staging.pk).config_revision
    assert (response.json()["version"], response.json()["config_revision"]) == (1, current)
    runtime = served(staging)
    assert (runtime["env"]["API_URL"], runtime["version"]) == ("two", 1)


def test_an_unknown_release_is_404(api, deployment, history, role_token):
    raw = role_token("admin")
    for number in (99, 2**31, 2**80):
        response = api.post(
            _url(deployment),
            {"environment": "staging", "release": number},
            token=raw,
        )
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "release"
    assert Release.objects.filter(kind="rollback").count() == 0


def test_rolling_back_to_what_runs_is_409_already_active(api, deployment, history, role_token):
    response = api.post(
        _url(deployment), {"environment": "staging", "release": 3}, token=role_token("admin")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_active"
    assert Release.objects.filter(kind="rollback").count() == 0


def test_a_rollback_without_a_required_key_is_409_naming_it(
    api, deployment, staging, history, actor, role_token, served
):
    services.set_variable(
        environment=staging, key="NEW_KEY", value="x", is_secret=None, actor=actor
    )
    services.set_required_keys(deployment=deployment, keys=["NEW_KEY"], actor=actor)
    raw = role_token("admin")
    response = api.post(_url(deployment), {"environment": "staging", "release": 1}, token=raw)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "missing_required_keys"
    assert "NEW_KEY" in response.json()["error"]["message"]
    assert served(staging)["version"] == 2
    # Keeping the current configuration has it: allowed.
    response = api.post(
        _url(deployment),
        {"environment": "staging", "release": 1, "config": "keep"},
        token=raw,
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"release": 1}, "environment"),
        ({"environment": ["staging"], "release": 1}, "environment"),
        ({"environment": "staging"}, "release"),
        ({"environment": "staging", "release": "1"}, "release"),
        ({"environment": "staging", "release": True}, "release"),
        ({"environment": "staging", "release": 0}, "release"),
        ({"environment": "staging", "release": -3}, "release"),
        ({"environment": "staging", "release": 1.0}, "release"),
        ({"environment": "staging", "release": 1, "config": "maybe"}, "config"),
        ({"environment": "staging", "release": 1, "config": None}, "config"),
        ({"environment": "staging", "release": 1, "config": ["keep"]}, "config"),
        ({"environment": "staging", "release": 1, "version": 1}, "version"),
    ],
)
def test_bad_input_is_400_and_rolls_nothing_back(
    api, deployment, staging, history, role_token, body, field, served
):
    response = api.post(_url(deployment), body, token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert served(staging)["release"] == 3
    assert not AuditEvent.objects.filter(action="release.rollback").exists()


def test_an_unknown_environment_is_404(api, deployment, history, role_token):
    response = api.post(
        _url(deployment), {"environment": "qa", "release": 1}, token=role_token("owner")
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "staging", 404),
        ("outsider", "production", 404),
        ("viewer", "staging", 403),
        ("developer", "staging", 201),
        ("developer", "production", 403),
        ("admin", "production", 201),
        ("owner", "production", 201),
    ],
)
def test_who_may_roll_back_where(
    api, deployment, staging, production, history, actor, role_token, role, environment, status
):
    v2 = Release.objects.get(environment=staging, number=3).version
    services.deploy_version(environment=production, version=v2, actor=actor)
    services.set_variable(environment=production, key="K", value="1", is_secret=None, actor=actor)
    services.apply_changes(environment=production, actor=actor)
    response = api.post(
        _url(deployment), {"environment": environment, "release": 1}, token=role_token(role)
    )
    assert response.status_code == status
    assert Release.objects.filter(kind="rollback").exists() == (status == 201)


def test_no_token_is_401(api, deployment, history):
    response = api.post(_url(deployment), {"environment": "staging", "release": 1})
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
