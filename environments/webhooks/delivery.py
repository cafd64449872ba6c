"""Sending a webhook delivery (SPEC §17), run by the worker's `deliver_webhook` task.

Each run:
1. claims the delivery (a short transaction): it must be pending, due, and held by no other
   run; the run takes a lease (state transition), so a task run twice, or the sweep racing the
   worker, sends at most once per claim;
2. checks the URL again (guard: a private address is refused at delivery too), signs the body
   with the `standardwebhooks` library (the current secret, and the previous one while its
   overlap lasts) and POSTs it to the checked address, with no transaction open: a timeout
   (WEBHOOK_TIMEOUT_SECONDS), no redirects followed, a 2xx is delivered;
3. records the attempt (a short transaction): delivered, or the next try after a backoff
   (WEBHOOK_RETRY_BASE_SECONDS doubling, jittered) enqueued, or failed once the next wait would
   exceed a day. An endpoint that has failed for 3 days is disabled, with a notice on its page
   and an email to the deployment's owners.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from .. import crypto
from ..models import Membership, Role
from ..models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from . import guard, outbox

logger = logging.getLogger(__name__)

State = WebhookDelivery.State
LONGEST_WAIT = timedelta(days=1)  # no retry waits longer: the one after is `failed`
DISABLE_AFTER = timedelta(days=3)  # an endpoint failing this long is disabled
USER_AGENT = "MIOSA-Webhooks/1"


def timeout() -> float:
    return float(settings.WEBHOOK_TIMEOUT_SECONDS)


def backoff(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt of a round: base * 2^(n-1), jittered by
    ±20%; None once that would exceed a day (the delivery is then failed)."""
    wait = float(settings.WEBHOOK_RETRY_BASE_SECONDS) * 2 ** (attempts - 1)
    if wait > LONGEST_WAIT.total_seconds():
        return None
    return timedelta(seconds=wait * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)


def lease() -> timedelta:
    """Long enough for a send (guard, connect, answer) to finish before another run may take
    the delivery over."""
    return timedelta(seconds=3 * timeout() + 30)


# 1. Claim ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    endpoint_id: int
    webhook_id: str
    body: str
    url: str
    secrets: list[str]


def claim(delivery_id: int, *, now: datetime) -> Claim | str:
    """Take the delivery for one attempt, or say why not (done, not due, leased, gone)."""
    with transaction.atomic(durable=True):
        # Only the delivery's row (not its endpoint's, which every delivery of it shares).
        delivery = (
            WebhookDelivery.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            if not WebhookDelivery.objects.filter(pk=delivery_id).exists():
                return "gone"
            # Locked by a redelivery or a concurrent record: try again in a moment.
            outbox.enqueue(delivery_id, run_after=now + timedelta(seconds=1))
            return "busy"
        if delivery.state != State.PENDING:
            return delivery.state
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return "not due"
        if delivery.lease_until and delivery.lease_until > now:
            return "leased"
        endpoint = delivery.endpoint
        if not endpoint.enabled:
            _finish(delivery, State.FAILED, now)
            return "endpoint disabled"
        try:
            secrets = endpoint.secrets(now=now)
        except crypto.DecryptionError:
            _finish(delivery, State.FAILED, now)
            return "secret undecryptable"
        delivery.attempts += 1
        delivery.lease_until = now + lease()
        delivery.save(update_fields=["attempts", "lease_until"])
        return Claim(
            delivery_id=delivery.pk,
            endpoint_id=endpoint.pk,
            webhook_id=delivery.webhook_id,
            body=json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True),
            url=endpoint.url,
            secrets=secrets,
        )


def _finish(delivery: WebhookDelivery, state: str, now: datetime) -> None:
    delivery.state, delivery.finished_at = state, now
    delivery.lease_until = delivery.next_attempt_at = None
    delivery.save(update_fields=["state", "finished_at", "lease_until", "next_attempt_at"])


# 2. Send ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature(claimed: Claim, sent_at: datetime) -> str:
    """`v1,<base64>` for each signing secret, space-separated (Standard Webhooks)."""
    return " ".join(
        Webhook(secret).sign(msg_id=claimed.webhook_id, timestamp=sent_at, data=claimed.body)
        for secret in claimed.secrets
    )


def _connection(target: guard.Target, seconds: float) -> http.client.HTTPConnection:
    """A connection to the checked address (no second DNS lookup), naming the host in
    `Host:` and, for https, in SNI and the certificate check."""
    if target.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=seconds, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=seconds)

    def pinned(address, timeout=seconds, source_address=None):
        return socket.create_connection((target.address, address[1]), timeout, source_address)

    conn._create_connection = pinned  # type: ignore[attr-defined]
    return conn


def send(claimed: Claim) -> Outcome:
    """One POST of the signed body. Never raises; the error is a few words, never the
    receiver's answer or an exception's text."""
    started = time.monotonic()

    def outcome(status: int | None, error: str = "") -> Outcome:
        return Outcome(status, error, int((time.monotonic() - started) * 1000))

    try:
        target = guard.check(claimed.url)
    except guard.Refused as refused:
        return outcome(None, refused.code.replace("_", " "))
    sent_at = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": claimed.webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature(claimed, sent_at),
    }
    conn = _connection(target, timeout())
    try:
        conn.request("POST", target.path, body=claimed.body.encode(), headers=headers)
        response = conn.getresponse()
        status = response.status
    except TimeoutError:
        return outcome(None, "timed out")
    except ssl.SSLError:
        return outcome(None, "TLS error")
    except ConnectionRefusedError:
        return outcome(None, "connection refused")
    except (OSError, http.client.HTTPException) as exc:
        return outcome(None, f"connection error ({type(exc).__name__})"[:200])
    finally:
        conn.close()
    if 200 <= status < 300:
        return outcome(status)
    if 300 <= status < 400:
        return outcome(status, "redirect not followed")
    return outcome(status, f"HTTP {status}")


