"""Rotation on the pages (SPEC §14), on the real Redis: the data service's page shows "rotating: N
of M instances on the new credential", the instances still on the old one and what happens next;
Rotate, Force revoke and Cancel ask in place; the environment page sums it up; roles; never a
credential on a page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from environments import services
from environments.dataservers import parse_url
from environments.models import Role, Rotation
from tests.runtime import runtime_env

from .conftest import HX, expected_status

pytest_plugins = ["tests.data_services_support"]


@pytest.fixture
def cache(deployment, staging, actor, prefixed, redis_server, worker):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    service = worker(services.create_data_service, environment=staging, kind="redis", actor=actor)
    assert worker.run() == ["ready"]
    service.refresh_from_db()
    return service


@pytest.fixture
def boot(staging, actor):
    """boot(instance): a runtime fetch of staging by that instance."""
    _, raw = services.create_runtime_token(environment=staging, name="web", actor=actor)

    def fetch(instance: str) -> None:
        response = Client().get(
            "/api/v1/runtime/env",
            headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": instance},
        )
        assert response.status_code == 200

    return fetch


def _url(deployment, view, **kwargs) -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": "staging", **kwargs})


@pytest.mark.parametrize("role", ["outsider", *Role.values])
def test_every_member_sees_the_page_and_developers_may_rotate(as_role, deployment, cache, role):
    client = as_role(role)
    response = client.get(_url(deployment, "data_service_page", pk=cache.pk))
    assert response.status_code == expected_status(role, Role.VIEWER)
    if response.status_code == 200:
        has_button = "?confirm=rotate" in response.content.decode()
        assert has_button == (role != Role.VIEWER)
    rotate = client.post(_url(deployment, "data_service_rotate", pk=cache.pk), **HX)
    assert rotate.status_code == expected_status(role, Role.DEVELOPER)


def test_the_page_follows_the_rotation_and_never_shows_a_credential(
    as_role, deployment, staging, cache, worker, boot
):
    client = as_role(Role.ADMIN)
    page = _url(deployment, "data_service_page", pk=cache.pk)
    boot("web-1")
    boot("web-2")
    asked = client.get(page + "?confirm=rotate", **HX)
    body = asked.content.decode()
    assert asked.status_code == 200 and body.lstrip().startswith('<section id="rotation"')
    assert "Rotate shop-redis" in body or f"Rotate {cache.name}" in body
    assert "confirm(" not in body
    worker(client.post, path=_url(deployment, "data_service_rotate", pk=cache.pk), **HX)
    worker.run()
    boot("web-1")
    shown = client.get(page, **HX).content.decode()
    assert "rotating: 1 of 2 instances on the new credential" in shown
    assert "web-2" in shown and 'hx-trigger="every 2s"' in shown
    assert "Next:" in shown
    full = client.get(reverse("environment", args=[deployment.pk, "staging"])).content.decode()
    assert 'id="rotations"' in full
    assert "rotating: 1 of 2 instances on the new credential" in full
    section = client.get(_url(deployment, "environment_rotations"), **HX).content.decode()
    assert "rotating: 1 of 2" in section and "web-2" in section
    new = parse_url(
        runtime_env(type(staging).objects.get(pk=staging.pk))["REDIS_URL"], schemes=("redis",)
    )
    rotation = Rotation.objects.get()
    old = parse_url(rotation.unseal("old_url"), schemes=("redis",))
    for body in (shown, full, section):
        assert new.password not in body and old.password not in body


def test_force_revoke_asks_for_a_reason_in_place(as_role, deployment, cache, worker, boot):
    boot("web-1")
    worker(services.start_rotation, service=cache, actor=services.Actor.system("t"))
    worker.run()
    rotation = Rotation.objects.get()
    client = as_role(Role.ADMIN)
    page = _url(deployment, "data_service_page", pk=cache.pk)
    asked = client.get(page + "?confirm=revoke", **HX).content.decode()
    assert 'name="reason"' in asked and "Revoke now" in asked
    url = _url(deployment, "rotation_revoke", pk=cache.pk, rotation_id=rotation.pk)
    refused = client.post(url, {"reason": "short"}, **HX)
    assert refused.status_code == 400 and 'name="reason"' in refused.content.decode()
    done = worker(client.post, path=url, data={"reason": "web-1 is gone for good"}, **HX)
    assert done.status_code == 200
    assert Rotation.objects.get().forced_at is not None
    assert worker.run() == ["revoked"]


def test_a_developer_may_not_force_but_may_cancel(as_role, deployment, cache, worker, boot):
    boot("web-1")
    worker(services.start_rotation, service=cache, actor=services.Actor.system("t"))
    worker.run()
    rotation = Rotation.objects.get()
    client = as_role(Role.DEVELOPER)
    page = client.get(_url(deployment, "data_service_page", pk=cache.pk)).content.decode()
    assert "Force revoke" not in page and "Cancel rotation" in page
    url = _url(deployment, "rotation_revoke", pk=cache.pk, rotation_id=rotation.pk)
    assert client.post(url, {"reason": "a long enough reason"}, **HX).status_code == 403
    cancel = _url(deployment, "rotation_cancel", pk=cache.pk, rotation_id=rotation.pk)
    response = worker(client.post, path=cancel, **HX)
    assert response.status_code == 200
    assert Rotation.objects.get().state == "cancelled"
    # Without JavaScript: a plain POST redirects back to the page.
    schedule = client.post(
        _url(deployment, "data_service_schedule", pk=cache.pk), {"rotate_every_days": "30"}
    )
    assert schedule.status_code == 302
    cache.refresh_from_db()
    assert cache.rotate_every_days == 30
