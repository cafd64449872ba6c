"""The OpenAPI document's honesty for the CI trust endpoints (SPEC §16): every response it lists
for them is one the API really gives (the `api` fixture validates each body)."""

from __future__ import annotations

from environments import selectors
from environments.api.openapi import DOCUMENT
from tests.api.ratelimited import hit_every_operation_past_its_limit
from tests.oidc_issuer import AUDIENCE, ISSUER, SUBJECT
from tests.refuse_audit import refuse_audit_writes

pytest_plugins = ["tests.oidc_issuer"]

POLICIES = "/deployments/{deployment_id}/oidc-policies"
POLICY = POLICIES + "/{policy_id}"
EXCHANGE = "/oidc/token"
OIDC_TEMPLATES = frozenset({POLICIES, POLICY, EXCHANGE})
TOO_LARGE = b'{"subject": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template in OIDC_TEMPLATES
        for method, operation in DOCUMENT["paths"][template].items()
        if method != "parameters"
        for status in operation["responses"]
    }


def refuse(*args, **kwargs):
    raise RuntimeError("audit store is down")


def test_every_documented_oidc_response_is_really_given(
    api, deployment, issuer, trust, role_token, runtime_token, production, monkeypatch, settings
):
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    owner, developer, outsider = (
        role_token("owner"),
        role_token("developer"),
        role_token("outsider"),
    )
    base = f"/api/v1/deployments/{deployment.pk}/oidc-policies"
    body = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "subject": SUBJECT,
        "environments": ["production"],
        "role": "admin",
        "jwks": issuer.jwks(),
    }
    for template, method, path in [
        (POLICIES, "get", base),
        (POLICIES, "post", base),
        (POLICY, "get", f"{base}/1"),
        (POLICY, "delete", f"{base}/1"),
    ]:
        hit(template, method, path, params={"token": "x"})  # 400
        hit(template, method, path)  # 401
        hit(template, method, path, token=developer, json=body)  # 403
        hit(template, method, path, token=outsider, json=body)  # 404
    hit(POLICIES, "post", base, token=owner, body=TOO_LARGE)  # 413
    hit(POLICIES, "post", base, token=owner, body="a", content_type="text/plain")  # 415
    created = hit(POLICIES, "post", base, token=owner, json=body).json()["policy"]  # 201
    hit(POLICIES, "get", base, token=owner)  # 200
    hit(POLICY, "get", f"{base}/{created['id']}", token=owner)  # 200

    url = "/api/v1/oidc/token"
    hit(EXCHANGE, "post", url, json={"deployment": "shop"})  # 400
    hit(EXCHANGE, "post", url, body=TOO_LARGE)  # 413
    hit(EXCHANGE, "post", url, body="a", content_type="text/plain")  # 415
    hit(EXCHANGE, "post", url, json={"deployment": "shop", "token": "x.y.z"})  # 401
    hit(EXCHANGE, "post", url, json={"deployment": "shop", "token": issuer.token()})  # 201

    # 500: the audit trail is down (writes), a read fails unexpectedly.
    second = trust(deployment, subject="repo:acme/shop:ref:refs/heads/main")
    refuse_audit_writes(monkeypatch, refuse)
    monkeypatch.setattr(selectors, "oidc_policies", refuse)
    hit(POLICIES, "get", base, token=owner)
    hit(POLICIES, "post", base, token=owner, json=body)
    hit(POLICY, "delete", f"{base}/{second.pk}", token=owner)
    hit(EXCHANGE, "post", url, json={"deployment": "shop", "token": issuer.token()})
    monkeypatch.setattr(selectors, "get_oidc_policy", refuse)
    hit(POLICY, "get", f"{base}/{second.pk}", token=owner)
    monkeypatch.undo()
    hit(POLICY, "delete", f"{base}/{second.pk}", token=owner)  # 204

    hit_every_operation_past_its_limit(
        hit,
        sorted(OIDC_TEMPLATES - {EXCHANGE}),
        personal=role_token("owner"),
        runtime=runtime_token(production),
        settings=settings,
        monkeypatch=monkeypatch,
        deployment_id=str(deployment.pk),
    )
    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
