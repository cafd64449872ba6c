"""Key rotation reaches the webhook endpoints' signing secrets (SPEC §17): after
`rotate_encryption_keys` the old key can be dropped and every endpoint still signs its
deliveries, with its current secret and, within its overlap, the previous one."""

from __future__ import annotations

import base64
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from environments import crypto
from environments.models import WebhookEndpoint
from environments.models.webhooks import EVENTS
from environments.services import webhooks as webhook_services

pytest_plugins = ["tests.webhook_receiver"]

NEW = "new:" + base64.b64encode(b"n" * 32).decode()


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_the_old_key_can_go_and_every_endpoint_still_signs(
    settings, deployment, actor, allow_private
):
    first = webhook_services.create_webhook(
        deployment=deployment, url="http://127.0.0.1:9/a", events=list(EVENTS), actor=actor
    )
    second = webhook_services.create_webhook(
        deployment=deployment, url="http://127.0.0.1:9/b", events=list(EVENTS), actor=actor
    )
    rotated = webhook_services.rotate_webhook_secret(endpoint=second.endpoint, actor=actor)
    old_keys = settings.ENCRYPTION_KEYS

    settings.ENCRYPTION_KEYS = f"{NEW},{old_keys}"
    output = run("rotate_encryption_keys", "--batch-size", "1")
    assert "2 webhook signing secrets under key new" in output
    for endpoint in WebhookEndpoint.objects.all():
        assert crypto.key_id_of(endpoint.secret_ciphertext) == "new"
    assert (
        crypto.key_id_of(
            WebhookEndpoint.objects.get(pk=second.endpoint.pk).previous_secret_ciphertext
        )
        == "new"
    )

    settings.ENCRYPTION_KEYS = NEW  # the old keys are dropped
    now = timezone.now()
    assert WebhookEndpoint.objects.get(pk=first.endpoint.pk).secrets(now=now) == [first.secret]
    assert WebhookEndpoint.objects.get(pk=second.endpoint.pk).secrets(now=now) == [
        rotated.secret,
        second.secret,
    ]
    assert "webhook" not in run("rotate_encryption_keys")  # nothing left to re-encrypt
    assert first.secret not in output and rotated.secret not in output
