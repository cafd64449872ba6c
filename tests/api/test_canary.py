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
    assert "SELECT" in caplog.text  # the SQL log was captured (else the next line proves nothing)
    assert CANARY not in caplog.text
    captured = capsys.readouterr()
    assert CANARY not in captured.out and CANARY not in captured.err


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
    answers += _exercise_release_endpoints(api, deployment, production, actor, owner, env)
    answers += _exercise_import(api, env, owner)
    answers += _exercise_groups(api, deployment, owner)
    # Personal tokens (SPEC §12): a token named after the canary is still no secret, but its
    # list, create and revoke answers go through the same checks.
    # A token cannot create one (403 session_required); the page's service does.
    created, _ = services.create_api_token(
        user=actor.user, name="tokens", expires_in_days=30, actor=actor
    )
    answers += [
        api.post("/api/v1/tokens", {"name": "tokens", "expires_in_days": 30}, token=owner),
        api.get("/api/v1/tokens", token=owner),
        api.delete(f"/api/v1/tokens/{created.pk}", token=owner),
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
    assert runtime.json()["env"]["STRIPE_KEY"] == CANARY  # it really was stored, and restored
    assert BINDING_PASSWORD in runtime.json()["env"]["DATABASE_URL"]
    dotenv = api.get(
        "/api/v1/runtime/env", token=runtime_token(production), params={"format": "dotenv"}
    )
    assert CANARY.encode() in dotenv.content
    # The shell format carries it; HEAD does not.
    shell = api.get(
        "/api/v1/runtime/env", token=runtime_token(production), params={"format": "shell"}
    )
    assert f"export STRIPE_KEY='{CANARY}'".encode() in shell.content
    head = api.request("HEAD", "/api/v1/runtime/env", token=runtime_token(production))
    assert head.status_code == 200 and head.content == b""
    # Through a shared group and a reference, it reaches staging's runtime too (SPEC §19).
    staging = production.deployment.environments.get(name="staging")
    served = api.get("/api/v1/runtime/env", token=runtime_token(staging)).json()["env"]
    assert served["VAULT_URL"] == f"https://t:{CANARY}@vault.internal"


def _exercise_groups(api, deployment, owner):
    """A shared group holding the canary as a secret, linked to staging and production, and a
    plain variable that references it (so a secret too): no answer carries it."""
    base = f"/api/v1/deployments/{deployment.pk}"
    group_env = f"{base}/groups/vault/env"
    answers = [
        api.post(f"{base}/groups", {"name": "vault"}, token=owner),
        api.post(group_env, {"key": "TOKEN", "value": CANARY, "is_secret": True}, token=owner),
        api.post(group_env, {"key": "TOKEN", "value": CANARY, "is_secret": False}, token=owner),
        api.post(group_env, {"key": "BAD", "value": CANARY + "${{ NOPE }}"}, token=owner),
        api.put(f"{base}/environments/staging/groups", {"groups": ["vault"]}, token=owner),
        api.put(f"{base}/environments/production/groups", {"groups": ["vault"]}, token=owner),
        api.post(
            f"{base}/env",
            {
                "environment": "staging",
                "key": "VAULT_URL",
                "value": "https://t:${{ vault.TOKEN }}@vault.internal",
            },
            token=owner,
        ),
        api.post(
            f"{base}/env",
            {"environment": "staging", "key": "LOOP", "value": CANARY + "${{ LOOP }}"},
            token=owner,
        ),
        api.get(group_env, token=owner, params={"reveal": "true"}),
        api.get(f"{base}/groups", token=owner),
        api.get(f"{base}/groups/vault", token=owner),
        api.get(f"{group_env}/TOKEN/history", token=owner),
        api.get(f"{base}/env", token=owner, params={"reveal": "true", "environment": "staging"}),
        api.get(
            f"{base}/env/VAULT_URL/explain",
            token=owner,
            params={"environment": "staging", "reveal": "true"},
        ),
        api.get(f"{base}/env/TOKEN/explain", token=owner, params={"environment": "production"}),
        api.get(f"{base}/environments/staging/groups", token=owner),
    ]
    assert [a.status_code for a in answers[:8]] == [201, 201, 409, 400, 200, 200, 201, 400]
    assert all(a.status_code == 200 for a in answers[8:]), [a.status_code for a in answers]
    return answers


def _exercise_release_endpoints(api, deployment, production, actor, owner, env):
    """History, restore, releases, apply, rollback and required keys, around the canary: it
    is replaced, then restored from history, applied, rolled back to and forth."""
    base = f"/api/v1/deployments/{deployment.pk}"
    history = f"{env}/STRIPE_KEY/history"
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(
        environment=deployment.environments.get(name="staging"), version=version, actor=actor
    )
    answers = [
        api.post(f"{base}/apply", {"environment": "production"}, token=owner),  # nothing deployed
    ]
    services.deploy_version(environment=production, version=version, actor=actor)
    canary_revision = [
        row["revision"]
        for row in api.get(history, token=owner, params={"environment": "production"}).json()[
            "history"
        ]
        if row["action"] == "set"
    ][-1]
    answers += [
        api.post(
            env, {"environment": "production", "key": "STRIPE_KEY", "value": "other"}, token=owner
        ),
        api.post(f"{base}/apply", {"environment": "production"}, token=owner),
        api.get(history, token=owner, params={"environment": "production"}),
        api.get(f"{env}/STRIPE_KEY/history", token=owner, params={"environment": "staging"}),
        api.post(
            f"{env}/STRIPE_KEY/restore",
            {"environment": "production", "revision": canary_revision},
            token=owner,
        ),
        api.post(
            f"{env}/STRIPE_KEY/restore", {"environment": "production", "revision": 1}, token=owner
        ),
        api.post(
            f"{env}/STRIPE_KEY/restore",
            {"environment": "production", "revision": CANARY},
            token=owner,
        ),
        api.post(f"{base}/apply", {"environment": "production"}, token=owner),
        api.get(f"{base}/releases", token=owner, params={"environment": "production"}),
        api.post(f"{base}/rollback", {"environment": "production", "release": 2}, token=owner),
        api.post(f"{base}/rollback", {"environment": "production", "release": 3}, token=owner),
        api.put(f"{base}/required-keys", {"keys": ["STRIPE_KEY", "DATABASE_URL"]}, token=owner),
        api.put(f"{base}/required-keys", {"keys": [CANARY]}, token=owner),
        api.get(f"{base}/required-keys", token=owner),
        api.get(f"{env}/NEVER/history", token=owner, params={"environment": "production"}),
    ]
    assert [a.status_code for a in answers] == [
        409,
        200,
        201,
        200,
        200,
        200,
        404,
        400,
        201,
        200,
        201,
        201,
        200,
        400,
        200,
        404,
    ]
    restored = answers[5].json()["variables"][0]
    assert (restored["key"], restored["preview"], restored["is_secret"]) == (
        "STRIPE_KEY",
        "••••",
        True,
    )
    return answers


# Imports ------------------------------------------------------------------------------------


def _exercise_import(api, env, owner):
    """Imports carrying the canary into production (which stages them): dry runs, the import,
    and refusals that quote nothing of the file."""
    url = f"{env}/import"
    target = {"environment": "production"}

    def text(body: str, **params):
        return api.post(
            url,
            body=body,
            content_type="text/plain; charset=utf-8",
            token=owner,
            params={**target, **params},
        )

    answers = [
        text(f"IMPORTED={CANARY}\n", dry_run="true", secret_keys="IMPORTED"),
        text(f"IMPORTED={CANARY}\nPLAIN_TOO=x\n", secret_keys="IMPORTED"),
        text(f"IMPORTED={CANARY}\n", dry_run="true"),  # the same value: replaced
        text(f"IMPORTED={CANARY}x\n", dry_run="true"),  # another value: replaced too
        text(f"A=1\n{CANARY} is not a line\n"),
        text(f"A=1\nB='{CANARY}\n"),
        text(f"A={CANARY}\x00\n"),
        text(f"A={CANARY * 1200}\n"),
        text(f"MIOSA_X={CANARY}\n"),
        text(f"1{CANARY}=x\n"),
        text(f"IMPORTED={CANARY}\n", secret_keys=f"NOT_THERE,{CANARY[:5]}"),
        api.post(url, {"IMPORTED": CANARY, "N": 1}, token=owner, params=target),
        api.post(url, {"IMPORTED": CANARY, "STRIPE_KEY": CANARY}, token=owner, params=target),
    ]
    assert [a.status_code for a in answers] == [
        200,
        200,
        200,
        200,
        400,
        400,
        400,
        413,
        400,
        400,
        400,
        400,
        200,
    ]
    # A dry run never tells whether a value matches a secret (issue 18).
    assert answers[2].json()["replaced"] == answers[3].json()["replaced"] == ["IMPORTED"]
    assert answers[2].json()["unchanged"] == answers[3].json()["changed"] == []
    return answers
