"""GET/POST /api/v1/deployments/:id/bindings and DELETE …/bindings/:id: masked previews only."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Binding
from tests.conftest import CANARY

URL = f"postgres://app:{CANARY}@db.internal:5432/shop"


def _url(deployment, pk: int | None = None) -> str:
    base = f"/api/v1/deployments/{deployment.pk}/bindings"
    return f"{base}/{pk}" if pk is not None else base


def _bind(environment, actor, **kwargs) -> Binding:
    return services.create_binding(
        environment=environment,
        kind=kwargs.pop("kind", "postgres"),
        name=kwargs.pop("name", "db"),
        url=kwargs.pop("url", URL),
        actor=actor,
        **kwargs,
    )


def test_an_admin_binds_a_database_and_never_sees_its_password(
    api, deployment, staging, role_token, served
):
    response = api.post(
        _url(deployment),
        {"environment": "staging", "kind": "postgres", "url": URL},
        token=role_token("admin"),
    )
    assert response.status_code == 201
    assert CANARY.encode() not in response.content
    body = response.json()
    assert {k: body[k] for k in ("environment", "kind", "name", "variable_name", "preview")} == {
        "environment": "staging",
        "kind": "postgres",
        "name": "shop-postgres",
        "variable_name": "DATABASE_URL",
        "preview": "postgres://app:••••@db.internal:5432/shop",
    }
    assert body["is_secret"] is True and body["pending"] is False
    assert body["id"] == Binding.objects.get().pk
    assert served(staging)["env"]["DATABASE_URL"] == URL
    event = AuditEvent.objects.get(action="binding.create")
    assert event.target == "DATABASE_URL" and CANARY not in str(event.detail)


def test_a_name_and_variable_name_may_be_given(api, deployment, role_token):
    body = api.post(
        _url(deployment),
        {
            "environment": "production",
            "kind": "redis",
            "name": "cache",
            "url": "redis://:pw@cache:6379/0",
            "variable_name": "CACHE_URL",
        },
        token=role_token("admin"),
    ).json()
    assert (body["name"], body["variable_name"], body["preview"]) == (
        "cache",
        "CACHE_URL",
        "redis://:••••@cache:6379/0",
    )
    assert body["pending"] is False and body["live_release"] is None


def test_the_list_has_the_same_rows_as_the_env_list(
    api, deployment, staging, production, actor, role_token
):
    _bind(staging, actor)
    _bind(production, actor, kind="redis", url="redis://:pw@cache:6379/0")
    raw = role_token("viewer")
    response = api.get(_url(deployment), token=raw)
    assert CANARY.encode() not in response.content
    rows = response.json()["bindings"]
    assert [(r["environment"], r["variable_name"]) for r in rows] == [
        ("production", "REDIS_URL"),
        ("staging", "DATABASE_URL"),
    ]
    env = api.get(f"/api/v1/deployments/{deployment.pk}/env", token=raw).json()["variables"]
    from_env = {(v["environment"], v["key"]): v["preview"] for v in env if v["source"] == "binding"}
    assert {(r["environment"], r["variable_name"]): r["preview"] for r in rows} == from_env
    only = api.get(_url(deployment), token=raw, params={"environment": "staging"}).json()
    assert [r["variable_name"] for r in only["bindings"]] == ["DATABASE_URL"]


def test_an_undecryptable_binding_lists_without_a_preview(
    api, deployment, staging, actor, role_token
):
    binding = _bind(staging, actor)
    Binding.objects.filter(pk=binding.pk).update(ciphertext=b"\x01\x02zz" + b"\x00" * 40)
    row = api.get(_url(deployment), token=role_token("viewer")).json()["bindings"][0]
    assert row["preview"] is None and row["undecryptable"] is True


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kind": "postgres", "url": URL}, 400, "required", "environment"),
        ({"environment": "staging", "url": URL}, 400, "required", "kind"),
        ({"environment": "staging", "kind": "postgres"}, 400, "required", "url"),
        ({"environment": "staging", "kind": "mysql", "url": URL}, 400, None, "kind"),
        ({"environment": "staging", "kind": "postgres", "url": 5}, 400, "invalid", "url"),
        (
            {"environment": "staging", "kind": "postgres", "url": "https://x"},
            400,
            None,
            "url",
        ),
        (
            {"environment": "staging", "kind": "postgres", "url": URL, "variable_name": "1X"},
            400,
            None,
            "variable_name",
        ),
        (
            {"environment": "staging", "kind": "postgres", "url": URL, "password": "x"},
            400,
            "unknown_field",
            "password",
        ),
        (
            {"environment": "staging", "kind": "postgres", "url": URL, "name": "a\x00"},
            400,
            "invalid",
            "name",
        ),
        ({"environment": "qa", "kind": "postgres", "url": URL}, 404, "not_found", "environment"),
        (
            {"environment": "staging", "kind": "postgres", "url": URL, "variable_name": "TAKEN"},
            409,
            "variable_clash",
            "variable_name",
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_is_bound(
    api, deployment, staging, actor, role_token, body, status, code, field
):
    services.set_variable(environment=staging, key="TAKEN", value="1", is_secret=None, actor=actor)
    response = api.post(_url(deployment), body, token=role_token("admin"))
    assert response.status_code == status
    assert CANARY.encode() not in response.content
    error = response.json()["error"]
    assert error["field"] == field and (code is None or error["code"] == code), error
    assert not Binding.objects.exists()


def test_a_url_whose_password_parsers_read_differently_is_400_and_encoded_is_bound(
    api, deployment, staging, role_token, served
):
    """Issue 18: an unencoded '@' in the password: Python reads host 127.0.0.1, libpq password
    'p' and host 'ss@127.0.0.1'."""
    admin = role_token("admin")
    body = {"environment": "staging", "kind": "postgres"}
    response = api.post(
        _url(deployment), {**body, "url": "postgres://u:p@ss@127.0.0.1:5432/db"}, token=admin
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_binding_url" and error["field"] == "url"
    assert "percent-encode" in error["message"] and "%40" in error["message"]
    assert b"p@ss" not in response.content
    assert not Binding.objects.exists()
    encoded = "postgres://u:p%40ss@127.0.0.1:5432/db"
    response = api.post(_url(deployment), {**body, "url": encoded}, token=admin)
    assert response.status_code == 201
    assert served(staging)["env"]["DATABASE_URL"] == encoded


def test_a_second_binding_under_one_name_is_409(api, deployment, staging, actor, role_token):
    _bind(staging, actor)
    response = api.post(
        _url(deployment),
        {"environment": "staging", "kind": "postgres", "url": URL},
        token=role_token("admin"),
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "binding_exists"


def test_an_admin_deletes_a_binding(api, deployment, staging, actor, role_token, served):
    binding = _bind(staging, actor)
    response = api.delete(_url(deployment, binding.pk), token=role_token("admin"))
    assert response.status_code == 204 and response["X-Miosa-Pending"] == "false"
    assert not Binding.objects.exists()
    assert "DATABASE_URL" not in served(staging)["env"]
    assert AuditEvent.objects.get(action="binding.delete").target == "DATABASE_URL"


def test_deleting_in_staged_production_is_pending(
    api, deployment, production, live, actor, role_token
):
    binding = _bind(production, actor)
    services.apply_changes(environment=production, actor=actor)
    response = api.delete(_url(deployment, binding.pk), token=role_token("admin"))
    assert response.status_code == 204 and response["X-Miosa-Pending"] == "true"


def test_a_binding_of_another_deployment_is_404(api, deployment, make_user, actor, role_token):
    other_owner = make_user("other-owner")
    other = services.create_deployment(
        name="other-shop", actor=services.Actor(user=other_owner, label="other-owner")
    )
    binding = _bind(other.environments.get(name="staging"), actor)
    for pk in (binding.pk, 999999, 2**70):
        assert api.delete(_url(deployment, pk), token=role_token("owner")).status_code == 404
    assert Binding.objects.filter(pk=binding.pk).exists()


@pytest.mark.parametrize(
    ("role", "get", "post", "delete"),
    [
        ("outsider", 404, 404, 404),
        ("viewer", 200, 403, 403),
        ("developer", 200, 403, 403),
        ("admin", 200, 201, 204),
        ("owner", 200, 201, 204),
    ],
)
def test_who_may_see_and_manage_bindings(
    api, deployment, staging, actor, role_token, role, get, post, delete
):
    binding = _bind(staging, actor, variable_name="FIRST_URL")
    raw = role_token(role)
    assert api.get(_url(deployment), token=raw).status_code == get
    body = {"environment": "staging", "kind": "redis", "url": "redis://h"}
    assert api.post(_url(deployment), body, token=raw).status_code == post
    assert api.delete(_url(deployment, binding.pk), token=raw).status_code == delete


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment)).status_code == 401
    assert api.post(_url(deployment), {}).status_code == 401
    assert api.delete(_url(deployment, 1)).status_code == 401


@pytest.mark.parametrize(
    ("method", "pk", "allow"), [("PUT", None, "GET, POST"), ("GET", 1, "DELETE")]
)
def test_other_methods_are_405(api, deployment, role_token, method, pk, allow):
    response = api.request(method, _url(deployment, pk), token=role_token("owner"), json={})
    assert response.status_code == 405 and response["Allow"] == allow


@pytest.mark.parametrize("count", [1, 50])
def test_the_query_count_does_not_grow_with_bindings(
    api, deployment, staging, actor, role_token, django_assert_num_queries, count
):
    for n in range(count):
        _bind(staging, actor, variable_name=f"DB_{n}_URL")
    raw = role_token("viewer")
    api.get(_url(deployment), token=raw)  # token first use
    # token, membership, environments, bindings
    with django_assert_num_queries(4):
        body = api.get(_url(deployment), token=raw).json()
    assert len(body["bindings"]) == count
