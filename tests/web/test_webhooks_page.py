"""The Webhooks page (SPEC §17): admins only; the signing secret shown once; the delivery log
with attempts, status, duration, next retry and payload (no value); ping, redeliver, disable
notice, delete asked in place."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from environments import services
from environments.models import Role, WebhookDelivery, WebhookEndpoint
from environments.services import webhooks as webhook_services
from environments.webhooks import delivery
from tests.conftest import CANARY

from .conftest import HX, expected_status

pytest_plugins = ["tests.webhook_receiver"]


def page(deployment, view="webhooks", **kwargs):
    return reverse(view, kwargs={"deployment_id": deployment.pk, **kwargs})


@pytest.mark.parametrize("role", ["viewer", "developer", "admin", "owner", "outsider"])
def test_only_admins_see_the_page_and_its_tab(as_role, deployment, role):
    client = as_role(role)
    response = client.get(page(deployment))
    assert response.status_code == expected_status(role, Role.ADMIN)
    if role != "outsider":
        tabs = client.get(reverse("deployment", args=[deployment.pk])).content.decode()
        assert ('href="' + page(deployment) + '"' in tabs) == (response.status_code == 200)


def test_the_page_refuses_other_methods(as_role, deployment):
    assert as_role(Role.ADMIN).put(page(deployment)).status_code == 405


def test_adding_shows_the_secret_once(as_role, deployment, allow_private):
    client = as_role(Role.ADMIN)
    response = client.post(
        page(deployment),
        {"url": "http://127.0.0.1:9/hook", "events": ["release.created", "rotation.stuck"]},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", response.content.decode()).group(0)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secrets(now=timezone.now()) == [secret]
    assert endpoint.events == ["release.created", "rotation.stuck"]
    again = client.get(page(deployment)).content.decode()
    assert secret not in again and "http://127.0.0.1:9/hook" in again


def test_a_refused_url_is_shown_next_to_the_field(as_role, deployment):
    response = as_role(Role.ADMIN).post(
        page(deployment), {"url": "http://127.0.0.1:9/hook", "events": ["release.created"]}
    )
    assert response.status_code == 400
    assert "https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_attempts_and_the_payload_without_a_value(
    as_role, deployment, staging, actor, allow_private, receiver, django_assert_max_num_queries
):
    hook = webhook_services.create_webhook(
        deployment=deployment, url=receiver.url, events=["release.created"], actor=actor
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.set_variable(
        environment=staging, key="TOKEN", value=CANARY, is_secret=True, actor=actor
    )
    for _ in range(3):
        other = services.create_version(deployment=deployment, actor=actor)
        services.deploy_version(environment=staging, version=other, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    receiver.answer(500)
    for row in WebhookDelivery.objects.all():
        delivery.deliver(row.pk)
    client = as_role(Role.ADMIN)
    with django_assert_max_num_queries(12):
        response = client.get(page(deployment, "webhook", pk=hook.endpoint.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert CANARY not in html
    assert "500 in" in html and "200 in" in html and "HTTP 500" in html
    assert "&quot;release.created&quot;" in html  # the payload, escaped
    assert "TOKEN" in html  # keys by name
    retrying = WebhookDelivery.objects.get(state="pending")
    assert f"{retrying.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" in html


def test_ping_redeliver_and_delete(as_role, deployment, actor, allow_private, receiver):
    hook = webhook_services.create_webhook(
        deployment=deployment, url=receiver.url, events=["release.created"], actor=actor
    ).endpoint
    client = as_role(Role.ADMIN)
    response = client.post(page(deployment, "webhook_ping", pk=hook.pk), **HX)
    assert response.status_code == 200
    assert "A ping is on its way" in response.content.decode()
    ping = WebhookDelivery.objects.get(event="ping")
    redeliver = page(deployment, "webhook_redeliver", pk=hook.pk, delivery_id=ping.pk)
    refused = client.post(redeliver, **HX)
    assert refused.status_code == 409
    assert "still pending" in refused.content.decode()
    assert delivery.deliver(ping.pk) == "delivered"
    assert client.post(redeliver, **HX).status_code == 200
    ping.refresh_from_db()
    assert ping.state == "pending"

    asked = client.get(page(deployment, "webhook", pk=hook.pk) + "?delete=1", **HX)
    assert "Delete this webhook?" in asked.content.decode()
    # Without JavaScript, the POST asks first; confirmed, it deletes.
    delete = page(deployment, "webhook_delete", pk=hook.pk)
    assert WebhookEndpoint.objects.exists() and client.post(delete).status_code == 200
    assert WebhookEndpoint.objects.exists()
    assert client.post(delete, {"confirmed": "yes"}).status_code == 200
    assert not WebhookEndpoint.objects.exists()


def test_a_disabled_webhook_says_why_and_can_be_enabled(
    as_role, deployment, actor, allow_private, receiver
):
    hook = webhook_services.create_webhook(
        deployment=deployment, url=receiver.url, events=["release.created"], actor=actor
    ).endpoint
    receiver.answer(500, 500)
    ping = webhook_services.ping_webhook(endpoint=hook, actor=actor)
    start = timezone.now()
    delivery.deliver(ping.pk, now=start)
    delivery.deliver(ping.pk, now=start + timedelta(days=3, minutes=1))
    client = as_role(Role.ADMIN)
    html = client.get(page(deployment, "webhook", pk=hook.pk)).content.decode()
    assert 'data-testid="webhook-disabled"' in html and "for 3 days" in html
    assert "disabled" in client.get(page(deployment)).content.decode()
    client.post(page(deployment, "webhook_enable", pk=hook.pk), **HX)
    hook.refresh_from_db()
    assert hook.enabled


def test_another_deployments_webhook_is_a_404(as_role, deployment, make_user, allow_private):
    from environments.actors import Actor

    stranger = make_user("stranger")
    theirs = services.create_deployment(name="other", actor=Actor(user=stranger, label="s"))
    hook = webhook_services.create_webhook(
        deployment=theirs,
        url="http://127.0.0.1:9/h",
        events=["release.created"],
        actor=Actor(user=stranger, label="s"),
    ).endpoint
    client = as_role(Role.OWNER)
    assert client.get(page(deployment, "webhook", pk=hook.pk)).status_code == 404
    assert client.post(page(deployment, "webhook_ping", pk=hook.pk)).status_code == 404
