"""/api/v1/deployments/:id/data-services (SPEC §13) against the real PostgreSQL and Redis: create
(202), list, get, retry, delete (destroy, detach), 404 once destroyed; `managed` on the binding
in the bindings list and GET env; `data` when creating an environment; never a credential."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments import crypto, services
from environments.actors import Actor
from environments.models import AuditEvent, Binding, DataService
from environments.services.data_services import driver_names
from tests.dataservers.servers import CANARY as ADMIN_CANARY
from tests.dataservers.servers import superuser_pg

pytest_plugins = ["tests.data_services_support"]

State = DataService.State


def _url(deployment, *parts) -> str:
    return "/".join([f"/api/v1/deployments/{deployment.pk}/data-services", *map(str, parts)])


@pytest.fixture
def shop_token(shop, owner, make_user, token_for):
    """shop_token(role) -> a token of a user with that role on `shop` ("outsider": none)."""

    def make(role: str) -> str:
        if role == "owner":
            return token_for(owner)
        user = make_user(f"{role}-on-shop")
        if role != "outsider":
            services.set_member(
                deployment=shop,
                user=user,
                role=role,
                actor=Actor(user=owner, label=owner.get_username()),
            )
        return token_for(user)

    return make


def pg_exists(database: str) -> bool:
    with superuser_pg() as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        return found.fetchone() is not None


def password_of(service: DataService) -> str:
    return crypto.decrypt(service.credential_ciphertext, context=service.credential_context())


def create(api, worker, shop, token, **body) -> dict:
    response = worker(
        api.post,
        path=_url(shop),
        json={"environment": "staging", "kind": "postgres", **body},
        token=token,
    )
    assert response.status_code == 202, response.content
    return response.json()["data_service"]


# Create, list, get


def test_a_developer_creates_a_postgres_that_becomes_ready_bound_and_masked(
    api, shop, shop_staging, pg_server, worker, shop_token
):
    developer = shop_token("developer")
    created = create(api, worker, shop, developer)
    service = DataService.objects.get()
    assert created == {
        "id": service.pk,
        "environment": "staging",
        "kind": "postgres",
        "name": f"{shop.name}-postgres",
        "variable": "DATABASE_URL",
        "server": "pg",
        "state": "provisioning",
        "error": None,
        "managed": False,
        "binding": None,
        "copy_from": None,
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "ready_at": None,
        "rotate_every_days": None,
    }
    assert AuditEvent.objects.filter(action="data_service.create").count() == 1

    assert worker.run() == ["ready"]
    viewer = shop_token("viewer")
    shown = api.get(_url(shop, service.pk), token=viewer)
    assert shown.status_code == 200
    ready = shown.json()["data_service"]
    binding = Binding.objects.get(environment=shop_staging)
    assert (ready["state"], ready["managed"], ready["binding"]) == ("ready", True, binding.pk)
    assert ready["ready_at"] is not None

    bindings = api.get(f"/api/v1/deployments/{shop.pk}/bindings", token=viewer)
    [row] = bindings.json()["bindings"]
    assert (row["variable_name"], row["managed"]) == ("DATABASE_URL", True)
    assert row["preview"].startswith("postgres://") and "••••" in row["preview"]
    env = api.get(f"/api/v1/deployments/{shop.pk}/env", token=viewer).json()["variables"]
    [from_env] = [v for v in env if v["key"] == "DATABASE_URL"]
    assert (from_env["source"], from_env["managed"]) == ("binding", True)

    # Never a credential: not the service's password, not the admin URL's.
    password = password_of(service)
    for response in (shown, bindings, api.get(_url(shop), token=viewer)):
        assert password.encode() not in response.content
        assert ADMIN_CANARY.encode() not in response.content
    assert (
        password.encode() not in api.get(f"/api/v1/deployments/{shop.pk}/env", token=viewer).content
    )


def test_a_pasted_binding_is_not_managed(api, shop, shop_staging, actor, shop_token):
    services.create_binding(
        environment=shop_staging, kind="redis", name="c", url="redis://:pw@c:6379/0", actor=actor
    )
    viewer = shop_token("viewer")
    [row] = api.get(f"/api/v1/deployments/{shop.pk}/bindings", token=viewer).json()["bindings"]
    assert "managed" not in row
    env = api.get(f"/api/v1/deployments/{shop.pk}/env", token=viewer).json()["variables"]
    assert all("managed" not in v for v in env)


def test_a_name_a_variable_and_a_server_may_be_given(
    api, shop, shop_staging, pg_server, redis_server, worker, shop_token
):
    created = create(
        api,
        worker,
        shop,
        shop_token("developer"),
        kind="redis",
        server="cache",
        name="sessions",
        variable="SESSION_REDIS_URL",
    )
    assert (created["kind"], created["server"], created["name"], created["variable"]) == (
        "redis",
        "cache",
        "sessions",
        "SESSION_REDIS_URL",
    )


def test_the_list_shows_every_environment_or_one(
    api, shop, shop_staging, shop_production, pg_server, actor, shop_token
):
    for environment in (shop_staging, shop_production):
        services.create_data_service(environment=environment, kind="postgres", actor=actor)
    viewer = shop_token("viewer")
    every = api.get(_url(shop), token=viewer).json()
    assert every["deployment"] == {"id": shop.pk, "name": shop.name}
    assert sorted(s["environment"] for s in every["data_services"]) == ["production", "staging"]
    one = api.get(_url(shop), token=viewer, params={"environment": "staging"}).json()
    assert [s["environment"] for s in one["data_services"]] == ["staging"]
    missing = api.get(_url(shop), token=viewer, params={"environment": "qa"})
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "environment")
    bad = api.get(_url(shop), token=viewer, params={"environment": "Not Valid"})
    assert bad.status_code == 400


def test_the_list_costs_the_same_queries_for_1_and_20_services(
    api, shop, shop_staging, pg_server, actor, shop_token, django_assert_num_queries
):
    viewer = shop_token("viewer")
    services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    api.get(_url(shop), token=viewer)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(_url(shop), token=viewer).json()["data_services"]) == 1
    for number in range(19):
        services.create_data_service(
            environment=shop_staging, kind="postgres", variable=f"DB_{number}", actor=actor
        )
    with django_assert_num_queries(len(one)):
        assert len(api.get(_url(shop), token=viewer).json()["data_services"]) == 20


# Access


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "staging", 404),
        ("viewer", "staging", 403),
        ("developer", "staging", 202),
        ("developer", "production", 403),
        ("admin", "production", 202),
        ("owner", "production", 202),
    ],
)
def test_who_may_create(api, shop, pg_server, worker, shop_token, role, environment, status):
    response = worker(
        api.post,
        path=_url(shop),
        json={"environment": environment, "kind": "postgres"},
        token=shop_token(role),
    )
    assert response.status_code == status
    assert DataService.objects.count() == (1 if status == 202 else 0)


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("outsider", "staging", 404),
        ("viewer", "staging", 403),
        ("developer", "production", 403),
        ("admin", "production", 202),
    ],
)
def test_who_may_retry_and_delete(
    api, shop, pg_server, actor, shop_token, role, environment, status
):
    service = services.create_data_service(
        environment=shop.environments.get(name=environment), kind="postgres", actor=actor
    )
    DataService.objects.filter(pk=service.pk).update(state=State.FAILED, error="x failed: Error")
    token = shop_token(role)
    assert api.post(_url(shop, service.pk, "retry"), token=token).status_code == status
    assert api.delete(_url(shop, service.pk), token=token).status_code == status
    # Reading is for every member.
    read = api.get(_url(shop, service.pk), token=token).status_code
    assert read == (404 if role == "outsider" else 200)


@pytest.mark.parametrize(
    ("method", "parts"),
    [("PUT", ()), ("DELETE", ()), ("POST", ("{sid}",)), ("GET", ("{sid}", "retry"))],
)
def test_other_methods_are_405(
    api, shop, pg_server, actor, shop_staging, shop_token, method, parts
):
    service = services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    path = _url(shop, *(p.format(sid=service.pk) for p in parts))
    response = api.request(method, path, token=shop_token("owner"), json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_another_deployments_service_is_404(api, shop, shop_staging, pg_server, actor, owner):
    service = services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    other = services.create_deployment(name="elsewhere", actor=actor)
    _, token = services.create_api_token(user=owner, name="t", actor=actor)
    assert api.get(_url(other, service.pk), token=token).status_code == 404
    assert api.get(_url(shop, 10**30), token=token).status_code == 404


# Bad input and conflicts


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kind": "postgres"}, 400, "required", "environment"),
        ({"environment": "staging"}, 400, "required", "kind"),
        ({"environment": "staging", "kind": "mysql"}, 400, "invalid", "kind"),
        ({"environment": "staging", "kind": "postgres", "port": 1}, 400, "unknown_field", "port"),
        ({"environment": "staging", "kind": "postgres", "server": "Bad!"}, 400, None, "server"),
        ({"environment": "staging", "kind": "postgres", "variable": "1X"}, 400, None, "variable"),
        (
            {"environment": "staging", "kind": "postgres", "variable": "MIOSA_DB"},
            400,
            None,
            "variable",
        ),
        ({"environment": "staging", "kind": "postgres", "name": "n" * 101}, 400, None, "name"),
        ({"environment": "qa", "kind": "postgres"}, 404, "not_found", "environment"),
        (
            {"environment": "staging", "kind": "postgres", "copy_from": "qa"},
            404,
            "not_found",
            "copy_from",
        ),
        ({"environment": "staging", "kind": "redis"}, 409, "no_data_server", "server"),
        (
            {"environment": "staging", "kind": "postgres", "server": "nope"},
            409,
            "no_data_server",
            "server",
        ),
        (
            {"environment": "staging", "kind": "postgres", "copy_from": "production"},
            409,
            "production_data",
            "copy_from",
        ),
        (
            {"environment": "production", "kind": "postgres", "copy_from": "staging"},
            409,
            "no_source_service",
            "copy_from",
        ),
    ],
)
def test_bad_input_is_refused_with_its_field(
    api, shop, pg_server, shop_token, body, status, code, field
):
    response = api.post(_url(shop), json=body, token=shop_token("owner"))
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["field"] == field
    if code is not None:
        assert error["code"] == code
    assert not DataService.objects.exists()


def test_a_taken_variable_is_a_conflict_unless_another_is_named(
    api, shop, shop_staging, pg_server, actor, worker, shop_token
):
    services.set_variable(
        environment=shop_staging, key="DATABASE_URL", value="x", is_secret=True, actor=actor
    )
    token = shop_token("developer")
    response = api.post(
        _url(shop), json={"environment": "staging", "kind": "postgres"}, token=token
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "variable_taken",
        "message": response.json()["error"]["message"],
        "field": "variable",
    }
    assert create(api, worker, shop, token, variable="MAIN_DATABASE_URL")["variable"] == (
        "MAIN_DATABASE_URL"
    )


# Retry, destroy, detach


def test_a_failed_service_is_retried_until_ready(
    api, shop, shop_staging, pg_server, worker, shop_token
):
    token = shop_token("developer")
    created = create(api, worker, shop, token)
    DataService.objects.filter(pk=created["id"]).update(
        state=State.FAILED, error="create database failed: OperationalError"
    )
    failed = api.get(_url(shop, created["id"]), token=token).json()["data_service"]
    assert (failed["state"], failed["error"]) == (
        "failed",
        "create database failed: OperationalError",
    )
    response = worker(api.post, path=_url(shop, created["id"], "retry"), token=token)
    assert response.status_code == 202
    assert (response.json()["data_service"]["state"], response.json()["data_service"]["error"]) == (
        "provisioning",
        None,
    )
    assert "ready" in worker.run()
    assert DataService.objects.get().state == State.READY
    again = api.post(_url(shop, created["id"], "retry"), token=token)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_failed")


def test_destroy_answers_destroying_then_the_service_is_gone(
    api, shop, shop_staging, pg_server, worker, shop_token
):
    token = shop_token("developer")
    created = create(api, worker, shop, token)
    assert worker.run() == ["ready"]
    service = DataService.objects.get()
    database = driver_names(service).database
    assert pg_exists(database)
    response = worker(api.delete, path=_url(shop, service.pk), token=token)
    assert response.status_code == 202
    answer = response.json()["data_service"]
    assert (answer["state"], answer["managed"]) == ("destroying", False)
    assert not Binding.objects.filter(environment=shop_staging).exists()
    assert api.get(_url(shop, created["id"]), token=token).json()["data_service"]["state"] == (
        "destroying"
    )
    worker.run()
    assert api.get(_url(shop, created["id"]), token=token).status_code == 404
    assert api.delete(_url(shop, created["id"]), token=token).status_code == 404
    assert not DataService.objects.filter(pk=created["id"]).exists()
    assert not pg_exists(database)


def test_detach_keeps_the_resource_and_removes_the_binding(
    api, shop, shop_staging, pg_server, worker, shop_token
):
    token = shop_token("developer")
    created = create(api, worker, shop, token)
    not_ready = api.delete(_url(shop, created["id"]), token=token, params={"mode": "detach"})
    assert (not_ready.status_code, not_ready.json()["error"]["code"]) == (409, "not_ready")
    assert worker.run() == ["ready"]
    bad = api.delete(_url(shop, created["id"]), token=token, params={"mode": "keep"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "mode")
    response = api.delete(_url(shop, created["id"]), token=token, params={"mode": "detach"})
    assert response.status_code == 202
    assert response.json()["data_service"]["state"] == "detached"
    assert not Binding.objects.filter(environment=shop_staging).exists()
    service = DataService.objects.get()
    assert pg_exists(driver_names(service).database)
    # Clean up what the detach kept.
    worker(api.delete, path=_url(shop, service.pk), token=token)
    worker.run()
    assert not pg_exists(driver_names(service).database)


# Creating an environment with data


def test_a_preview_gets_a_copy_of_stagings_database(
    api, shop, shop_staging, pg_server, worker, shop_token
):
    token = shop_token("developer")
    create(api, worker, shop, token)
    assert worker.run() == ["ready"]
    response = worker(
        api.post,
        path=f"/api/v1/deployments/{shop.pk}/environments",
        json={"name": "preview/pr-1", "copy_from": "staging", "data": "copy"},
        token=token,
    )
    assert response.status_code == 201, response.content
    copy = api.get(_url(shop), token=token, params={"environment": "preview/pr-1"}).json()
    [service] = copy["data_services"]
    assert (service["copy_from"], service["state"], service["variable"]) == (
        "staging",
        "provisioning",
        "DATABASE_URL",
    )
    assert worker.run() == ["ready"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"copy_from": "production", "data": "copy"}, 409, "production_data", "data"),
        ({"data": "copy"}, 400, "invalid", "data"),
        ({"copy_from": "staging", "data": "sideways"}, 400, "invalid", "data"),
    ],
)
def test_data_on_environment_create_is_checked(api, shop, shop_token, body, status, code, field):
    response = api.post(
        f"/api/v1/deployments/{shop.pk}/environments",
        json={"name": "preview/pr-2", **body},
        token=shop_token("admin"),
    )
    assert response.status_code == status, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert not shop.environments.filter(name="preview/pr-2").exists()


def test_data_none_gives_a_copy_no_services(api, shop, shop_staging, pg_server, worker, shop_token):
    token = shop_token("developer")
    create(api, worker, shop, token)
    assert worker.run() == ["ready"]
    response = worker(
        api.post,
        path=f"/api/v1/deployments/{shop.pk}/environments",
        json={"name": "preview/pr-3", "copy_from": "staging", "data": "none"},
        token=token,
    )
    assert response.status_code == 201
    assert not DataService.objects.filter(environment__name="preview/pr-3").exists()
