"""The webhook endpoints of the JSON API (SPEC §17): the secret once, admin only, the private
address guard, the delivery log and redelivery."""

from __future__ import annotations

import json
import socket

import pytest

from environments import services
from environments.models import AuditEvent, WebhookDelivery
from environments.webhooks import delivery
from tests.conftest import CANARY

pytest_plugins = ["tests.webhook_receiver"]


@pytest.fixture
def base(deployment):
    return f"/api/v1/deployments/{deployment.pk}/webhooks"


def test_the_create_answer_holds_the_secret_once_and_listings_never(
    api, base, role_token, allow_private
):
    admin = role_token("admin")
    created = api.post(
        base,
        {"url": "http://127.0.0.1:9/h", "events": ["release.created", "config.pending"]},
        token=admin,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["release.created", "config.pending"]
    assert body["environments"] == [] and body["enabled"] is True
    listed = api.get(base, token=admin)
    assert listed.status_code == 200
    assert body["secret"] not in listed.content.decode()
    assert [row["id"] for row in listed.json()["webhooks"]] == [body["id"]]
    assert "secret" not in listed.json()["webhooks"][0]
    event = AuditEvent.objects.get(action="webhook.create")
    assert body["secret"] not in json.dumps(event.detail)
    assert event.detail["host"] == "127.0.0.1"


def test_a_private_address_is_a_400_private_address(api, base, role_token, monkeypatch):
    private = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: private)
    admin = role_token("admin")
    response = api.post(
        base, {"url": "https://hooks.example.com/x", "events": ["ping"]}, token=admin
    )
    assert response.status_code == 400  # "ping" is not an event one subscribes to
    response = api.post(
        base,
        {"url": "https://hooks.example.com/x", "events": ["release.created"]},
        token=admin,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "private_address"
    assert response.json()["error"]["field"] == "url"
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("role,status", [("viewer", 403), ("developer", 403), ("outsider", 404)])
def test_only_admins_see_or_add_webhooks(api, base, role_token, role, status, allow_private):
    token = role_token(role)
    assert api.get(base, token=token).status_code == status
    new = {"url": "http://127.0.0.1:9/h", "events": ["release.created"]}
    assert api.post(base, new, token=token).status_code == status


def test_a_wrong_method_is_a_405(api, base, role_token):
    response = api.put(base, {}, token=role_token("admin"))
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_the_delivery_log_shows_attempts_and_payload_and_redelivers(
    api, base, role_token, allow_private, receiver, deployment, staging, actor
):
    admin = role_token("admin")
    created = api.post(base, {"url": receiver.url, "events": ["release.created"]}, token=admin)
    hook = created.json()
    version = services.create_version(deployment=deployment, actor=actor)
    services.set_variable(
        environment=staging, key="TOKEN", value=CANARY, is_secret=True, actor=actor
    )
    services.deploy_version(environment=staging, version=version, actor=actor)
    receiver.answer(500)
    row = WebhookDelivery.objects.get()
    delivery.deliver(row.pk)

    log = api.get(f"{base}/{hook['id']}/deliveries", token=admin)
    assert log.status_code == 200
    assert CANARY not in log.content.decode()
    (shown,) = log.json()["deliveries"]
    assert shown["state"] == "pending" and shown["next_attempt_at"]
    assert [a["status_code"] for a in shown["attempts"]] == [500]
    assert shown["payload"]["data"]["keys"]["added"] == ["TOKEN"]

    again = api.post(f"{base}/{hook['id']}/deliveries/{row.pk}/redeliver", token=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "still_pending"
    WebhookDelivery.objects.filter(pk=row.pk).update(state="failed", next_attempt_at=None)
    again = api.post(f"{base}/{hook['id']}/deliveries/{row.pk}/redeliver", token=admin)
    assert again.status_code == 202
    assert delivery.deliver(row.pk) == "delivered"
    assert {r.headers["webhook-id"] for r in receiver.received} == {row.webhook_id}


def test_ping_is_delivered_to_that_webhook_alone(api, base, role_token, allow_private, receiver):
    admin = role_token("admin")
    hook = api.post(base, {"url": receiver.url, "events": ["rotation.stuck"]}, token=admin).json()
    ping = api.post(f"{base}/{hook['id']}/ping", token=admin)
    assert ping.status_code == 202
    assert ping.json()["event"] == "ping"
    assert delivery.deliver(ping.json()["id"]) == "delivered"
    assert json.loads(receiver.received[0].body)["type"] == "ping"


def test_delete_removes_the_webhook_and_its_log(api, base, role_token, allow_private):
    admin = role_token("admin")
    new = {"url": "http://127.0.0.1:9/h", "events": ["environment.created"]}
    hook = api.post(base, new, token=admin).json()
    api.post(f"{base}/{hook['id']}/ping", token=admin)
    assert api.delete(f"{base}/{hook['id']}", token=admin).status_code == 204
    assert not WebhookDelivery.objects.exists()
    assert api.delete(f"{base}/{hook['id']}", token=admin).status_code == 404


def test_the_listings_take_a_fixed_number_of_queries(
    api, base, role_token, allow_private, django_assert_max_num_queries
):
    admin = role_token("admin")
    hook = api.post(base, {"url": "http://127.0.0.1:9/h", "events": ["release.created"]},
                    token=admin).json()  # fmt: skip
    for _ in range(12):
        api.post(f"{base}/{hook['id']}/ping", token=admin)
    for _ in range(5):
        api.post(base, {"url": "http://127.0.0.1:9/h", "events": ["release.created"]}, token=admin)
    with django_assert_max_num_queries(8):
        assert len(api.get(base, token=admin).json()["webhooks"]) == 6
    with django_assert_max_num_queries(8):
        assert (
            len(api.get(f"{base}/{hook['id']}/deliveries", token=admin).json()["deliveries"]) == 12
        )


def test_a_disabled_webhook_is_enabled_again(api, base, role_token, allow_private):
    from django.utils import timezone

    from environments.models import WebhookEndpoint

    admin = role_token("admin")
    new = {"url": "http://127.0.0.1:9/h", "events": ["release.created"]}
    hook = api.post(base, new, token=admin).json()
    WebhookEndpoint.objects.filter(pk=hook["id"]).update(
        disabled_at=timezone.now(),
        disabled_reason="failing for 3 days",
        failing_since=timezone.now(),
    )
    assert api.get(base, token=admin).json()["webhooks"][0]["enabled"] is False
    assert api.post(f"{base}/{hook['id']}/enable", token=role_token("developer")).status_code == 403
    enabled = api.post(f"{base}/{hook['id']}/enable", token=admin)
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True and "secret" not in enabled.json()
    endpoint = WebhookEndpoint.objects.get(pk=hook["id"])
    assert (endpoint.disabled_at, endpoint.failing_since, endpoint.disabled_reason) == (
        None,
        None,
        "",
    )
    assert AuditEvent.objects.filter(action="webhook.enable").count() == 1
    again = api.post(f"{base}/{hook['id']}/enable", token=admin)  # already enabled: as it is
    assert again.status_code == 200 and again.json()["enabled"] is True
    assert AuditEvent.objects.filter(action="webhook.enable").count() == 1
    assert api.post(f"{base}/999999/enable", token=admin).status_code == 404
