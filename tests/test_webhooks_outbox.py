"""The webhook outbox (SPEC §17): which change writes which event, for which endpoints, with
what payload. Every release emits release.created, a change in a staged environment
config.pending, and the audit actions below their events, in the change's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from environments import audit, services
from environments.models import WebhookDelivery
from environments.models.webhooks import EVENTS
from environments.services import webhooks as webhook_services
from environments.webhooks import outbox

pytest_plugins = ["tests.webhook_receiver"]


@pytest.fixture
def hook(deployment, actor, allow_private):
    return webhook_services.create_webhook(
        deployment=deployment, url="http://127.0.0.1:9/h", events=list(EVENTS), actor=actor
    ).endpoint


def events() -> list[tuple[str, str | None]]:
    return [
        (row.event, row.payload["data"]["environment"])
        for row in WebhookDelivery.objects.order_by("id")
    ]


def payloads(event: str) -> list[dict]:
    return [r.payload for r in WebhookDelivery.objects.filter(event=event).order_by("id")]


def test_every_kind_of_release_emits_release_created(hook, deployment, staging, production, actor):
    v1 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)  # deploy
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    services.promote(source=staging, version_number=1, actor=actor, expected_target_version=None)
    services.set_variable(environment=production, key="B", value="2", is_secret=True, actor=actor)
    services.apply_changes(environment=production, actor=actor)
    services.rollback(environment=staging, release=1, config="restore", actor=actor)
    assert events() == [
        ("release.created", "staging"),
        ("release.created", "staging"),
        ("release.created", "production"),
        ("config.pending", "production"),
        ("release.created", "production"),
        ("release.created", "staging"),
    ]
    kinds = [p["data"]["kind"] for p in payloads("release.created")]
    assert kinds == ["deploy", "config", "promote", "apply", "rollback"]
    config, promoted, applied, rolled_back = payloads("release.created")[1:]
    assert config["data"]["keys"] == {"added": ["A"], "changed": [], "removed": []}
    assert config["data"]["release"] == 2
    assert config["data"]["config_revision"] == staging.releases.get(number=2).config_revision
    assert promoted["data"]["source"] == "staging"
    assert applied["data"]["keys"]["added"] == ["B"]
    assert rolled_back["data"]["rollback_of"] == 1
    assert rolled_back["data"]["keys"] == {"added": [], "changed": [], "removed": ["A"]}
    (pending,) = payloads("config.pending")
    production.refresh_from_db()  # the apply took no new revision
    assert pending["data"] | {"timestamp": None} == pending["data"] | {
        "config_revision": production.config_revision,
        "live_release": 1,
        "keys": {"added": ["B"], "changed": [], "removed": []},
        "actor": "olivia",
        "timestamp": None,
    }
    assert set(pending) == {"type", "timestamp", "data"}


def test_a_batch_is_one_release_and_one_event(hook, deployment, staging, actor):
    v1 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    from environments.services.variables import VariableInput

    services.set_variables(
        environment=staging,
        items=[VariableInput("A", "1", False), VariableInput("B", "2", True)],
        actor=actor,
    )
    assert [e for e, _ in events()] == ["release.created", "release.created"]
    assert payloads("release.created")[1]["data"]["keys"]["added"] == ["A", "B"]


def test_environments_are_announced(hook, deployment, actor):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.delete_environment(environment=qa, actor=actor)
    assert events() == [("environment.created", "qa"), ("environment.deleted", "qa")]


@pytest.mark.parametrize(
    "action,event",
    [
        ("data_service.ready", "data_service.ready"),
        ("data_service.fail", "data_service.failed"),
        ("rotation.converged", "rotation.converged"),
        ("rotation.revoke", "rotation.revoked"),
        ("rotation.stuck", "rotation.stuck"),
        ("change_request.open", "change_request.opened"),
        ("change_request.apply", "change_request.applied"),
    ],
)
def test_audit_actions_become_their_events(hook, staging, actor, action, event):
    with transaction.atomic():
        audit.record(
            action,
            actor=actor,
            environment=staging,
            target="shop-redis",
            detail={"rotation": 3, "kind": "redis", "variable": "REDIS_URL", "url": "never"},
        )
    (row,) = WebhookDelivery.objects.all()
    assert row.event == event
    data = row.payload["data"]
    assert data["environment"] == "staging" and data["actor"] == "olivia"
    assert "url" not in data  # only the fields an event carries


def test_an_endpoint_gets_only_its_events_and_environments(deployment, staging, actor, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    only = webhook_services.create_webhook(
        deployment=deployment,
        url="http://127.0.0.1:9/p",
        events=["release.created"],
        environments=["production"],
        actor=actor,
    ).endpoint
    v1 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    assert not WebhookDelivery.objects.filter(endpoint=only).exists()


def test_nothing_is_written_without_an_endpoint(
    deployment, staging, actor, django_assert_num_queries
):
    v1 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    assert not WebhookDelivery.objects.exists()
    # The cost for a deployment without webhooks: one query per event.
    with django_assert_num_queries(1):
        outbox.emit("release.created", deployment=deployment, environment="staging",
                    data=lambda: {})  # fmt: skip
