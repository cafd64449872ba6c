"""GET /api/v1/deployments."""

from __future__ import annotations

import pytest

from environments import services
from environments.audit import Actor
from tests.conftest import ROLES

URL = "/api/v1/deployments"


def test_lists_the_deployment_with_production_then_staging(api, deployment, role_token):
    response = api.get(URL, token=role_token("owner"))
    assert response.status_code == 200
    assert response.json() == {
        "deployments": [
            {
                "id": deployment.pk,
                "name": "shop",
                "environments": [
                    {"name": "production", "version": None, "promotes_to": None},
                    {"name": "staging", "version": None, "promotes_to": "production"},
                ],
            }
        ]
    }


def test_versions_are_the_active_ones_per_environment(
    api, deployment, production, staging, actor, role_token
):
    preview = services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    v1 = services.create_version(deployment=deployment, label="a1", actor=actor)
    v2 = services.create_version(deployment=deployment, label="b2", actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    services.deploy_version(environment=preview, version=v2, actor=actor)
    environments = api.get(URL, token=role_token("viewer")).json()["deployments"][0]["environments"]
    assert environments == [
        {"name": "production", "version": 1, "promotes_to": None},
        {"name": "staging", "version": 1, "promotes_to": "production"},
        {"name": "preview/pr-42", "version": 2, "promotes_to": "staging"},
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_deployment(api, role_token, role):
    names = [d["name"] for d in api.get(URL, token=role_token(role)).json()["deployments"]]
    assert names == ["shop"]


def test_a_member_of_another_deployment_does_not_see_this_one(api, deployment, role_token):
    names = [d["name"] for d in api.get(URL, token=role_token("outsider")).json()["deployments"]]
    assert names == ["other"]


def test_a_user_without_deployments_gets_an_empty_list(api, make_user, token_for):
    response = api.get(URL, token=token_for(make_user("nobody")))
    assert response.json() == {"deployments": []}


def test_a_superuser_sees_every_deployment(api, deployment, make_user, token_for):
    root = make_user("root", superuser=True)
    services.create_deployment(name="blog", actor=Actor(user=root, label=root.get_username()))
    names = [d["name"] for d in api.get(URL, token=token_for(root)).json()["deployments"]]
    assert names == ["blog", "shop"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_405(api, role_token, method):
    response = api.request(method, URL, token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_no_token_is_401(api, deployment):
    assert api.get(URL).status_code == 401


@pytest.mark.parametrize("count", [1, 20])
def test_the_query_count_does_not_grow_with_deployments(
    api, owner, token_for, actor, django_assert_num_queries, count
):
    for n in range(count):
        services.create_deployment(name=f"app-{n}", actor=actor)
    raw = token_for(owner)
    api.get(URL, token=raw)  # last_used_at is written on first use
    # token, deployments, environments (with versions and targets)
    with django_assert_num_queries(3):
        assert len(api.get(URL, token=raw).json()["deployments"]) == count
