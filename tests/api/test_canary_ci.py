"""The canary secret and a binding's canary password, exercised through every CI endpoint
(SPEC §10): in no response (only the runtime endpoint has them) and in no log line."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from environments import services
from tests.conftest import CANARY

BINDING_PASSWORD = "bindpw-" + CANARY


def test_the_canary_leaves_no_ci_endpoint(
    api, deployment, staging, production, actor, role_token, runtime_token, caplog, capsys
):
    for name in ("", "django", "django.request", "django.db.backends", "environments"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    was = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        answers = _exercise(api, deployment, staging, production, actor, role_token)
    finally:
        connection.force_debug_cursor = was
    assert "SELECT" in caplog.text  # the SQL log was captured
    for answer in answers:
        assert CANARY.encode() not in answer.content, answer.content[:300]
    assert CANARY not in caplog.text
    captured = capsys.readouterr()
    assert CANARY not in captured.out and CANARY not in captured.err
    # It really was stored: the preview copied from staging serves both.
    preview = deployment.environments.get(name="preview/pr-2")
    env = api.get("/api/v1/runtime/env", token=runtime_token(preview)).json()["env"]
    assert env["STRIPE_KEY"] == CANARY


def _exercise(api, deployment, staging, production, actor, role_token):
    owner, developer = role_token("owner"), role_token("developer")
    base = f"/api/v1/deployments/{deployment.pk}"
    url = f"postgres://app:{BINDING_PASSWORD}@db.internal:5432/shop"
    expires = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    services.set_variable(
        environment=staging, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=CANARY, is_secret=True, actor=actor
    )
    answers = [
        api.post(f"{base}/versions", {"label": "sha1", "notes": "first"}, token=developer),
        api.post(f"{base}/versions", {"label": CANARY * 10}, token=developer),  # 400
        api.get(f"{base}/versions", token=developer),
        api.post(
            f"{base}/bindings",
            {"environment": "staging", "kind": "postgres", "url": url},
            token=owner,
        ),
        api.post(
            f"{base}/bindings",
            {"environment": "staging", "kind": "postgres", "url": url},
            token=owner,
        ),  # 409
        api.post(
            f"{base}/bindings",
            {"environment": "staging", "kind": "redis", "url": url},
            token=owner,
        ),  # 400: not a redis URL
        api.post(
            f"{base}/bindings",
            {"environment": "staging", "kind": "postgres", "url": url, "variable_name": CANARY},
            token=owner,
        ),  # 400
        api.get(f"{base}/bindings", token=developer),
        api.post(f"{base}/deploy", {"environment": "staging", "version": 1}, token=developer),
        api.post(
            f"{base}/environments",
            {"name": "preview/pr-1", "copy_from": "production"},
            token=developer,
        ),  # 403
        api.post(
            f"{base}/environments",
            {"name": "preview/pr-2", "copy_from": "staging", "expires_at": expires},
            token=developer,
        ),
        api.post(f"{base}/environments", {"name": f"{CANARY}/x/y"}, token=developer),  # 400
        api.get(f"{base}/environments", token=developer),
        api.post(f"{base}/promote", {"from": "staging", "expected_version": None}, token=owner),
        api.post(f"{base}/promote", {"from": "staging"}, token=owner),  # 409 already active
        api.post(
            f"{base}/domains",
            {"environment": "staging", "hostname": "staging.shop.example"},
            token=owner,
        ),
        api.post(f"{base}/domains", {"environment": "staging", "hostname": CANARY}, token=owner),
        api.get(f"{base}/domains", token=developer),
        api.delete(f"{base}/domains/staging.shop.example", token=owner),
        api.delete(f"{base}/environments/preview/pr-1", token=developer),  # 404
    ]
    binding_id = answers[3].json()["id"]
    answers += [
        api.delete(f"{base}/bindings/{binding_id}", token=owner),
        api.post(
            f"{base}/bindings",
            {"environment": "production", "kind": "postgres", "url": url},
            token=owner,
        ),
        api.get(f"{base}/bindings", token=developer),
    ]
    assert [a.status_code for a in answers] == [
        201,
        400,
        200,
        201,
        409,
        400,
        400,
        200,
        201,
        403,
        201,
        400,
        200,
        201,
        409,
        201,
        400,
        200,
        204,
        404,
        204,
        201,
        200,
    ]
    return answers
