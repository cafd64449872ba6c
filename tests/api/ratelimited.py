"""Hit operations of the OpenAPI document past their rate limit, for the tests that check
every documented response is really given (429 is documented on every operation)."""

from __future__ import annotations

import re

from environments.api import ratelimit
from environments.api.openapi import DOCUMENT

# A concrete value for each path parameter; the 429 comes before anything is looked up.
PATH_VALUES = {
    "deployment_id": "1",
    "key": "API_URL",
    "name": "staging",
    "binding_id": "1",
    "hostname": "a.example",
    "token_id": "1",
    "service_id": "1",
    "rotation_id": "1",
    "policy_id": "1",
    "group": "common",
    "webhook_id": "1",
    "delivery_id": "1",
    "cid": "1",
}


def concrete(template: str, **values: str) -> str:
    return "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], PATH_VALUES[m[1]]), template)


def hit_every_operation_past_its_limit(
    hit, templates, *, personal: str, runtime: str, settings, monkeypatch, **values: str
) -> None:
    """With a limit of 1 a minute and a frozen clock, use up the minute of each token, then
    call each operation of `templates` once more: each answers 429."""
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    settings.RUNTIME_RATE_LIMIT_PER_MINUTE = 1
    frozen = 1_800_000_000.0
    monkeypatch.setattr(ratelimit, "clock", lambda: frozen)
    ratelimit.enforce("api", _token_id(personal), 1, now=frozen)
    ratelimit.enforce("runtime", _token_id(runtime), 1, now=frozen)
    for template in templates:
        for method, operation in DOCUMENT["paths"][template].items():
            if method == "parameters" or "429" not in operation["responses"]:
                continue
            token = runtime if template == "/runtime/env" else personal
            response = hit(template, method, concrete(template, **values), token=token, json={})
            assert response.status_code == 429, (template, method, response.status_code)
            assert 1 <= int(response["Retry-After"]) <= 60


def _token_id(raw: str) -> int:
    from environments import services
    from environments.models import ApiToken, RuntimeToken

    model = RuntimeToken if raw.startswith(RuntimeToken.PREFIX) else ApiToken
    return model.objects.get(token_hash=services.hash_token(raw)).pk
