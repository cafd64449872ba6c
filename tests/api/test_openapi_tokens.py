"""The OpenAPI document's honesty for the personal-token endpoints (SPEC §12): every response
it lists for them is one the API really gives (the `api` fixture validates each body)."""

from __future__ import annotations

from environments import selectors, services
from environments.actors import Actor
from environments.api.openapi import DOCUMENT
from tests.api.ratelimited import hit_every_operation_past_its_limit
from tests.refuse_audit import refuse_audit_writes

TOKEN_TEMPLATES = frozenset({"/tokens", "/tokens/{token_id}"})
TOO_LARGE = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'


def _created(user) -> int:
    return services.create_api_token(user=user, name="ci", actor=Actor.system())[0].pk


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
    # A token cannot create tokens, whatever the body (403 session_required; it is not read).
    for body in ({"name": "ci"}, {"expires_in_days": None}, TOO_LARGE, "a"):
        kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
        refused = hit("/tokens", "post", "/api/v1/tokens", token=mine, **kwargs)
        assert refused.json()["error"]["code"] == "session_required"
    created = _created(owner)
    hit("/tokens/{token_id}", "delete", f"/api/v1/tokens/{created}", token=other)  # 404
    hit("/tokens/{token_id}", "delete", f"/api/v1/tokens/{created}", token=mine)  # 204

    # 500: the audit trail is down (revoke), a read fails unexpectedly, or the token's
    # last use cannot be recorded (before the create is refused).
    def refuse(*args, **kwargs):
        raise RuntimeError("audit store is down")

    spare, fresh = _created(owner), token_for(owner, "fresh")
    refuse_audit_writes(monkeypatch, refuse)
    monkeypatch.setattr(selectors, "api_tokens", refuse)
    hit("/tokens", "get", "/api/v1/tokens", token=mine)
    hit("/tokens/{token_id}", "delete", f"/api/v1/tokens/{spare}", token=mine)
    monkeypatch.setattr(services, "touch_token", refuse)
    hit("/tokens", "post", "/api/v1/tokens", token=fresh, json={})

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
