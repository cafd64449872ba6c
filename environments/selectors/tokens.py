"""Personal API tokens and runtime tokens, and finding the live one a request presents."""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.base import ModelState
from django.shortcuts import get_object_or_404

from ..models import (
    ApiToken,
    Deployment,
    Environment,
    Release,
    RuntimeToken,
    Version,
)
from .access import valid_id


def get_api_token(user, pk: int) -> ApiToken:
    """One of the user's own API tokens (another user's is a 404 like a missing one)."""
    return get_object_or_404(ApiToken, user=user, pk=valid_id(pk))


def api_tokens(user) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))


def live_api_token(token_hash: str) -> ApiToken | None:
    """The unrevoked personal API token with that SHA-256, with its user."""
    return (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash, revoked_at__isnull=True)
        .first()
    )


def get_runtime_token(environment: Environment, pk: int) -> RuntimeToken:
    token = get_object_or_404(RuntimeToken, environment=environment, pk=valid_id(pk))
    token.environment = environment
    return token


def runtime_tokens(environment: Environment) -> list[RuntimeToken]:
    return list(RuntimeToken.objects.filter(environment=environment).order_by("-created_at"))


def live_runtime_token(token_hash: str) -> RuntimeToken | None:
    """The unrevoked runtime token with that SHA-256, with its environment, deployment and
    live release (and its version), in one query. On PostgreSQL in plain SQL: the runtime
    fetch runs it for every instance of a fleet, and compiling the ORM's query cost more
    than running it."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` looks it up again
    if db.vendor != "postgresql":
        return (
            RuntimeToken.objects.select_related(
                "environment__deployment", "environment__live_release__version"
            )
            .filter(token_hash=token_hash, revoked_at__isnull=True)
            .first()
        )
    with db.cursor() as cursor:
        cursor.execute(_live_runtime_token_sql(), [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    (
        token_id,
        name,
        last_used_at,
        expires_at,
        environment_id,
        environment_name,
        config_revision,
        environment_created_at,
        deployment_id,
        deployment_name,
        release_id,
        release_number,
        release_revision,
        version_id,
        version_number,
    ) = row
    db = db.alias
    deployment = _loaded(Deployment, db, id=deployment_id, name=deployment_name)
    release = None
    if release_id is not None:
        version = _loaded(
            Version, db, id=version_id, deployment_id=deployment_id, number=version_number
        )
        release = _loaded(
            Release,
            db,
            id=release_id,
            environment_id=environment_id,
            number=release_number,
            version_id=version_id,
            config_revision=release_revision,
        )
        Release.version.field.set_cached_value(release, version)
    environment = _loaded(
        Environment,
        db,
        id=environment_id,
        deployment_id=deployment_id,
        name=environment_name,
        live_release_id=release_id,
        config_revision=config_revision,
        created_at=environment_created_at,
    )
    Environment.deployment.field.set_cached_value(environment, deployment)
    Environment.live_release.field.set_cached_value(environment, release)
    token = _loaded(
        RuntimeToken,
        db,
        id=token_id,
        name=name,
        last_used_at=last_used_at,
        expires_at=expires_at,
        environment_id=environment_id,
    )
    RuntimeToken.environment.field.set_cached_value(token, environment)
    return token


def _loaded(model, db: str, **values):
    """A model instance as the ORM loads one with only these fields (the others deferred: read
    from the database if asked for), built as `Model.__init__` would leave it, without its
    per-field loop and its pre_init and post_init signals (no receiver in this project listens
    to them for these models; `test_runtime_token_rows` checks the instances against the ORM's)."""
    instance = model.__new__(model)
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, db
    instance.__dict__.update(values)
    return instance


@functools.cache
def _live_runtime_token_sql() -> str:
    token, environment, deployment, release, version = (
        model._meta.db_table for model in (RuntimeToken, Environment, Deployment, Release, Version)
    )
    # Table names come from the models, never from input; the hash is a parameter.
    return f"""
SELECT t.id, t.name, t.last_used_at, t.expires_at,
       e.id, e.name, e.config_revision, e.created_at,
       d.id, d.name,
       r.id, r.number, r.config_revision, v.id, v.number
  FROM "{token}" t
  JOIN "{environment}" e ON e.id = t.environment_id
  JOIN "{deployment}" d ON d.id = e.deployment_id
  LEFT JOIN "{release}" r ON r.id = e.live_release_id
  LEFT JOIN "{version}" v ON v.id = r.version_id
 WHERE t.token_hash = %s AND t.revoked_at IS NULL
"""  # noqa: S608
