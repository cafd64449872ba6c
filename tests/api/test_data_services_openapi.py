"""The OpenAPI document's honesty for the data service endpoints (SPEC §13): every response it
lists for them is one the API really gives (the `api` fixture validates each body against it)."""

from __future__ import annotations

from environments import selectors, services
from environments.api.openapi import DOCUMENT
from environments.models import DataService
from tests.api.ratelimited import hit_every_operation_past_its_limit

pytest_plugins = ["tests.data_services_support"]

DATA_SERVICE_TEMPLATES = frozenset(
    {
        "/deployments/{deployment_id}/data-services",
        "/deployments/{deployment_id}/data-services/{service_id}",
        "/deployments/{deployment_id}/data-services/{service_id}/retry",
    }
)
TOO_LARGE = b'{"environment": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        if template in DATA_SERVICE_TEMPLATES
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }


def refuse(*args, **kwargs):
    raise RuntimeError("the database is down")


def test_every_documented_data_service_response_is_really_given(
    api, shop, shop_staging, pg_server, actor, owner, token_for, make_user, monkeypatch, settings
):
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner_token = token_for(owner)
    viewer = make_user("viewer-on-shop")
    services.set_member(deployment=shop, user=viewer, role="viewer", actor=actor)
    viewer_token = token_for(viewer)
    base = f"/api/v1/deployments/{shop.pk}/data-services"
    service = services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    one, retry = f"{base}/{service.pk}", f"{base}/{service.pk}/retry"
    lst, detail, again = (
        "/deployments/{deployment_id}/data-services",
        "/deployments/{deployment_id}/data-services/{service_id}",
        "/deployments/{deployment_id}/data-services/{service_id}/retry",
    )
    body = {"environment": "staging", "kind": "postgres", "variable": "OTHER_DATABASE_URL"}

    for template, method, path in [
        (lst, "get", base),
        (lst, "post", base),
        (detail, "get", one),
        (detail, "patch", one),
        (detail, "delete", one),
        (again, "post", retry),
    ]:
        hit(template, method, path, params={"token": "x"})  # 400
        hit(template, method, path, json=body)  # 401
        hit(template, method, path.replace(f"/{shop.pk}/", "/999999/"), token=owner_token)  # 404

    hit(lst, "get", base, token=viewer_token)  # 200
    hit(lst, "post", base, json=body, token=owner_token)  # 202
    hit(lst, "post", base, json={"environment": "staging"}, token=owner_token)  # 400
    hit(lst, "post", base, json=body, token=viewer_token)  # 403
    hit(lst, "post", base, json={**body, "kind": "redis"}, token=owner_token)  # 409
    hit(lst, "post", base, body=TOO_LARGE, token=owner_token)  # 413
    hit(lst, "post", base, body="a=b", content_type="text/plain", token=owner_token)  # 415

    hit(detail, "get", one, token=viewer_token)  # 200
    schedule = {"rotate_every_days": 30}
    hit(detail, "patch", one, json=schedule, token=owner_token)  # 200
    hit(detail, "patch", one, json={"rotate_every_days": 0}, token=owner_token)  # 400
    hit(detail, "patch", one, json=schedule, token=viewer_token)  # 403
    hit(detail, "patch", one, body=TOO_LARGE, token=owner_token)  # 413
    hit(detail, "patch", one, body="a=b", content_type="text/plain", token=owner_token)  # 415
    hit(detail, "delete", one, params={"mode": "keep"}, token=owner_token)  # 400
    hit(detail, "delete", one, token=viewer_token)  # 403
    hit(detail, "delete", one, params={"mode": "detach"}, token=owner_token)  # 409 not_ready

    hit(again, "post", retry, token=viewer_token)  # 403
    hit(again, "post", retry, token=owner_token)  # 409 not_failed
    DataService.objects.filter(pk=service.pk).update(state="failed", error="x failed: Error")
    hit(again, "post", retry, token=owner_token)  # 202
    hit(again, "post", f"{base}/0/retry", token=owner_token)  # 404
    hit(detail, "delete", one, token=owner_token)  # 202
    DataService.objects.filter(pk=service.pk).delete()  # as the worker does once destroyed
    hit(detail, "get", one, token=viewer_token)  # 404
    hit(detail, "delete", one, token=owner_token)  # 404

    monkeypatch.setattr(selectors, "data_services", refuse)
    monkeypatch.setattr(selectors, "get_data_service", refuse)
    monkeypatch.setattr(services, "create_data_service", refuse)
    hit(lst, "get", base, token=viewer_token)  # 500
    hit(lst, "post", base, json=body, token=owner_token)  # 500
    hit(detail, "get", one, token=viewer_token)  # 500
    hit(detail, "patch", one, json=schedule, token=owner_token)  # 500
    hit(detail, "delete", one, token=owner_token)  # 500
    hit(again, "post", retry, token=owner_token)  # 500

    monkeypatch.undo()
    hit_every_operation_past_its_limit(
        hit,
        sorted(DATA_SERVICE_TEMPLATES),
        personal=owner_token,
        runtime=owner_token,
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(shop.pk),
        service_id=str(service.pk),
    )

    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
