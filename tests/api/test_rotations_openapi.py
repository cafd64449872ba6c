"""The OpenAPI document's honesty for the rotation endpoints (SPEC §14): every response it lists
for them is one the API really gives (the `api` fixture validates each body against it)."""

from __future__ import annotations

from environments import selectors, services
from environments.api.openapi import DOCUMENT
from environments.models import Binding, Rotation
from tests.api.ratelimited import hit_every_operation_past_its_limit

pytest_plugins = ["tests.data_services_support"]

ROTATE = "/deployments/{deployment_id}/data-services/{service_id}/rotate"
DETAIL = "/deployments/{deployment_id}/data-services/{service_id}/rotations/{rotation_id}"
REVOKE = DETAIL + "/revoke"
CANCEL = DETAIL + "/cancel"
ROTATION_TEMPLATES = frozenset({ROTATE, DETAIL, REVOKE, CANCEL})
TOO_LARGE = b'{"reason": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        if template in ROTATION_TEMPLATES
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }


def refuse(*args, **kwargs):
    raise RuntimeError("the database is down")


def test_every_documented_rotation_response_is_really_given(
    api, shop, shop_staging, redis_server, worker, actor, owner, token_for, make_user, monkeypatch,
    settings, runtime_token,
):  # fmt: skip
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner_token = token_for(owner)
    viewer = make_user("viewer-on-shop")
    services.set_member(deployment=shop, user=viewer, role="viewer", actor=actor)
    viewer_token = token_for(viewer)
    service = worker(
        services.create_data_service, environment=shop_staging, kind="redis", actor=actor
    )
    assert worker.run() == ["ready"]
    runtime = runtime_token(shop_staging)

    def boot(instance: str) -> None:
        """An instance fetches (and so runs on) the live release."""
        headers = {"X-Miosa-Instance": instance}
        assert api.get("/api/v1/runtime/env", token=runtime, headers=headers).status_code == 200

    base = f"/api/v1/deployments/{shop.pk}/data-services/{service.pk}"
    rotate = f"{base}/rotate"

    def paths(rotation_id):
        one = f"{base}/rotations/{rotation_id}"
        return one, f"{one}/revoke", f"{one}/cancel"

    reason = {"reason": "the old instances are gone"}
    one, revoke, cancel = paths(1)
    for template, method, path in [
        (ROTATE, "post", rotate),
        (DETAIL, "get", one),
        (REVOKE, "post", revoke),
        (CANCEL, "post", cancel),
    ]:
        hit(template, method, path, params={"token": "x"})  # 400
        hit(template, method, path, json=reason)  # 401
        hit(template, method, path.replace(f"/{shop.pk}/", "/999999/"), token=owner_token)  # 404

    boot("web-1")  # on the old credential: the rotations below converge no further
    hit(ROTATE, "post", rotate, token=viewer_token)  # 403
    started = worker(hit, template=ROTATE, method="post", path=rotate, token=owner_token)  # 202
    rotation = Rotation.objects.get(pk=started.json()["rotation"]["id"])
    hit(ROTATE, "post", rotate, token=owner_token)  # 409 rotation_in_progress
    worker.run()
    one, revoke, cancel = paths(rotation.pk)

    hit(DETAIL, "get", one, token=viewer_token)  # 200
    hit(REVOKE, "post", revoke, json={"reason": "short"}, token=owner_token)  # 400
    hit(REVOKE, "post", revoke, json=reason, token=viewer_token)  # 403
    hit(REVOKE, "post", revoke, body=TOO_LARGE, token=owner_token)  # 413
    hit(REVOKE, "post", revoke, body="a=b", content_type="text/plain", token=owner_token)  # 415
    hit(CANCEL, "post", cancel, token=viewer_token)  # 403
    hit(CANCEL, "post", cancel, token=owner_token)  # 202
    hit(CANCEL, "post", cancel, token=owner_token)  # 409 not_cancellable
    hit(REVOKE, "post", revoke, json=reason, token=owner_token)  # 409 not_forceable
    worker.run()

    # A second rotation, forced.
    second = worker(services.start_rotation, service=service, actor=actor)
    worker.run()
    _, revoke2, _ = paths(second.pk)
    worker(hit, template=REVOKE, method="post", path=revoke2, json=reason, token=owner_token)

    # A binding the keys cannot decrypt cannot be rotated: 503.
    worker.run()
    Binding.objects.filter(data_service=service).update(ciphertext=b"\x01broken")
    hit(ROTATE, "post", rotate, token=owner_token)  # 503

    monkeypatch.setattr(selectors, "get_data_service", refuse)
    hit(ROTATE, "post", rotate, token=owner_token)  # 500
    hit(DETAIL, "get", one, token=viewer_token)  # 500
    hit(REVOKE, "post", revoke, json=reason, token=owner_token)  # 500
    hit(CANCEL, "post", cancel, token=owner_token)  # 500

    monkeypatch.undo()
    hit_every_operation_past_its_limit(
        hit,
        sorted(ROTATION_TEMPLATES),
        personal=owner_token,
        runtime=owner_token,
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(shop.pk),
        service_id=str(service.pk),
        rotation_id=str(rotation.pk),
    )

    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
