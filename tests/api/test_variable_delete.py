"""DELETE /api/v1/deployments/:id/env/:key?environment=<name>."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Variable
from tests.refuse_audit import refuse_audit_writes


@pytest.fixture
def variables(production, staging, actor):
    for environment in (production, staging):
        services.set_variable(
            environment=environment, key="API_URL", value="v", is_secret=None, actor=actor
        )


def _url(deployment, key="API_URL"):
    return f"/api/v1/deployments/{deployment.pk}/env/{key}"


def test_deleting_is_204_and_leaves_the_other_environment_alone(
    api, deployment, variables, role_token
):
    response = api.delete(
        _url(deployment), token=role_token("developer"), params={"environment": "staging"}
    )
    assert response.status_code == 204
    assert response.content == b""
    assert list(Variable.objects.values_list("environment__name", flat=True)) == ["production"]
    event = AuditEvent.objects.get(action="variable.delete")
    assert (event.environment_name, event.target) == ("staging", "API_URL")


def test_deleting_a_missing_key_is_404(api, deployment, variables, role_token):
    response = api.delete(
        _url(deployment, "NOPE"), token=role_token("admin"), params={"environment": "staging"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "key"


@pytest.mark.parametrize("key", ["1BAD", "MIOSA_VERSION", "a%00b", "x" * 300])
def test_a_key_that_cannot_exist_is_404(api, deployment, role_token, key):
    response = api.delete(
        _url(deployment, key), token=role_token("admin"), params={"environment": "staging"}
    )
    assert response.status_code == 404


def test_the_environment_is_required(api, deployment, variables, role_token):
    response = api.delete(_url(deployment), token=role_token("admin"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "environment"
    assert Variable.objects.count() == 2


def test_an_unknown_environment_is_404(api, deployment, role_token):
    response = api.delete(_url(deployment), token=role_token("admin"), params={"environment": "qa"})
    assert response.status_code == 404


def test_a_binding_is_not_deleted_through_the_variable_endpoint(
    api, deployment, staging, actor, role_token
):
    services.create_binding(
        environment=staging, kind="redis", name="cache", url="redis://c:6379", actor=actor
    )
    response = api.delete(
        _url(deployment, "REDIS_URL"), token=role_token("admin"), params={"environment": "staging"}
    )
    assert response.status_code == 404
    assert staging.bindings.count() == 1


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "staging", 404),
        ("viewer", "staging", 403),
        ("developer", "staging", 204),
        ("developer", "production", 403),
        ("admin", "production", 204),
        ("owner", "production", 204),
    ],
)
def test_who_may_delete_where(api, deployment, variables, role_token, role, environment, status):
    response = api.delete(
        _url(deployment), token=role_token(role), params={"environment": environment}
    )
    assert response.status_code == status
    assert Variable.objects.filter(environment__name=environment).exists() == (status != 204)


def test_no_token_is_401(api, deployment, variables):
    assert api.delete(_url(deployment), params={"environment": "staging"}).status_code == 401


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "DELETE"


def test_a_delete_fails_closed_when_the_audit_event_cannot_be_written(
    api, deployment, variables, role_token, monkeypatch
):
    raw = role_token("admin")
    refuse_audit_writes(monkeypatch, lambda *a, **k: 1 / 0)
    response = api.delete(_url(deployment), token=raw, params={"environment": "staging"})
    assert response.status_code == 500
    assert Variable.objects.count() == 2


def test_a_delete_in_staged_production_says_it_is_pending_in_a_header(
    api, deployment, variables, live, role_token
):
    raw = role_token("admin")
    response = api.delete(_url(deployment), token=raw, params={"environment": "production"})
    assert response.status_code == 204
    assert response["X-Miosa-Pending"] == "true"
    response = api.delete(_url(deployment), token=raw, params={"environment": "staging"})
    assert response["X-Miosa-Pending"] == "false"
