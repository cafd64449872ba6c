"""POST /api/v1/deployments/:id/apply: a staged environment's pending changes go live."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Environment, Release
from tests.refuse_audit import refuse_audit_writes


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/apply"


@pytest.fixture
def pending(live, production, actor):
    services.set_variable(
        environment=production, key="API_URL", value="https://new", is_secret=None, actor=actor
    )


def test_applying_makes_the_pending_changes_live_as_a_new_release(
    api, deployment, production, pending, role_token, served
):
    assert "API_URL" not in served(production)["env"]
    response = api.post(_url(deployment), {"environment": "production"}, token=role_token("admin"))
    assert response.status_code == 201
    body = response.json()
    revision = Environment.objects.get(pk=production.pk).config_revision
    assert body == {
        "environment": "production",
        "number": 2,
        "version": 1,
        "config_revision": revision,
        "kind": "apply",
        "actor": "admin-user (token ci)",
        "created_at": body["created_at"],
    }
    runtime = served(production)
    assert runtime["env"]["API_URL"] == "https://new"
    assert (runtime["release"], runtime["config_revision"]) == (2, revision)
    event = AuditEvent.objects.get(action="release.apply")
    assert (event.environment_name, event.actor_label) == ("production", "admin-user (token ci)")


def test_the_reviewed_revision_may_be_given(api, deployment, production, pending, role_token):
    revision = Environment.objects.get(pk=production.pk).config_revision
    response = api.post(
        _url(deployment),
        {"environment": "production", "expected_revision": revision},
        token=role_token("admin"),
    )
    assert response.status_code == 201
    assert response.json()["config_revision"] == revision


@pytest.fixture
def refused(api, deployment, role_token):
    """refused(body, code) -> the 409 answer to an admin's apply, which released nothing."""

    def post(body, code):
        before = Release.objects.count()
        response = api.post(_url(deployment), body, token=role_token("admin"))
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == code
        assert Release.objects.count() == before
        assert not AuditEvent.objects.filter(action="release.apply").exists()
        return response

    return post


def test_nothing_pending_is_409_nothing_to_apply(live, refused):
    refused({"environment": "production"}, "nothing_to_apply")


def test_a_revision_that_moved_on_is_409_stale(pending, production, actor, refused):
    revision = Environment.objects.get(pk=production.pk).config_revision
    services.set_variable(environment=production, key="B", value="2", is_secret=None, actor=actor)
    response = refused({"environment": "production", "expected_revision": revision}, "stale")
    assert str(revision) in response.json()["error"]["message"]


def test_before_any_deploy_is_409_nothing_deployed(production, actor, refused):
    services.set_variable(environment=production, key="A", value="1", is_secret=None, actor=actor)
    refused({"environment": "production"}, "nothing_deployed")


def test_a_required_key_missing_is_409_naming_it(
    deployment, live, production, actor, served, refused
):
    services.set_variable(environment=production, key="A", value="1", is_secret=None, actor=actor)
    services.set_required_keys(deployment=deployment, keys=["STRIPE_KEY"], actor=actor)
    response = refused({"environment": "production"}, "missing_required_keys")
    assert "STRIPE_KEY" in response.json()["error"]["message"]
    assert "A" not in served(production)["env"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "environment"),
        ({"environment": 3}, "environment"),
        ({"environment": "Prod"}, "environment"),
        ({"environment": "production", "expected_revision": "3"}, "expected_revision"),
        ({"environment": "production", "expected_revision": True}, "expected_revision"),
        ({"environment": "production", "expected_revision": 0}, "expected_revision"),
        ({"environment": "production", "expected_revision": 2.5}, "expected_revision"),
        ({"environment": "production", "expected_revision": None}, "expected_revision"),
        ({"environment": "production", "force": True}, "force"),
    ],
)
def test_bad_input_is_400_and_applies_nothing(
    api, deployment, pending, production, role_token, body, field, served
):
    response = api.post(_url(deployment), body, token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert "API_URL" not in served(production)["env"]


def test_an_unknown_environment_is_404(api, deployment, live, role_token):
    response = api.post(_url(deployment), {"environment": "qa"}, token=role_token("owner"))
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "environment"


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "production", 404),
        ("outsider", "staging", 404),
        ("viewer", "staging", 403),
        ("viewer", "production", 403),
        ("developer", "production", 403),
        ("developer", "staging", 201),
        ("admin", "production", 201),
        ("owner", "production", 201),
    ],
)
def test_who_may_apply_where(
    api, deployment, live, staging, production, actor, role_token, role, environment, status
):
    target = production if environment == "production" else staging
    # Staging takes changes live at once; made staged here, it has something to apply too.
    services.set_config_changes(environment=staging, mode="staged", actor=actor)
    services.set_variable(environment=target, key="K", value="v", is_secret=None, actor=actor)
    response = api.post(_url(deployment), {"environment": environment}, token=role_token(role))
    assert response.status_code == status
    assert Release.objects.filter(environment=target, kind="apply").exists() == (status == 201)


def test_no_token_is_401(api, deployment, live):
    assert api.post(_url(deployment), {"environment": "production"}).status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_an_apply_fails_closed_when_the_audit_event_cannot_be_written(
    api, deployment, pending, production, role_token, monkeypatch, served
):
    raw = role_token("owner")
    refuse_audit_writes(monkeypatch, lambda *a, **k: 1 / 0)
    response = api.post(_url(deployment), {"environment": "production"}, token=raw)
    assert response.status_code == 500
    monkeypatch.undo()
    assert Release.objects.filter(kind="apply").count() == 0
    assert "API_URL" not in served(production)["env"]
