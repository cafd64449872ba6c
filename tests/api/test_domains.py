"""GET/POST /api/v1/deployments/:id/domains and DELETE …/domains/:hostname."""

from __future__ import annotations

import pytest

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, Domain


def _url(deployment, hostname: str = "") -> str:
    base = f"/api/v1/deployments/{deployment.pk}/domains"
    return f"{base}/{hostname}" if hostname else base


def test_an_admin_adds_a_domain(api, deployment, staging, role_token, served):
    response = api.post(
        _url(deployment),
        {"environment": "staging", "hostname": "Staging.Shop.Example"},
        token=role_token("admin"),
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["hostname"], body["environment"], body["pending"]) == (
        "staging.shop.example",
        "staging",
        False,
    )
    assert served(staging)["env"]["MIOSA_DOMAINS"] == "staging.shop.example"
    assert AuditEvent.objects.get(action="domain.add").target == "staging.shop.example"


def test_a_unicode_hostname_is_idna_encoded(api, deployment, role_token):
    body = api.post(
        _url(deployment),
        {"environment": "staging", "hostname": "bücher.example"},
        token=role_token("admin"),
    ).json()
    assert body["hostname"] == "xn--bcher-kva.example"


def test_the_apex_goes_only_to_production(api, deployment, actor, role_token):
    services.set_apex_domain(deployment=deployment, apex="shop.example", actor=actor)
    response = api.post(
        _url(deployment),
        {"environment": "staging", "hostname": "shop.example"},
        token=role_token("admin"),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "apex_production_only"


def test_a_taken_hostname_is_409_without_naming_an_unseen_deployment(
    api, deployment, make_user, role_token
):
    stranger = make_user("stranger-owner")
    actor = Actor(user=stranger, label="stranger-owner")
    secret_shop = services.create_deployment(name="secret-shop", actor=actor)
    services.add_domain(
        environment=secret_shop.environments.get(name="staging"),
        hostname="taken.example",
        actor=actor,
    )
    response = api.post(
        _url(deployment),
        {"environment": "staging", "hostname": "taken.example"},
        token=role_token("admin"),
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "domain_taken" and "secret-shop" not in error["message"]


def test_a_taken_hostname_of_a_visible_deployment_is_named(
    api, deployment, staging, actor, role_token
):
    services.add_domain(environment=staging, hostname="a.shop.example", actor=actor)
    response = api.post(
        _url(deployment),
        {"environment": "production", "hostname": "a.shop.example"},
        token=role_token("admin"),
    )
    assert response.status_code == 409
    assert "shop/staging" in response.json()["error"]["message"]


def test_the_list_and_a_filter(api, deployment, staging, production, actor, role_token):
    services.add_domain(environment=staging, hostname="b.shop.example", actor=actor)
    services.add_domain(environment=production, hostname="a.shop.example", actor=actor)
    raw = role_token("viewer")
    body = api.get(_url(deployment), token=raw).json()
    assert [(d["hostname"], d["environment"]) for d in body["domains"]] == [
        ("a.shop.example", "production"),
        ("b.shop.example", "staging"),
    ]
    only = api.get(_url(deployment), token=raw, params={"environment": "staging"}).json()
    assert [d["hostname"] for d in only["domains"]] == ["b.shop.example"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"environment": "staging"}, 400, "required", "hostname"),
        ({"hostname": "a.example"}, 400, "required", "environment"),
        ({"environment": "staging", "hostname": "localhost"}, 400, None, "hostname"),
        ({"environment": "staging", "hostname": "https://a.example/"}, 400, None, "hostname"),
        ({"environment": "staging", "hostname": ["a.example"]}, 400, "invalid", "hostname"),
        ({"environment": "staging", "hostname": "a.example", "x": 1}, 400, "unknown_field", "x"),
        ({"environment": "qa", "hostname": "a.example"}, 404, "not_found", "environment"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_added(
    api, deployment, role_token, body, status, code, field
):
    response = api.post(_url(deployment), body, token=role_token("admin"))
    assert response.status_code == status
    error = response.json()["error"]
    assert error["field"] == field and (code is None or error["code"] == code), error
    assert not Domain.objects.exists()


def test_an_admin_removes_a_domain(api, deployment, staging, actor, role_token):
    services.add_domain(environment=staging, hostname="a.shop.example", actor=actor)
    response = api.delete(_url(deployment, "A.Shop.Example"), token=role_token("admin"))
    assert response.status_code == 204 and response["X-Miosa-Pending"] == "false"
    assert not Domain.objects.exists()
    assert AuditEvent.objects.get(action="domain.remove").target == "a.shop.example"


def test_removing_a_domain_of_another_deployment_is_404(api, deployment, make_user, role_token):
    stranger = make_user("stranger-owner")
    actor = Actor(user=stranger, label="stranger-owner")
    other = services.create_deployment(name="other", actor=actor)
    services.add_domain(
        environment=other.environments.get(name="staging"), hostname="o.example", actor=actor
    )
    for host in ("o.example", "never.example", "not a host"):
        assert api.delete(_url(deployment, host), token=role_token("owner")).status_code == 404
    assert Domain.objects.filter(hostname="o.example").exists()


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
def test_who_may_see_and_manage_domains(
    api, deployment, staging, actor, role_token, role, get, post, delete
):
    services.add_domain(environment=staging, hostname="first.example", actor=actor)
    raw = role_token(role)
    assert api.get(_url(deployment), token=raw).status_code == get
    body = {"environment": "staging", "hostname": "second.example"}
    assert api.post(_url(deployment), body, token=raw).status_code == post
    assert api.delete(_url(deployment, "first.example"), token=raw).status_code == delete


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment)).status_code == 401
    assert api.post(_url(deployment), {}).status_code == 401
    assert api.delete(_url(deployment, "a.example")).status_code == 401


@pytest.mark.parametrize(
    ("method", "host", "allow"), [("PUT", "", "GET, POST"), ("GET", "a.example", "DELETE")]
)
def test_other_methods_are_405(api, deployment, role_token, method, host, allow):
    response = api.request(method, _url(deployment, host), token=role_token("owner"), json={})
    assert response.status_code == 405 and response["Allow"] == allow


@pytest.mark.parametrize("count", [1, 50])
def test_the_query_count_does_not_grow_with_domains(
    api, deployment, staging, actor, role_token, django_assert_num_queries, count
):
    for n in range(count):
        services.add_domain(environment=staging, hostname=f"d{n}.shop.example", actor=actor)
    raw = role_token("viewer")
    api.get(_url(deployment), token=raw)  # token first use
    # token, membership, environments, domains
    with django_assert_num_queries(4):
        body = api.get(_url(deployment), token=raw).json()
    assert len(body["domains"]) == count
