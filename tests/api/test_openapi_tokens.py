"""The OpenAPI document's honesty for the personal-token endpoints (SPEC §12): every response
it lists for them is one the API really gives (the `api` fixture validates each body)."""

from __future__ import annotations

from environments import selectors
from environments.api.openapi import DOCUMENT
from tests.api.ratelimited import hit_every_operation_past_its_limit
from tests.refuse_audit import refuse_audit_writes

TOKEN_TEMPLATES = frozenset({"/tokens", "/tokens/{token_id}"})
TOO_LARGE = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'


def _documented() -> set[tuple[str, str, str]]:
    return {
        (template, method, status)
        for template in TOKEN_TEMPLATES
        for method, operation in DOCUMENT["paths"][template].items()
        if method != "parameters"
        for status in operation["responses"]
    }


def test_every_documented_token_response_is_really_given(
    api, owner, production, token_for, make_user, runtime_token, monkeypatch, settings
):
    seen: set[tuple[str, str, str]] = set()

    def hit(template, method, path, **kwargs):
        response = api.request(method.upper(), path, **kwargs)
        seen.add((template, method, str(response.status_code)))
        return response

    mine = token_for(owner)
    other = token_for(make_user("someone-else"))
    for template, method, path in [
        ("/tokens", "get", "/api/v1/tokens"),
        ("/tokens", "post", "/api/v1/tokens"),
        ("/tokens/{token_id}", "delete", "/api/v1/tokens/1"),
    ]:
        hit(template, method, path, params={"token": "x"})  # 400
        hit(template, method, path)  # 401

    hit("/tokens", "get", "/api/v1/tokens", token=mine)  # 200
    created = hit("/tokens", "post", "/api/v1/tokens", token=mine, json={"name": "ci"}).json()
    hit("/tokens", "post", "/api/v1/tokens", token=mine, json={"expires_in_days": 0})  # 400
    hit("/tokens", "post", "/api/v1/tokens", token=mine, body=TOO_LARGE)  # 413
    hit("/tokens", "post", "/api/v1/tokens", token=mine, body="a", content_type="text/plain")
    hit("/tokens/{token_id}", "delete", f"/api/v1/tokens/{created['id']}", token=other)  # 404
    hit("/tokens/{token_id}", "delete", f"/api/v1/tokens/{created['id']}", token=mine)  # 204

    # 500: the audit trail is down (create, revoke) or a read fails unexpectedly.
    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    spare = api.post("/api/v1/tokens", {"name": "spare"}, token=mine).json()["id"]
    refuse_audit_writes(monkeypatch, refuse)
    monkeypatch.setattr(selectors, "api_tokens", refuse)
    hit("/tokens", "get", "/api/v1/tokens", token=mine)
    hit("/tokens", "post", "/api/v1/tokens", token=mine, json={})
    hit("/tokens/{token_id}", "delete", f"/api/v1/tokens/{spare}", token=mine)

    monkeypatch.undo()
    hit_every_operation_past_its_limit(
        hit,
        sorted(TOKEN_TEMPLATES),
        personal=token_for(owner),
        runtime=runtime_token(production),
        settings=settings,
        monkeypatch=monkeypatch,
    )
    assert _documented() - seen == set(), "documented but never given"
    assert seen - _documented() == set(), "given but not documented"
