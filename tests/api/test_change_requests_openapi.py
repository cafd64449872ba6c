"""The OpenAPI document's honesty for the change request endpoints (SPEC §15): every response
it lists for them is one the API really gives (the `api` fixture validates each body)."""

from __future__ import annotations

from environments import selectors, services
from environments.api.openapi import DOCUMENT
from tests.api.ratelimited import hit_every_operation_past_its_limit

PROTECTION = "/deployments/{deployment_id}/environments/{name}/protection"
LIST = "/deployments/{deployment_id}/change-requests"
DETAIL = LIST + "/{cid}"
APPROVE, REJECT, APPLY, CANCEL = (
    f"{DETAIL}/{verb}" for verb in ("approve", "reject", "apply", "cancel")
)
CHANGE_REQUEST_TEMPLATES = frozenset({PROTECTION, LIST, DETAIL, APPROVE, REJECT, APPLY, CANCEL})
TOO_LARGE = b'{"comment": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template, item in DOCUMENT["paths"].items()
        if template in CHANGE_REQUEST_TEMPLATES
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }


def refuse(*args, **kwargs):
    raise RuntimeError("the database is down")


def test_every_documented_change_request_response_is_really_given(
    api, deployment, staging, production, actor, owner, member, token_for, monkeypatch, settings
):
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner_token = token_for(owner)
    admin, viewer = token_for(member("admin", "ann")), token_for(member("viewer", "vic"))
    developer = token_for(member("developer", "dev"))
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.deploy_version(environment=production, version=v1, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)

    base = f"/api/v1/deployments/{deployment.pk}"
    protection = f"{base}/environments/production/protection"
    one = f"{base}/change-requests/1"
    paths = {
        PROTECTION: protection,
        LIST: f"{base}/change-requests",
        DETAIL: one,
        APPROVE: f"{one}/approve",
        REJECT: f"{one}/reject",
        APPLY: f"{one}/apply",
        CANCEL: f"{one}/cancel",
    }
    methods = {PROTECTION: ["get", "put"], LIST: ["get"], DETAIL: ["get"]}
    for template, path in paths.items():
        for method in methods.get(template, ["post"]):
            hit(template, method, path, params={"token": "x"})  # 400
            hit(template, method, path, json={})  # 401
            missing = path.replace(f"/{deployment.pk}/", "/999999/")
            hit(template, method, missing, token=owner_token, json={})  # 404

    hit(PROTECTION, "put", protection, token=admin, json={"required_approvals": 1})  # 403
    hit(PROTECTION, "put", protection, token=owner_token, json={"required_approvals": 9})  # 400
    hit(PROTECTION, "put", protection, token=owner_token, body=TOO_LARGE)  # 413
    hit(PROTECTION, "put", protection, token=owner_token, body="a", content_type="text/plain")
    hit(PROTECTION, "put", protection, token=owner_token, json={"required_approvals": 1})  # 200
    hit(PROTECTION, "get", protection, token=viewer)  # 200

    opened = api.post(f"{base}/promote", {"from": "staging"}, token=developer)
    cid = opened.json()["change_request"]["id"]
    one = f"{base}/change-requests/{cid}"
    hit(LIST, "get", f"{base}/change-requests", token=viewer, params={"state": "open"})  # 200
    hit(LIST, "get", f"{base}/change-requests", token=viewer, params={"state": "x"})  # 400
    hit(DETAIL, "get", one, token=viewer)  # 200
    for template, verb in ((APPROVE, "approve"), (REJECT, "reject"), (APPLY, "apply")):
        hit(template, "post", f"{one}/{verb}", token=viewer, json={})  # 403
        hit(template, "post", f"{one}/{verb}", token=admin, body=TOO_LARGE)  # 413
        hit(template, "post", f"{one}/{verb}", token=admin, body="a", content_type="text/plain")
        hit(template, "post", f"{one}/{verb}", token=admin, json={"comment": 1, "reason": 1})
    hit(APPLY, "post", f"{one}/apply", token=admin, json={})  # 409 not_approved
    hit(APPROVE, "post", f"{one}/approve", token=admin, json={"comment": "ok"})  # 200
    hit(APPROVE, "post", f"{one}/approve", token=admin, json={})  # 409 already_reviewed
    hit(CANCEL, "post", f"{one}/cancel", token=admin)  # 403: not the author
    hit(APPLY, "post", f"{one}/apply", token=admin, json={})  # 200
    hit(REJECT, "post", f"{one}/reject", token=admin, json={})  # 409 not_open
    hit(CANCEL, "post", f"{one}/cancel", token=developer)  # 409 not_open

    services.deploy_version(
        environment=staging,
        version=services.create_version(deployment=deployment, actor=actor),
        actor=actor,
    )
    second = api.post(f"{base}/promote", {"from": "staging"}, token=developer)
    two = f"{base}/change-requests/{second.json()['change_request']['id']}"
    hit(CANCEL, "post", f"{two}/cancel", token=developer)  # 200
    third = api.post(f"{base}/promote", {"from": "staging"}, token=developer)
    three = f"{base}/change-requests/{third.json()['change_request']['id']}"
    hit(REJECT, "post", f"{three}/reject", token=admin, json={"comment": "no"})  # 200

    monkeypatch.setattr(selectors, "get_change_request", refuse)
    monkeypatch.setattr(selectors, "change_requests", refuse)
    monkeypatch.setattr(selectors, "protection_of", refuse)
    for template, path in paths.items():
        for method in methods.get(template, ["post"]):
            body = {"required_approvals": 1} if template == PROTECTION else {}
            hit(template, method, path, token=owner_token, json=body)  # 500

    monkeypatch.undo()
    hit_every_operation_past_its_limit(
        hit,
        sorted(CHANGE_REQUEST_TEMPLATES),
        personal=owner_token,
        runtime=owner_token,
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(deployment.pk),
        name="production",
    )
    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
