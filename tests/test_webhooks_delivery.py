"""Webhook delivery (SPEC §17) to a real receiver on 127.0.0.1, verified with the
`standardwebhooks` library as a receiver would: signature, retries with one webhook-id, a
timeout, no redirects, the outbox's transaction, the private-address guard, disabling after 3
days of failure, and a burst drained by the worker."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook

from environments import services
from environments.errors import Invalid
from environments.models import AuditEvent, WebhookAttempt, WebhookDelivery
from environments.services import webhooks as webhook_services
from environments.webhooks import delivery
from tests.conftest import CANARY

pytest_plugins = ["tests.webhook_receiver", "tests.data_services_support"]

State = WebhookDelivery.State


@pytest.fixture
def v1(deployment, staging, actor):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    return version


def add_hook(deployment, actor, url, events=("release.created",), environments=None):
    return webhook_services.create_webhook(
        deployment=deployment,
        url=url,
        events=list(events),
        environments=environments,
        actor=actor,
    )


def only_delivery() -> WebhookDelivery:
    (row,) = WebhookDelivery.objects.all()
    return row


def verified(hook, received) -> dict:
    return Webhook(hook.secret).verify(received.body, received.headers)


def test_a_release_is_delivered_signed_and_verifies(
    allow_private, receiver, deployment, staging, actor, v1
):
    hook = add_hook(deployment, actor, receiver.url)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)

    row = only_delivery()
    assert delivery.deliver(row.pk) == "delivered"

    (got,) = receiver.received
    assert got.path == "/hooks/miosa"
    assert got.headers["webhook-id"] == row.webhook_id
    assert got.headers["webhook-signature"].startswith("v1,")
    event = verified(hook, got)
    assert event["type"] == "release.created"
    assert event["data"]["deployment"] == {"id": deployment.pk, "name": "shop"}
    assert event["data"]["environment"] == "staging"
    assert event["data"] | {"keys": None} == event["data"] | {
        "release": 2,
        "kind": "deploy",
        "version": v2.number,
        "from_version": v1.number,
        "actor": "olivia",
        "keys": None,
    }
    row.refresh_from_db()
    assert row.state == State.DELIVERED and row.next_attempt_at is None
    (attempt,) = row.attempt_log.all()
    assert attempt.status_code == 200 and attempt.error == ""


def test_a_signature_made_with_another_secret_does_not_verify(
    allow_private, receiver, deployment, staging, actor, v1
):
    add_hook(deployment, actor, receiver.url)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    delivery.deliver(only_delivery().pk)
    other = webhook_services.new_secret()
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(other).verify(receiver.received[0].body, receiver.received[0].headers)


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(
    allow_private, receiver, deployment, staging, actor, v1
):
    hook = add_hook(deployment, actor, receiver.url)
    receiver.answer(500, 500, 200)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()

    now = timezone.now()
    assert delivery.deliver(row.pk, now=now) == "retrying"
    row.refresh_from_db()
    first_wait = row.next_attempt_at - now
    # Base 5 s, jittered by ±20% (the attempt's duration comes on top).
    assert timedelta(seconds=4) <= first_wait <= timedelta(seconds=7)
    assert delivery.deliver(row.pk, now=now) == "not due"
    assert delivery.deliver(row.pk, now=row.next_attempt_at) == "retrying"
    row.refresh_from_db()
    assert row.next_attempt_at - now > first_wait  # it doubled
    assert delivery.deliver(row.pk, now=row.next_attempt_at) == "delivered"

    assert len(receiver.received) == 3
    assert {r.headers["webhook-id"] for r in receiver.received} == {row.webhook_id}
    for got in receiver.received:
        assert verified(hook, got)["type"] == "release.created"
    codes = list(WebhookAttempt.objects.filter(delivery=row).values_list("status_code", flat=True))
    assert codes == [500, 500, 200]
    # A run of the task after it was delivered sends nothing more.
    assert delivery.deliver(row.pk) == "delivered"
    assert len(receiver.received) == 3


def test_the_retries_run_out_after_a_day_and_the_delivery_fails(
    allow_private, receiver, deployment, staging, actor, v1, settings
):
    add_hook(deployment, actor, receiver.url)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    receiver.answer(*[503] * 40)
    outcomes, now = [], timezone.now()
    while (outcome := delivery.deliver(row.pk, now=now)) == "retrying":
        outcomes.append(outcome)
        row.refresh_from_db()
        assert row.next_attempt_at - now <= timedelta(days=1, hours=5)
        now = row.next_attempt_at
    assert outcome == "failed"
    row.refresh_from_db()
    assert row.state == State.FAILED
    # 5 s doubling stays within a day for 15 waits: 16 attempts.
    assert row.attempts == len(receiver.received) == 16


def test_a_hanging_receiver_is_timed_out(
    allow_private, receiver, deployment, staging, actor, v1, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    add_hook(deployment, actor, receiver.url)
    receiver.answer(receiver.HANG)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    assert delivery.deliver(row.pk) == "retrying"
    (attempt,) = row.attempt_log.all()
    assert attempt.status_code is None
    assert attempt.error == "timed out"
    assert 250 <= attempt.duration_ms < 3000


def test_a_redirect_is_not_followed(allow_private, receiver, deployment, staging, actor, v1):
    add_hook(deployment, actor, receiver.url)
    receiver.answer(302)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    assert delivery.deliver(row.pk) == "retrying"
    assert len(receiver.received) == 1  # never to the Location
    (attempt,) = row.attempt_log.all()
    assert (attempt.status_code, attempt.error) == (302, "redirect not followed")


def test_a_rolled_back_change_leaves_no_delivery_and_enqueues_nothing(
    allow_private, receiver, deployment, staging, actor, v1, django_capture_on_commit_callbacks
):
    add_hook(deployment, actor, receiver.url)
    v2 = services.create_version(deployment=deployment, actor=actor)
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.deploy_version(environment=staging, version=v2, actor=actor)
        assert WebhookDelivery.objects.count() == 1  # written with the change
        raise RuntimeError("the change fails after the release")
    assert WebhookDelivery.objects.count() == 0
    assert callbacks == []
    assert not DBTaskResult.objects.exists()
    assert receiver.received == []


def test_a_committed_change_enqueues_its_delivery(
    allow_private, receiver, deployment, staging, actor, v1, worker
):
    add_hook(deployment, actor, receiver.url)
    worker(
        services.set_variable,
        environment=staging,
        key="A",
        value="1",
        is_secret=False,
        actor=actor,
    )
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1
    assert worker.run() == ["delivered"]
    assert len(receiver.received) == 1


# The private-address guard ---------------------------------------------------------------------


@pytest.fixture
def resolves_to(monkeypatch):
    """resolves_to(address): every host name resolves to `address`."""

    def point(address: str):
        def getaddrinfo(host, port, *args, **kwargs):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return point


def test_a_url_resolving_to_10_x_is_refused_at_save(deployment, actor, resolves_to):
    resolves_to("10.1.2.3")
    with pytest.raises(Invalid) as refused:
        add_hook(deployment, actor, "https://hooks.example.com/x")
    assert refused.value.code == "private_address"
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "169.254.169.254", "192.168.1.1", "172.16.0.1", "100.64.0.1", "0.0.0.0"],
)
def test_other_non_public_addresses_are_refused(deployment, actor, resolves_to, address):
    resolves_to(address)
    with pytest.raises(Invalid, match="non-public"):
        add_hook(deployment, actor, "https://hooks.example.com/x")


def test_plain_http_needs_a_setting(deployment, actor, resolves_to, settings):
    resolves_to("93.184.215.14")
    with pytest.raises(Invalid, match="https"):
        add_hook(deployment, actor, "http://hooks.example.com/x")
    settings.WEBHOOK_ALLOW_HTTP = True
    assert add_hook(deployment, actor, "http://hooks.example.com/x").secret.startswith("whsec_")


def test_a_url_resolving_to_10_x_is_refused_at_delivery_and_nothing_is_sent(
    receiver, deployment, staging, actor, v1, resolves_to, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    resolves_to("127.0.0.1")
    add_hook(deployment, actor, receiver.url.replace("127.0.0.1", "hooks.example.com"))
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    settings.WEBHOOK_ALLOW_PRIVATE, settings.WEBHOOK_ALLOW_HTTP = False, True
    resolves_to("10.9.8.7")  # the name was pointed elsewhere since
    row = only_delivery()
    assert delivery.deliver(row.pk) == "retrying"
    (attempt,) = row.attempt_log.all()
    assert (attempt.status_code, attempt.error) == (None, "private address")
    assert receiver.received == []


def test_the_delivery_connects_to_the_address_that_was_checked(
    allow_private, receiver, deployment, staging, actor, v1, monkeypatch
):
    """One lookup per attempt: the connection goes to the checked address, never to what a
    second lookup (DNS rebinding) would say."""
    port = receiver.server.server_address[1]
    lookups = []

    def getaddrinfo(host, port_, *args, **kwargs):
        if host == "127.0.0.1":  # connecting to an address looks nothing up
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port_))]
        lookups.append(host)
        address = "10.0.0.1" if len(lookups) > 2 else "127.0.0.1"  # rebound after 2 lookups
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port_))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    add_hook(deployment, actor, receiver.url.replace("127.0.0.1", "hooks.example.com"))
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert delivery.deliver(only_delivery().pk) == "delivered"
    assert lookups == ["hooks.example.com", "hooks.example.com"]  # at save, at delivery
    assert receiver.received[0].headers["Host"] == f"hooks.example.com:{port}"


# Secrets ---------------------------------------------------------------------------------------


def test_after_a_rotation_both_secrets_verify_for_a_day(
    allow_private, receiver, deployment, staging, actor, v1
):
    hook = add_hook(deployment, actor, receiver.url)
    rotated = webhook_services.rotate_webhook_secret(endpoint=hook.endpoint, actor=actor)
    assert rotated.secret != hook.secret
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    delivery.deliver(only_delivery().pk)
    got = receiver.received[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verified(hook, got)["type"] == verified(rotated, got)["type"] == "release.created"
    # A day later only the new one signs.
    endpoint = rotated.endpoint
    later = timezone.now() + timedelta(hours=24, seconds=1)
    assert len(endpoint.secrets(now=later)) == 1


def test_the_secret_is_stored_encrypted(deployment, actor, allow_private):
    hook = add_hook(deployment, actor, "http://127.0.0.1:9/x")
    assert hook.secret.encode() not in bytes(hook.endpoint.secret_ciphertext)
    assert hook.secret not in json.dumps(
        list(AuditEvent.objects.values("target", "detail")), default=str
    )


# Disabling -------------------------------------------------------------------------------------


def test_an_endpoint_failing_for_3_days_is_disabled_and_the_owners_told(
    allow_private, receiver, deployment, staging, actor, v1, owner
):
    owner.email = "olivia@example.com"
    owner.save()
    hook = add_hook(deployment, actor, receiver.url)
    receiver.answer(*[500] * 10)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    start = timezone.now()
    assert delivery.deliver(row.pk, now=start) == "retrying"
    assert delivery.deliver(row.pk, now=start + timedelta(days=2)) == "retrying"
    hook.endpoint.refresh_from_db()
    assert hook.endpoint.enabled
    with transaction.atomic():  # the email goes when the disabling commits
        pass
    assert delivery.deliver(row.pk, now=start + timedelta(days=3, seconds=1)) == "failed"
    hook.endpoint.refresh_from_db()
    assert not hook.endpoint.enabled
    assert "3 days" in hook.endpoint.disabled_reason
    row.refresh_from_db()
    assert row.state == State.FAILED
    assert AuditEvent.objects.filter(action="webhook.disable").count() == 1
    # Nothing more is written for it, and enabling it again forgets the failures.
    services.set_variable(environment=staging, key="B", value="1", is_secret=False, actor=actor)
    assert WebhookDelivery.objects.count() == 1
    webhook_services.enable_webhook(endpoint=hook.endpoint, actor=actor)
    hook.endpoint.refresh_from_db()
    assert hook.endpoint.enabled and hook.endpoint.failing_since is None


def test_the_owners_get_an_email_when_it_is_disabled(
    allow_private, receiver, deployment, staging, actor, v1, owner,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    owner.email = "olivia@example.com"
    owner.save()
    add_hook(deployment, actor, receiver.url)
    receiver.answer(*[500] * 10)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    start = timezone.now()
    delivery.deliver(row.pk, now=start)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver(row.pk, now=start + timedelta(days=3, seconds=1))
    (message,) = mail.outbox
    assert message.to == ["olivia@example.com"]
    assert "disabled" in message.subject
    assert "/hooks/miosa" not in message.body  # the host, not the URL's path


# The sweep and the burst -----------------------------------------------------------------------


def test_the_sweep_enqueues_a_delivery_whose_enqueue_was_lost(
    allow_private, receiver, deployment, staging, actor, v1, worker
):
    add_hook(deployment, actor, receiver.url)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    assert not DBTaskResult.objects.exists()  # the on-commit enqueue never ran
    with worker.capture(execute=True):
        call_command("deliver_webhooks", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    assert worker.run() == ["delivered"]
    assert len(receiver.received) == 1


def test_a_second_run_of_the_task_does_not_send_twice(
    allow_private, receiver, deployment, staging, actor, v1
):
    add_hook(deployment, actor, receiver.url)
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    claimed = delivery.claim(row.pk, now=timezone.now())
    assert not isinstance(claimed, str)
    assert delivery.deliver(row.pk) == "leased"  # the second run, while the first sends
    assert receiver.received == []


def test_a_burst_of_100_releases_is_delivered_with_none_lost(
    allow_private, receiver, deployment, staging, actor, v1, worker
):
    hook = add_hook(deployment, actor, receiver.url)
    for n in range(100):
        worker(
            services.set_variable,
            environment=staging,
            key="COUNTER",
            value=str(n),
            is_secret=False,
            actor=actor,
        )
    assert drain(worker) == ["delivered"] * 100
    assert not DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists()
    assert WebhookDelivery.objects.filter(state=State.DELIVERED).count() == 100
    releases = sorted(verified(hook, got)["data"]["release"] for got in receiver.received)
    assert releases == list(range(2, 102))
    assert len({got.headers["webhook-id"] for got in receiver.received}) == 100


def drain(worker) -> list[str]:
    """Run the queued tasks as db_worker does until none is ready; their return values."""
    from django_tasks_db.management.commands.db_worker import Worker

    runner = Worker(
        queue_names=["default"], interval=0, batch=True, backend_name="default",
        startup_delay=False, max_tasks=None, worker_id="burst", excluded_queue_names=[],
    )  # fmt: skip
    results = []
    while job := DBTaskResult.objects.ready().order_by("enqueued_at").first():
        job.claim(runner.worker_id)
        with worker.capture(execute=True):
            runner.run_task(job)
        job.refresh_from_db()
        assert job.status == TaskResultStatus.SUCCESSFUL, job.traceback
        results.append(job.return_value)
    return results


# Payloads hold no value ------------------------------------------------------------------------


def test_no_payload_holds_a_value(
    allow_private, receiver, deployment, staging, production, actor, v1
):
    from environments.models.webhooks import EVENTS

    add_hook(deployment, actor, receiver.url, events=EVENTS)
    services.set_variable(
        environment=staging, key="TOKEN", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=staging, key="PLAIN", value=CANARY + "-plain", is_secret=False, actor=actor
    )
    services.promote(source=staging, version_number=v1.number, actor=actor,
                     expected_target_version=None)  # fmt: skip
    services.set_variable(
        environment=production, key="TOKEN", value=CANARY, is_secret=True, actor=actor
    )
    services.apply_changes(environment=production, actor=actor)
    services.rollback(environment=staging, release=1, config="restore", actor=actor)
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    for row in WebhookDelivery.objects.all():
        delivery.deliver(row.pk)
    stored = json.dumps(list(WebhookDelivery.objects.values_list("payload", flat=True)))
    sent = b"".join(got.body for got in receiver.received)
    assert CANARY not in stored and CANARY.encode() not in sent
    assert "TOKEN" in stored  # keys by name
    kinds = sorted(WebhookDelivery.objects.values_list("event", flat=True))
    assert kinds.count("release.created") == 5
    assert kinds.count("config.pending") == 1
    assert kinds.count("environment.created") == 1


def test_a_name_not_in_dns_yet_is_saved_and_refused_at_delivery(
    deployment, staging, actor, v1, monkeypatch
):
    def nowhere(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nowhere)
    add_hook(deployment, actor, "https://hooks.not-yet.example/x")
    services.set_variable(environment=staging, key="A", value="1", is_secret=False, actor=actor)
    row = only_delivery()
    assert delivery.deliver(row.pk) == "retrying"
    (attempt,) = row.attempt_log.all()
    assert (attempt.status_code, attempt.error) == (None, "unresolvable")
