"""/api/v1/deployments/:id/data-services/:sid/rotate and …/rotations/:rid[/revoke|/cancel]
(SPEC §14) against the real Redis: 202 with the counts, GET with the instances on the old
credential and what happens next, force (admin, reason), cancel, roles; never a credential."""

from __future__ import annotations

import pytest

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, Rotation
from tests.runtime import runtime_env

pytest_plugins = ["tests.data_services_support"]


def _url(deployment, service, *parts) -> str:
    return "/".join(
        [f"/api/v1/deployments/{deployment.pk}/data-services/{service.pk}", *map(str, parts)]
    )


@pytest.fixture
def shop_token(shop, owner, make_user, token_for):
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


@pytest.fixture
def cache(shop_staging, redis_server, worker, actor):
    service = worker(
        services.create_data_service, environment=shop_staging, kind="redis", actor=actor
    )
    assert worker.run() == ["ready"]
    service.refresh_from_db()
    return service


@pytest.fixture
def seen(api, shop_staging, runtime_token):
    token = runtime_token(shop_staging)

    def fetch(instance: str) -> dict:
        response = api.get(
            "/api/v1/runtime/env", token=token, headers={"X-Miosa-Instance": instance}
        )
        assert response.status_code == 200
        return response.json()["env"]

    return fetch


def test_rotate_answers_202_and_get_shows_who_is_still_on_the_old_credential(
    api, shop, shop_staging, cache, worker, shop_token, seen
):
    developer = shop_token("developer")
    old = seen("web-1")["REDIS_URL"]
    seen("web-2")
    response = worker(api.post, path=_url(shop, cache, "rotate"), token=developer)
    assert response.status_code == 202, response.content
    started = response.json()["rotation"]
    assert started["state"] == "creating"
    assert started["instances"] == {"total": 0, "on_new": 0, "on_old": 0}
    assert set(started) >= {"id", "state", "started_at", "instances", "revoke_after"}
    worker.run()
    seen("web-1")
    got = api.get(_url(shop, cache, "rotations", started["id"]), token=shop_token("viewer"))
    assert got.status_code == 200
    rotation = got.json()["rotation"]
    assert rotation["state"] == "converging"
    assert rotation["instances"] == {"total": 2, "on_new": 1, "on_old": 1}
    assert [(i["id"], i["release"]) for i in rotation["instances_on_old"]] == [("web-2", 2)]
    assert rotation["next"]["step"] == "revoke" and rotation["next"]["at"]
    new = runtime_env(type(shop_staging).objects.get(pk=shop_staging.pk))["REDIS_URL"]
    for url in (old, new):
        password = url.split(":")[2].split("@")[0]
        assert password not in got.content.decode()
    # A second rotation while this one runs: 409.
    again = api.post(_url(shop, cache, "rotate"), token=developer)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "rotation_in_progress"


def test_force_needs_an_admin_and_a_reason(api, shop, cache, worker, shop_token, seen):
    seen("web-1")
    rotation = worker(services.start_rotation, service=cache, actor=Actor.system("t"))
    worker.run()
    url = _url(shop, cache, "rotations", rotation.pk, "revoke")
    denied = api.post(url, json={"reason": "a good enough reason"}, token=shop_token("developer"))
    assert denied.status_code == 403
    admin = shop_token("admin")
    short = api.post(url, json={"reason": "too short"}, token=admin)
    assert (short.status_code, short.json()["error"]["field"]) == (400, "reason")
    missing = api.post(url, json={}, token=admin)
    assert missing.status_code == 400
    forced = worker(api.post, path=url, json={"reason": "web-1 is gone for good"}, token=admin)
    assert forced.status_code == 202
    assert forced.json()["rotation"]["forced"] is True
    assert worker.run() == ["revoked"]
    assert Rotation.objects.get().state == "revoked"
    event = AuditEvent.objects.get(action="rotation.force")
    assert event.detail["reason"] == "web-1 is gone for good"
    # Revoked: no force any more.
    late = api.post(url, json={"reason": "web-1 is gone for good"}, token=admin)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "not_forceable")


def test_cancel_binds_the_old_credential_back(
    api, shop, shop_staging, cache, worker, shop_token, seen
):
    old = seen("web-1")["REDIS_URL"]
    rotation = worker(services.start_rotation, service=cache, actor=Actor.system("t"))
    worker.run()
    response = worker(
        api.post,
        path=_url(shop, cache, "rotations", rotation.pk, "cancel"),
        token=shop_token("developer"),
    )
    assert response.status_code == 202
    assert response.json()["rotation"]["state"] == "cancelled"
    assert runtime_env(type(shop_staging).objects.get(pk=shop_staging.pk))["REDIS_URL"] == old