# 3. Record --------------------------------------------------------------------------------------


def record(claimed: Claim, result: Outcome, *, started_at: datetime, now: datetime) -> str:
    """The attempt on record and what comes next; only while the run still holds its lease
    (a run that outlived it writes nothing: another has taken over)."""
    with transaction.atomic(durable=True):
        # The endpoint's row, then the delivery's: the order the services take them in.
        WebhookEndpoint.objects.select_for_update(no_key=True).filter(
            pk=claimed.endpoint_id
        ).first()
        delivery = (
            WebhookDelivery.objects.select_for_update(no_key=True, of=("self",))
            .select_related("endpoint__deployment")
            .filter(pk=claimed.delivery_id, state=State.PENDING, lease_until__gt=now)
            .first()
        )
        if delivery is None:
            return "lost lease"
        WebhookAttempt.objects.create(
            delivery=delivery,
            started_at=started_at,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
        )
        endpoint = delivery.endpoint
        if result.delivered:
            _finish(delivery, State.DELIVERED, now)
            if endpoint.failing_since is not None:
                endpoint.failing_since = None
                endpoint.save(update_fields=["failing_since"])
            return "delivered"
        if endpoint.failing_since is None:
            endpoint.failing_since = started_at
            endpoint.save(update_fields=["failing_since"])
        elif now - endpoint.failing_since >= DISABLE_AFTER and endpoint.enabled:
            disable(endpoint, now=now)
            _finish(delivery, State.FAILED, now)
            return "failed"
        wait = backoff(delivery.attempts)
        if wait is None:
            _finish(delivery, State.FAILED, now)
            return "failed"
        delivery.lease_until = None
        delivery.next_attempt_at = now + wait
        delivery.save(update_fields=["lease_until", "next_attempt_at"])
        outbox.enqueue(delivery.pk, run_after=delivery.next_attempt_at)
        return "retrying"


def deliver(delivery_id: int, *, now: datetime | None = None) -> str:
    """One attempt at the delivery, if it is due and free. Returns what happened."""
    started_at = now or timezone.now()
    claimed = claim(delivery_id, now=started_at)
    if isinstance(claimed, str):
        return claimed
    result = send(claimed)
    finished = started_at + timedelta(milliseconds=result.duration_ms)
    outcome = record(claimed, result, started_at=started_at, now=finished)
    logger.info(
        "webhook delivery %s: %s (%s)", delivery_id, outcome, result.status_code or result.error
    )
    return outcome


# Disabling an endpoint that keeps failing ------------------------------------------------------


def disable(endpoint: WebhookEndpoint, *, now: datetime) -> None:
    """Disabled after failing for 3 days: its pending deliveries are failed, the page says
    why, and the owners are told by email once the transaction commits. Audited."""
    from .. import audit
    from ..actors import Actor

    since = endpoint.failing_since or now
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"Every delivery failed from {since:%Y-%m-%d %H:%M} UTC for 3 days; nothing is sent "
        "until it is enabled again."
    )
    endpoint.save(update_fields=["disabled_at", "disabled_reason"])
    WebhookDelivery.objects.filter(endpoint=endpoint, state=State.PENDING).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    ).update(state=State.FAILED, finished_at=now, next_attempt_at=None, lease_until=None)
    audit.record(
        "webhook.disable",
        actor=Actor.system("webhook worker"),
        deployment=endpoint.deployment,
        target=f"webhook {endpoint.pk}",
        detail={"webhook": endpoint.pk, "failing_since": since.isoformat()},
    )
    transaction.on_commit(lambda: _tell_owners(endpoint))


def _tell_owners(endpoint: WebhookEndpoint) -> None:
    deployment = endpoint.deployment
    emails = [
        email
        for email in Membership.objects.filter(deployment=deployment, role=Role.OWNER).values_list(
            "user__email", flat=True
        )
        if email
    ]
    if not emails:
        return
    host = guard.parse(endpoint.url)[1] if endpoint.url else ""
    try:
        send_mail(
            f"A webhook of {deployment.name} was disabled",
            f"Deliveries to the webhook {endpoint.pk} of {deployment.name} (host {host}) have "
            "failed for 3 days, so it was disabled: no more events are sent to it. Check the "
            "receiver, then enable it again on the deployment's Webhooks page.\n",
            settings.DEFAULT_FROM_EMAIL,
            emails,
        )
    except Exception as exc:
        logger.warning("webhook %s: the email was not sent (%s)", endpoint.pk, type(exc).__name__)


# The periodic sweep ----------------------------------------------------------------------------


def due(*, now: datetime | None = None, limit: int = 10_000) -> list[int]:
    """Pending deliveries that are due and held by no run: a lost enqueue, a killed worker's
    lease that ran out, a retry whose task was lost."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def resume(delivery_ids: list[int]) -> int:
    """Enqueue the deliveries' tasks again (a task run twice sends once: the claim decides)."""
    for pk in delivery_ids:
        outbox.enqueue(pk)
    return len(delivery_ids)
