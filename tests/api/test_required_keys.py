"""GET/PUT /api/v1/deployments/:id/required-keys: the keys every release must define."""

from __future__ import annotations

import pytest

from environments import services
from environments.errors import Conflict
from environments.models import AuditEvent, Deployment


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/required-keys"


def _stored(deployment) -> list[str]:
    return Deployment.objects.get(pk=deployment.pk).required_keys


def test_none_are_required_at_first(api, deployment, role_token):
    response = api.get(_url(deployment), token=role_token("viewer"))
    assert response.status_code == 200
    assert response.json() == {"deployment": {"id": deployment.pk, "name": "shop"}, "keys": []}


def test_putting_keys_stores_them_sorted_once_each_and_is_audited(api, deployment, role_token):
    raw = role_token("admin")
    response = api.put(
        _url(deployment), {"keys": ["STRIPE_KEY", "API_URL", "STRIPE_KEY"]}, token=raw
    )
    assert response.status_code == 200
    assert response.json()["keys"] == ["API_URL", "STRIPE_KEY"]
    assert api.get(_url(deployment), token=raw).json()["keys"] == ["API_URL", "STRIPE_KEY"]
    event = AuditEvent.objects.get(action="required_keys.set")
    assert (event.target, event.actor_label) == ("API_URL,STRIPE_KEY", "admin-user (token ci)")


def test_an_empty_list_requires_nothing(api, deployment, actor, role_token):
    services.set_required_keys(deployment=deployment, keys=["A"], actor=actor)
    response = api.put(_url(deployment), {"keys": []}, token=role_token("owner"))
    assert response.json()["keys"] == [] and _stored(deployment) == []


def test_a_deploy_without_a_required_key_is_then_refused(
    api, deployment, staging, actor, role_token
):
    api.put(_url(deployment), {"keys": ["API_URL"]}, token=role_token("owner"))
    version = services.create_version(deployment=deployment, actor=actor)
    with pytest.raises(Conflict) as excinfo:
        services.deploy_version(environment=staging, version=version, actor=actor)
    assert excinfo.value.code == "missing_required_keys"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "keys"),
        ({"keys": "API_URL"}, "keys"),
        ({"keys": None}, "keys"),
        ({"keys": ["API_URL", 3]}, "keys[1]"),
        ({"keys": ["1BAD"]}, "keys[0]"),
        ({"keys": ["MIOSA_VERSION"]}, "keys[0]"),
        ({"keys": [f"K{n}" for n in range(501)]}, "keys"),
        ({"keys": ["A"], "environment": "staging"}, "environment"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(api, deployment, actor, role_token, body, field):
    services.set_required_keys(deployment=deployment, keys=["KEEP"], actor=actor)
    response = api.put(_url(deployment), body, token=role_token("owner"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert _stored(deployment) == ["KEEP"]
    assert AuditEvent.objects.filter(action="required_keys.set").count() == 1


@pytest.mark.parametrize(
    ("role", "get", "put"),
    [
        ("outsider", 404, 404),
        ("viewer", 200, 403),
        ("developer", 200, 403),
        ("admin", 200, 200),
        ("owner", 200, 200),
    ],
)
def test_who_may_read_and_set_them(api, deployment, role_token, role, get, put):
    raw = role_token(role)
    assert api.get(_url(deployment), token=raw).status_code == get
    assert api.put(_url(deployment), {"keys": ["API_URL"]}, token=raw).status_code == put
    assert (_stored(deployment) == ["API_URL"]) == (put == 200)


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment)).status_code == 401
    assert api.put(_url(deployment), {"keys": []}).status_code == 401


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "GET, PUT"