def test_outsiders_get_404_and_viewers_cannot_rotate(api, shop, cache, shop_token):
    assert api.post(_url(shop, cache, "rotate"), token=shop_token("outsider")).status_code == 404
    viewer = shop_token("viewer")
    assert api.post(_url(shop, cache, "rotate"), token=viewer).status_code == 403
    missing = api.get(_url(shop, cache, "rotations", 999999), token=viewer)
    assert missing.status_code == 404


def test_production_needs_an_admin(api, shop, shop_production, redis_server, worker, shop_token):
    services.deploy_version(
        environment=shop_production,
        version=shop.versions.get(),
        actor=Actor.system("t"),
    )
    service = worker(
        services.create_data_service,
        environment=shop_production,
        kind="redis",
        actor=Actor.system("t"),
    )
    worker.run()
    url = _url(shop, service, "rotate")
    assert api.post(url, token=shop_token("developer")).status_code == 403
    assert worker(api.post, path=url, token=shop_token("admin")).status_code == 202


@pytest.mark.parametrize("count", [1, 40])
def test_get_makes_the_same_queries_however_many_instances(
    api, shop, cache, worker, shop_token, seen, django_assert_max_num_queries, count
):
    for n in range(count):
        seen(f"web-{n}")
    rotation = worker(services.start_rotation, service=cache, actor=Actor.system("t"))
    worker.run()
    viewer = shop_token("viewer")
    url = _url(shop, cache, "rotations", rotation.pk)
    api.get(url, token=viewer)  # warm: the token's first use
    with django_assert_max_num_queries(12):
        got = api.get(url, token=viewer)
    assert got.json()["rotation"]["instances"]["on_old"] == count


def test_the_data_service_shows_its_rotation_schedule(api, shop, cache, shop_token, actor):
    viewer = shop_token("viewer")
    got = api.get(_url(shop, cache), token=viewer).json()["data_service"]
    assert got["rotate_every_days"] is None
    services.set_rotation_schedule(service=cache, days=30, actor=actor)
    got = api.get(_url(shop, cache), token=viewer).json()["data_service"]
    assert got["rotate_every_days"] == 30


def test_patch_sets_and_clears_the_schedule_and_is_audited(api, shop, cache, shop_token):
    developer = shop_token("developer")
    got = api.patch(_url(shop, cache), {"rotate_every_days": 30}, token=developer)
    assert got.status_code == 200, got.content
    assert got.json()["data_service"]["rotate_every_days"] == 30
    cache.refresh_from_db()
    assert cache.rotate_every_days == 30
    event = AuditEvent.objects.filter(action="data_service.schedule").latest("pk")
    assert event.detail["rotate_every_days"] == 30
    got = api.patch(_url(shop, cache), {"rotate_every_days": None}, token=developer)
    assert got.json()["data_service"]["rotate_every_days"] is None
    cache.refresh_from_db()
    assert cache.rotate_every_days is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"rotate_every_days": 0}, "invalid"),
        ({"rotate_every_days": 3651}, "invalid"),
        ({"rotate_every_days": "30"}, "invalid"),
        ({}, "required"),
        ({"rotate_every_days": 7, "name": "x"}, "unknown_field"),
    ],
)
def test_a_bad_schedule_is_a_400_and_changes_nothing(api, shop, cache, shop_token, body, code):
    services.set_rotation_schedule(service=cache, days=9, actor=Actor(user=None, label="test"))
    got = api.patch(_url(shop, cache), body, token=shop_token("owner"))
    assert got.status_code == 400, got.content
    assert got.json()["error"]["code"] == code
    cache.refresh_from_db()
    assert cache.rotate_every_days == 9


def test_a_viewer_cannot_schedule_and_production_needs_an_admin(api, shop, cache, shop_token):
    got = api.patch(_url(shop, cache), {"rotate_every_days": 5}, token=shop_token("viewer"))
    assert got.status_code == 403
    cache.refresh_from_db()
    assert cache.rotate_every_days is None


def test_create_with_a_schedule(api, shop, shop_staging, redis_server, shop_token):
    developer = shop_token("developer")
    got = api.post(
        f"/api/v1/deployments/{shop.pk}/data-services",
        {"environment": "staging", "kind": "redis", "rotate_every_days": 90},
        token=developer,
    )
    assert got.status_code == 202, got.content
    assert got.json()["data_service"]["rotate_every_days"] == 90
    bad = api.post(
        f"/api/v1/deployments/{shop.pk}/data-services",
        {"environment": "staging", "kind": "redis", "rotate_every_days": 4000},
        token=developer,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "rotate_every_days"
