"""GET /api/v1/deployments."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.actors import Actor
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
                    {
                        "name": "production",
                        "version": None,
                        "promotes_to": None,
                        "release": None,
                        "pending": 0,
                    },
                    {
                        "name": "staging",
                        "version": None,
                        "promotes_to": "production",
                        "release": None,
                        "pending": 0,
                    },
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
        {"name": "production", "version": 1, "promotes_to": None, "release": 1, "pending": 0},
        {"name": "staging", "version": 1, "promotes_to": "production", "release": 1, "pending": 0},
        {
            "name": "preview/pr-42",
            "version": 2,
            "promotes_to": "staging",
            "release": 1,
            "pending": 0,
        },
    ]


def test_each_environment_says_its_live_release_and_how_many_changes_are_pending(
    api, deployment, production, staging, actor, role_token
):
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.set_variables(
        environment=production,
        items=[
            services.VariableInput("KEPT", "same"),
            services.VariableInput("CHANGED", "old"),
            services.VariableInput("REMOVED", "x"),
            services.VariableInput("SECRET", "s1", True),
        ],
        actor=actor,
    )
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    # Staged production: three keys changed (one a secret, by fingerprint), one added, one
    # removed, and one set again to the same value (not a change).
    services.set_variables(
        environment=production,
        items=[
            services.VariableInput("CHANGED", "new"),
            services.VariableInput("SECRET", "s2"),
            services.VariableInput("KEPT", "same"),
            services.VariableInput("ADDED", "a"),
        ],
        actor=actor,
    )
    services.delete_variable(environment=production, key="REMOVED", actor=actor)
    # Staging takes changes live at once: never pending.
    services.set_variable(environment=staging, key="K", value="v", is_secret=None, actor=actor)
    environments = api.get(URL, token=role_token("viewer")).json()["deployments"][0]["environments"]
    assert [(e["name"], e["version"], e["release"], e["pending"]) for e in environments] == [
        ("production", 1, 1, 4),
        ("staging", 2, 3, 0),
    ]
    production.refresh_from_db()
    assert selectors.pending_changes(production).count == 4  # the same rule as the page


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
    # token, deployments, environments (with versions and targets), live releases
    with django_assert_num_queries(4):
        assert len(api.get(URL, token=raw).json()["deployments"]) == count


@pytest.mark.parametrize("count", [1, 20])
def test_the_query_count_does_not_grow_with_pending_changes_or_environments(
    api, owner, token_for, actor, django_assert_num_queries, count
):
    """Every deployment runs a release with pending changes in production, and has `count`
    environments more: pending changes are counted for all of them at once."""
    for n in range(count):
        deployment = services.create_deployment(name=f"app-{n}", actor=actor)
        version = services.create_version(deployment=deployment, actor=actor)
        staging, production = (
            deployment.environments.get(name=x) for x in ("staging", "production")
        )
        services.deploy_version(environment=staging, version=version, actor=actor)
        services.deploy_version(environment=production, version=version, actor=actor)
        for i in range(count):
            services.create_environment(deployment=deployment, name=f"qa-{i}", actor=actor)
        services.set_variable(
            environment=production, key="API_URL", value=f"v{n}", is_secret=None, actor=actor
        )
    raw = token_for(owner)
    api.get(URL, token=raw)
    # token, deployments, environments, live releases, the pending environments' entries
    with django_assert_num_queries(5):
        deployments = api.get(URL, token=raw).json()["deployments"]
    assert len(deployments) == count
    assert all(len(d["environments"]) == count + 2 for d in deployments)
    assert [e["pending"] for d in deployments for e in d["environments"][:1]] == [1] * count
