"""POST /api/v1/deployments/:id/promote: move `from`'s active version into its target."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Environment, Release


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/promote"


@pytest.fixture
def pipeline(deployment, staging, production, actor):
    """production runs v1; staging runs v2 (after v1)."""
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    return v1, v2


def test_an_admin_promotes_staging_to_production(
    api, deployment, production, pipeline, role_token, served
):
    response = api.post(
        _url(deployment),
        {"from": "staging", "to": "production", "expected_version": 1},
        token=role_token("admin"),
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["environment"], body["number"], body["version"], body["kind"]) == (
        "production",
        2,
        2,
        "promote",
    )
    assert served(production)["version"] == 2
    event = AuditEvent.objects.get(action="version.promote")
    assert event.environment_name == "production"
    assert event.detail["from"] == "v1" and event.detail["source"] == "staging"


def test_to_and_expected_version_may_be_left_out(api, deployment, pipeline, role_token):
    response = api.post(_url(deployment), {"from": "staging"}, token=role_token("admin"))
    assert response.status_code == 201 and response.json()["version"] == 2


def test_a_stale_expected_version_is_409_and_moves_nothing(
    api, deployment, production, pipeline, role_token
):
    raw = role_token("admin")
    for expected in (None, 2, 7):
        response = api.post(
            _url(deployment), {"from": "staging", "expected_version": expected}, token=raw
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "stale"
    assert Release.objects.filter(environment=production).count() == 1


def test_null_expected_version_means_nothing_runs_there(
    api, deployment, staging, actor, role_token
):
    services.create_environment(deployment=deployment, name="preview/pr-1", actor=actor)
    preview = Environment.objects.get(name="preview/pr-1")
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=preview, version=version, actor=actor)
    response = api.post(
        _url(deployment),
        {"from": "preview/pr-1", "to": "staging", "expected_version": None},
        token=role_token("developer"),
    )
    assert response.status_code == 201
    assert (response.json()["environment"], response.json()["version"]) == ("staging", 1)


def test_another_target_than_the_pipeline_says_is_409(api, deployment, pipeline, role_token):
    response = api.post(
        _url(deployment), {"from": "staging", "to": "qa"}, token=role_token("admin")
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "wrong_target",
        "message": "staging promotes to production, not qa.",
        "field": "to",
    }


def test_production_takes_only_what_ran_in_staging(
    api, deployment, staging, production, actor, role_token
):
    qa = services.create_environment(
        deployment=deployment, name="qa", promotes_to=production, actor=actor
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=qa, version=version, actor=actor)
    response = api.post(_url(deployment), {"from": "qa"}, token=role_token("admin"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "staging_first"
    assert not Release.objects.filter(environment=production).exists()


@pytest.mark.parametrize(
    ("source", "code"), [("production", "no_target"), ("staging", "nothing_to_promote")]
)
def test_nothing_to_promote_is_409(api, deployment, role_token, source, code):
    response = api.post(_url(deployment), {"from": source}, token=role_token("owner"))
    assert response.status_code == 409 and response.json()["error"]["code"] == code


def test_the_same_version_again_is_409(api, deployment, pipeline, role_token):
    raw = role_token("admin")
    assert api.post(_url(deployment), {"from": "staging"}, token=raw).status_code == 201
    response = api.post(_url(deployment), {"from": "staging"}, token=raw)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_active"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "required", "from"),
        ({"from": 3}, 400, "invalid", "from"),
        ({"from": "staging/../x"}, 400, "invalid_environment_name", "from"),
        ({"from": "staging", "to": ["production"]}, 400, "invalid", "to"),
        ({"from": "staging", "expected_version": "1"}, 400, "invalid", "expected_version"),
        ({"from": "staging", "expected_version": 0}, 400, "invalid", "expected_version"),
        ({"from": "staging", "version": 2}, 400, "unknown_field", "version"),
        ({"from": "qa"}, 404, "not_found", "environment"),
    ],
)
def test_bad_input_is_refused(
    api, deployment, production, pipeline, role_token, body, status, code, field
):
    response = api.post(_url(deployment), body, token=role_token("admin"))
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error.get("field")) == (code, field)
    assert Release.objects.filter(environment=production).count() == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [("outsider", 404), ("viewer", 403), ("developer", 403), ("admin", 201), ("owner", 201)],
)
def test_who_may_promote_to_production(api, deployment, pipeline, role_token, role, status):
    response = api.post(_url(deployment), {"from": "staging"}, token=role_token(role))
    assert response.status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    [("outsider", 404), ("viewer", 403), ("developer", 201), ("admin", 201)],
)
def test_who_may_promote_to_staging(api, deployment, actor, role_token, role, status):
    preview = services.create_environment(deployment=deployment, name="preview/pr-1", actor=actor)
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=preview, version=version, actor=actor)
    response = api.post(_url(deployment), {"from": "preview/pr-1"}, token=role_token(role))
    assert response.status_code == status


def test_no_token_is_401(api, deployment):
    assert api.post(_url(deployment), {"from": "staging"}).status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405 and response["Allow"] == "POST"
