"""The OpenAPI document's honesty for the webhook endpoints (SPEC §17): every response it lists
for them is one the API really gives (the `api` fixture validates each body against it)."""

from __future__ import annotations

from environments.api.openapi import DOCUMENT
from environments.selectors import webhooks as webhook_reads
from tests.api.ratelimited import hit_every_operation_past_its_limit

BASE = "/deployments/{deployment_id}/webhooks"
ONE = BASE + "/{webhook_id}"
ROTATE = ONE + "/rotate-secret"
PING = ONE + "/ping"
ENABLE = ONE + "/enable"
DELIVERIES = ONE + "/deliveries"
REDELIVER = DELIVERIES + "/{delivery_id}/redeliver"
WEBHOOK_TEMPLATES = frozenset({BASE, ONE, ROTATE, PING, ENABLE, DELIVERIES, REDELIVER})
TOO_LARGE = b'{"url": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        if template in WEBHOOK_TEMPLATES
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }


def refuse(*args, **kwargs):
    raise RuntimeError("the database is down")


def test_every_documented_webhook_response_is_really_given(
    api, deployment, role_token, settings, monkeypatch
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    admin, developer = role_token("admin"), role_token("developer")
    base = f"/api/v1/deployments/{deployment.pk}/webhooks"
    new = {"url": "http://127.0.0.1:9/hook", "events": ["release.created"]}

    def paths(webhook_id, delivery_id=1):
        one = f"{base}/{webhook_id}"
        return {
            ONE: one,
            ROTATE: f"{one}/rotate-secret",
            PING: f"{one}/ping",
            ENABLE: f"{one}/enable",
            DELIVERIES: f"{one}/deliveries",
            REDELIVER: f"{one}/deliveries/{delivery_id}/redeliver",
        }

    for template, method, path in [
        (BASE, "get", base),
        (BASE, "post", base),
        *[(t, "delete" if t == ONE else "get" if t == DELIVERIES else "post", p)
          for t, p in paths(1).items()],
    ]:  # fmt: skip
        hit(template, method, path, params={"token": "x"})  # 400
        hit(template, method, path, json=new)  # 401
        hit(template, method, path, token=developer, json=new)  # 403
        hit(template, method, path.replace(f"/{deployment.pk}/", "/999999/"), token=admin)  # 404

    hit(BASE, "post", base, token=admin, json={**new, "events": ["nope"]})  # 400
    hit(BASE, "post", base, token=admin, body=TOO_LARGE)  # 413
    hit(BASE, "post", base, token=admin, body="a=b", content_type="text/plain")  # 415
    created = hit(BASE, "post", base, token=admin, json=new).json()  # 201
    hit(BASE, "get", base, token=admin)  # 200
    one = paths(created["id"])
    hit(ROTATE, "post", one[ROTATE], token=admin)  # 200
    hit(ENABLE, "post", one[ENABLE], token=admin)  # 200
    ping = hit(PING, "post", one[PING], token=admin).json()  # 202
    hit(DELIVERIES, "get", one[DELIVERIES], token=admin)  # 200
    redeliver = paths(created["id"], ping["id"])[REDELIVER]
    hit(REDELIVER, "post", redeliver, token=admin)  # 409 still_pending
    from environments.models import WebhookDelivery

    WebhookDelivery.objects.filter(pk=ping["id"]).update(state="failed")
    hit(REDELIVER, "post", redeliver, token=admin)  # 202
    settings.API_RATE_LIMIT_PER_MINUTE = 10**6
    monkeypatch.setattr(webhook_reads, "webhooks", refuse)
    monkeypatch.setattr(webhook_reads, "get_webhook", refuse)
    hit(BASE, "get", base, token=admin)  # 500
    for template, path in one.items():
        method = "delete" if template == ONE else "get" if template == DELIVERIES else "post"
        hit(template, method, path, token=admin)  # 500
    monkeypatch.setattr("environments.services.webhooks.create_webhook", refuse)
    hit(BASE, "post", base, token=admin, json=new)  # 500
    monkeypatch.undo()
    settings.WEBHOOK_ALLOW_PRIVATE = True
    for _ in range(19):
        api.post(base, json=new, token=admin)
    hit(BASE, "post", base, token=admin, json=new)  # 409 too_many_webhooks
    hit(ONE, "delete", one[ONE], token=admin)  # 204

    hit_every_operation_past_its_limit(
        hit,
        sorted(WEBHOOK_TEMPLATES),
        personal=admin,
        runtime=admin,
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(deployment.pk),
    )

    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
