"""GET /api/v1/deployments/:id/releases?environment=: newest first, paged by `before`."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import Environment, Release


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/releases"


def _releases(environment, actor, count: int) -> None:
    """`count` releases: a deploy, then config changes (staging takes them live at once)."""
    version = services.create_version(deployment=environment.deployment, actor=actor)
    services.deploy_version(environment=environment, version=version, actor=actor)
    for n in range(count - 1):
        services.set_variable(
            environment=environment, key="K", value=str(n), is_secret=None, actor=actor
        )


def test_every_kind_of_release_is_listed_newest_first(
    api, deployment, staging, production, live, actor, role_token
):
    services.set_variable(environment=production, key="A", value="1", is_secret=None, actor=actor)
    services.apply_changes(environment=production, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)
    services.promote(source=staging, version_number=2, actor=actor, expected_target_version=1)
    services.rollback(environment=production, release=1, config="keep", actor=actor)
    response = api.get(
        _url(deployment), token=role_token("viewer"), params={"environment": "production"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["deployment"]["id"], body["environment"], body["next"]) == (
        deployment.pk,
        "production",
        None,
    )
    revision = Environment.objects.get(pk=production.pk).config_revision
    assert [
        (r["number"], r["kind"], r["version"], r["config_revision"], r.get("rollback_of"))
        for r in body["releases"]
    ] == [
        (4, "rollback", 1, revision, 1),
        (3, "promote", 2, revision, None),
        (2, "apply", 1, revision, None),
        (1, "deploy", 1, 1, None),
    ]
    assert {r["environment"] for r in body["releases"]} == {"production"}
    assert {r["actor"] for r in body["releases"]} == {"olivia"}


def test_an_environment_without_releases_has_an_empty_list(api, deployment, role_token):
    response = api.get(
        _url(deployment), token=role_token("viewer"), params={"environment": "staging"}
    )
    assert response.json()["releases"] == [] and response.json()["next"] is None


def test_pages_follow_next_until_null(api, deployment, staging, actor, role_token):
    _releases(staging, actor, 7)
    raw = role_token("viewer")
    seen, before, pages = [], None, 0
    while True:
        params = {"environment": "staging", "limit": "3"}
        if before is not None:
            params["before"] = str(before)
        body = api.get(_url(deployment), token=raw, params=params).json()
        seen += [r["number"] for r in body["releases"]]
        pages += 1
        before = body["next"]
        if before is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1] and pages == 3


def test_a_full_last_page_has_no_next(api, deployment, staging, actor, role_token):
    _releases(staging, actor, 3)
    body = api.get(
        _url(deployment),
        token=role_token("viewer"),
        params={"environment": "staging", "limit": "3"},
    ).json()
    assert len(body["releases"]) == 3 and body["next"] is None


def test_the_default_page_is_50_and_the_largest_100(api, deployment, staging, actor, role_token):
    _releases(staging, actor, 101)
    raw = role_token("viewer")
    body = api.get(_url(deployment), token=raw, params={"environment": "staging"}).json()
    assert len(body["releases"]) == 50 and body["next"] == 52
    body = api.get(
        _url(deployment), token=raw, params={"environment": "staging", "limit": "100"}
    ).json()
    assert len(body["releases"]) == 100 and body["next"] == 2
    body = api.get(
        _url(deployment), token=raw, params={"environment": "staging", "before": "2"}
    ).json()
    assert [r["number"] for r in body["releases"]] == [1] and body["next"] is None


def test_a_before_beyond_every_release_starts_at_the_newest(
    api, deployment, staging, actor, role_token
):
    _releases(staging, actor, 2)
    body = api.get(
        _url(deployment),
        token=role_token("viewer"),
        params={"environment": "staging", "before": "9" * 19},
    ).json()
    assert [r["number"] for r in body["releases"]] == [2, 1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "environment"),
        ({"environment": "Prod"}, "environment"),
        ({"environment": "staging", "limit": "0"}, "limit"),
        ({"environment": "staging", "limit": "101"}, "limit"),
        ({"environment": "staging", "limit": "ten"}, "limit"),
        ({"environment": "staging", "limit": "-1"}, "limit"),
        ({"environment": "staging", "before": "0"}, "before"),
        ({"environment": "staging", "before": "1.5"}, "before"),
        ({"environment": "staging", "before": "٣"}, "before"),
        ({"environment": "staging", "before": "9" * 40}, "before"),
    ],
)
def test_bad_parameters_are_400(api, deployment, role_token, params, field):
    response = api.get(_url(deployment), token=role_token("viewer"), params=params)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_an_unknown_environment_is_404(api, deployment, role_token):
    response = api.get(_url(deployment), token=role_token("viewer"), params={"environment": "qa"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [("outsider", 404), ("viewer", 200), ("developer", 200), ("admin", 200), ("owner", 200)],
)
def test_who_may_list_releases(api, deployment, live, role_token, role, status):
    response = api.get(_url(deployment), token=role_token(role), params={"environment": "staging"})
    assert response.status_code == status


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment), params={"environment": "staging"}).status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "GET"


@pytest.mark.parametrize("count", [1, 200])
def test_the_query_count_does_not_grow_with_releases(
    api, deployment, staging, actor, role_token, django_assert_num_queries, count
):
    _releases(staging, actor, count)
    assert Release.objects.filter(environment=staging).count() == count
    raw = role_token("viewer")
    params = {"environment": "staging", "limit": "100"}
    api.get(_url(deployment), token=raw, params=params)  # token first use
    # token, membership (with deployment), environment, a page of releases (with versions)
    with django_assert_num_queries(4):
        body = api.get(_url(deployment), token=raw, params=params).json()
    assert len(body["releases"]) == min(count, 100)
