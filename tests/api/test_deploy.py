"""POST /api/v1/deployments/:id/deploy: make a version active in an environment."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Environment, Release


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/deploy"


@pytest.fixture
def versions(deployment, actor):
    return [services.create_version(deployment=deployment, actor=actor) for _ in range(2)]


def test_a_developer_deploys_to_staging(api, deployment, staging, versions, role_token, served):
    response = api.post(
        _url(deployment), {"environment": "staging", "version": 2}, token=role_token("developer")
    )
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("environment", "number", "version", "kind", "actor")} == {
        "environment": "staging",
        "number": 1,
        "version": 2,
        "kind": "deploy",
        "actor": "developer-user (token ci)",
    }
    assert served(staging)["version"] == 2
    event = AuditEvent.objects.get(action="version.deploy")
    assert (event.target, event.environment_name) == ("v2", "staging")


def test_the_release_is_the_one_the_releases_list_shows(api, deployment, versions, role_token):
    raw = role_token("developer")
    created = api.post(_url(deployment), {"environment": "staging", "version": 1}, token=raw)
    listed = api.get(
        f"/api/v1/deployments/{deployment.pk}/releases",
        token=raw,
        params={"environment": "staging"},
    ).json()["releases"]
    assert listed == [created.json()]


def test_a_preview_environment_takes_any_version(api, deployment, versions, actor, role_token):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    response = api.post(
        _url(deployment),
        {"environment": "preview/pr-42", "version": 2},
        token=role_token("developer"),
    )
    assert response.status_code == 201


def test_production_takes_only_a_version_that_ran_in_staging(
    api, deployment, staging, versions, actor, role_token
):
    raw = role_token("admin")
    response = api.post(_url(deployment), {"environment": "production", "version": 1}, token=raw)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "staging_first"
    services.deploy_version(environment=staging, version=versions[0], actor=actor)
    response = api.post(_url(deployment), {"environment": "production", "version": 1}, token=raw)
    assert response.status_code == 201


def test_deploying_the_active_version_again_is_409(
    api, deployment, staging, versions, actor, role_token
):
    services.deploy_version(environment=staging, version=versions[0], actor=actor)
    response = api.post(
        _url(deployment), {"environment": "staging", "version": 1}, token=role_token("developer")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_active"
    assert Release.objects.filter(environment=staging).count() == 1


def test_a_missing_required_key_refuses_the_deploy(api, deployment, versions, actor, role_token):
    services.set_required_keys(deployment=deployment, keys=["DATABASE_URL"], actor=actor)
    response = api.post(
        _url(deployment), {"environment": "staging", "version": 1}, token=role_token("developer")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "missing_required_keys"
    assert "DATABASE_URL" in response.json()["error"]["message"]
    assert not Release.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"environment": "staging"}, 400, "required", "version"),
        ({"version": 1}, 400, "required", "environment"),
        ({"environment": "staging", "version": "1"}, 400, "invalid", "version"),
        ({"environment": "staging", "version": 1.0}, 400, "invalid", "version"),
        ({"environment": "staging", "version": True}, 400, "invalid", "version"),
        ({"environment": "staging", "version": 0}, 400, "invalid", "version"),
        ({"environment": "staging", "version": 1, "force": True}, 400, "unknown_field", "force"),
        ({"environment": "a..b", "version": 1}, 400, "invalid_environment_name", "environment"),
        ({"environment": "staging", "version": 3}, 404, "not_found", "version"),
        ({"environment": "staging", "version": 2**63}, 404, "not_found", "version"),
        ({"environment": "qa", "version": 1}, 404, "not_found", "environment"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_deployed(
    api, deployment, versions, role_token, body, status, code, field
):
    response = api.post(_url(deployment), body, token=role_token("developer"))
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error.get("field")) == (code, field)
    assert not Release.objects.exists()


@pytest.mark.parametrize(
    ("role", "staging_status", "production_status"),
    [
        ("outsider", 404, 404),
        ("viewer", 403, 403),
        ("developer", 201, 403),
        ("admin", 201, 201),
        ("owner", 201, 201),
    ],
)
def test_who_may_deploy(
    api, deployment, versions, role_token, role, staging_status, production_status
):
    raw = role_token(role)
    response = api.post(_url(deployment), {"environment": "staging", "version": 1}, token=raw)
    assert response.status_code == staging_status
    if staging_status != 201:  # production needs v1 in staging first
        services.deploy_version(
            environment=Environment.objects.get(name="staging", deployment=deployment),
            version=versions[0],
            actor=services.Actor.system(),
        )
    response = api.post(_url(deployment), {"environment": "production", "version": 1}, token=raw)
    assert response.status_code == production_status


def test_no_token_is_401(api, deployment):
    assert api.post(_url(deployment), {"environment": "staging", "version": 1}).status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405 and response["Allow"] == "POST"
