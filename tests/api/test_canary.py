"""A canary secret written through the API leaves only through the runtime endpoint: it is in
no other API response and in no log line captured while every endpoint is exercised."""

from __future__ import annotations

import logging

from django.db import connection

from environments import services
from tests.conftest import CANARY

BINDING_PASSWORD = "bindpw-" + CANARY


def test_a_canary_secret_leaves_only_through_the_runtime_endpoint(
    api, deployment, production, actor, role_token, runtime_token, caplog, capsys
):
    for name in ("", "django", "django.request", "django.db.backends", "environments"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    # SQL is logged too (with its parameters), as with DEBUG=True.
    was = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        _exercise_every_endpoint(api, deployment, production, actor, role_token, runtime_token)
    finally:
        connection.force_debug_cursor = was


def _exercise_every_endpoint(api, deployment, production, actor, role_token, runtime_token):

    owner, developer = role_token("owner"), role_token("developer")
    env = f"/api/v1/deployments/{deployment.pk}/env"
    services.create_binding(
        environment=production,
        kind="postgres",
        name="db",
        url=f"postgres://app:{BINDING_PASSWORD}@db.internal:5432/shop",
        actor=actor,
    )
    answers = [
        api.post(
            env,
            {"environment": "production", "key": "STRIPE_KEY", "value": CANARY, "is_secret": True},
            token=owner,
        ),
        api.post(
            env,
            {
                "environment": "staging",
                "variables": [
                    {"key": "STRIPE_KEY", "value": CANARY, "is_secret": True},
                    {"key": "PLAIN", "value": "visible"},
                ],
            },
            token=developer,
        ),
        # Replacing it, failing to make it plain, and bad requests carrying it.
        api.post(
            env, {"environment": "production", "key": "STRIPE_KEY", "value": CANARY}, token=owner
        ),
        api.post(
            env,
            {"environment": "production", "key": "STRIPE_KEY", "value": CANARY, "is_secret": False},
            token=owner,
        ),
        api.post(
            env, {"environment": "production", "key": "BAD-KEY", "value": CANARY}, token=owner
        ),
        api.post(
            env, {"environment": "production", "key": "K", "value": CANARY + "\x00"}, token=owner
        ),
        api.post(
            env, {"environment": "production", "key": "K", "value": CANARY * 2000}, token=owner
        ),
        api.post(
            env, {"environment": "production", "key": "DATABASE_URL", "value": CANARY}, token=owner
        ),
        api.post(
            env,
            {"environment": "production", "key": "K", "value": CANARY},
            token=role_token("viewer"),
        ),
        api.post(env, body=b'{"key": "' + CANARY.encode() + b'"', token=owner),
        api.get("/api/v1/deployments", token=owner),
        api.get(env, token=owner),
        api.get(env, token=owner, params={"reveal": "true"}),
        api.get(env, token=owner, params={"reveal": "true", "environment": "production"}),
        api.get("/api/v1/openapi.json"),
        api.delete(f"{env}/STRIPE_KEY", token=developer, params={"environment": "staging"}),
    ]
    assert [a.status_code for a in answers[:10]] == [
        201,
        200,
        200,
        409,
        400,
        400,
        413,
        409,
        403,
        400,
    ]
    for answer in answers:
        assert CANARY.encode() not in answer.content

    runtime = api.get("/api/v1/runtime/env", token=runtime_token(production))
    assert runtime.json()["env"]["STRIPE_KEY"] == CANARY  # it really was stored
    assert BINDING_PASSWORD in runtime.json()["env"]["DATABASE_URL"]
    dotenv = api.get(
        "/api/v1/runtime/env", token=runtime_token(production), params={"format": "dotenv"}
    )
    assert CANARY.encode() in dotenv.content
