"""GET /api/v1/deployments/:id/env/:key/history?environment=: never a value."""

from __future__ import annotations

import pytest

from environments import services
from tests.conftest import CANARY


def _url(deployment, key="TOKEN") -> str:
    return f"/api/v1/deployments/{deployment.pk}/env/{key}/history"


@pytest.fixture
def token_history(staging, actor, make_user):
    """TOKEN in staging: set at 2 (plain), set at 3 (the canary, secret), deleted at 4, set
    at 5 to the canary again (by another user)."""
    services.set_variable(
        environment=staging, key="TOKEN", value="first", is_secret=None, actor=actor
    )
    services.set_variable(
        environment=staging, key="TOKEN", value=CANARY, is_secret=True, actor=actor
    )
    services.delete_variable(environment=staging, key="TOKEN", actor=actor)
    other = services.Actor(user=make_user("sam"), label="sam")
    services.set_variable(
        environment=staging, key="TOKEN", value=CANARY, is_secret=True, actor=other
    )


def test_the_history_lists_every_change_newest_first_without_a_value(
    api, deployment, token_history, role_token
):
    response = api.get(
        _url(deployment), token=role_token("viewer"), params={"environment": "staging"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["deployment"]["id"], body["environment"], body["key"]) == (
        deployment.pk,
        "staging",
        "TOKEN",
    )
    rows = [
        (
            r["revision"],
            r["action"],
            r["is_secret"],
            r["source"],
            r["actor"],
            r["same_as"],
            r["restorable"],
        )
        for r in body["history"]
    ]
    assert rows == [
        (5, "set", True, "env", "sam", 3, False),
        (4, "deleted", True, "env", "olivia", None, False),
        (3, "set", True, "env", "olivia", None, True),
        (2, "set", False, "env", "olivia", None, True),
    ]
    assert all(
        set(r)
        == {"revision", "action", "is_secret", "source", "actor", "at", "same_as", "restorable"}
        for r in body["history"]
    )
    assert CANARY.encode() not in response.content
    assert b"first" not in response.content


def test_a_binding_key_has_its_history_too(api, deployment, staging, actor, role_token):
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:pw@h/db", actor=actor
    )
    response = api.get(
        _url(deployment, "DATABASE_URL"),
        token=role_token("viewer"),
        params={"environment": "staging"},
    )
    [row] = response.json()["history"]
    assert (row["source"], row["is_secret"], row["restorable"]) == ("binding", True, False)
    assert b"pw" not in response.content


def test_a_key_never_set_there_is_404(api, deployment, token_history, role_token):
    response = api.get(
        _url(deployment), token=role_token("viewer"), params={"environment": "production"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "key"


@pytest.mark.parametrize("key", ["1BAD", "MIOSA_VERSION", "x" * 300])
def test_a_key_that_cannot_exist_is_404(api, deployment, role_token, key):
    response = api.get(
        _url(deployment, key), token=role_token("viewer"), params={"environment": "staging"}
    )
    assert response.status_code == 404


def test_the_environment_is_required(api, deployment, token_history, role_token):
    response = api.get(_url(deployment), token=role_token("viewer"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "environment"


def test_an_unknown_environment_is_404(api, deployment, token_history, role_token):
    response = api.get(_url(deployment), token=role_token("viewer"), params={"environment": "qa"})
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "environment"


@pytest.mark.parametrize(
    ("role", "status"),
    [("outsider", 404), ("viewer", 200), ("developer", 200), ("admin", 200), ("owner", 200)],
)
def test_who_may_read_the_history(api, deployment, token_history, role_token, role, status):
    response = api.get(_url(deployment), token=role_token(role), params={"environment": "staging"})
    assert response.status_code == status


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment), params={"environment": "staging"}).status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405
    assert response["Allow"] == "GET"


@pytest.mark.parametrize("revisions", [1, 200])
def test_the_query_count_does_not_grow_with_the_history(
    api, deployment, staging, actor, role_token, django_assert_num_queries, revisions
):
    for n in range(revisions):
        services.set_variable(
            environment=staging, key="K", value=f"v{n % 3}", is_secret=None, actor=actor
        )
    raw = role_token("viewer")
    api.get(_url(deployment, "K"), token=raw, params={"environment": "staging"})  # token first use
    # token, membership (with deployment), environment, the key's entries
    with django_assert_num_queries(4):
        response = api.get(_url(deployment, "K"), token=raw, params={"environment": "staging"})
    assert len(response.json()["history"]) == revisions
