"""Reads of raw material: the web Reveal, the API's `?reveal=true` and the runtime fetch.

Each one is on record before anything is decrypted, in the transaction of the read: if the
event cannot be written, nothing leaves (SPEC §7). A value that cannot be decrypted rolls the
read back, leaves a failure event, and raises Undecryptable naming the affected keys.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from .. import audit, crypto, selectors
from ..audit import Actor
from ..errors import NotFound, Undecryptable
from ..models import (
    AuditEvent,
    Deployment,
    Environment,
    Release,
    RuntimeInstance,
    RuntimeToken,
    Version,
)
from .tokens import touch_token


def _disclose[T](
    read: Callable[[], T], *, record: Callable[[str], None], undecryptable: Callable[[], list[str]]
) -> T:
    """Record the read, then read, in one transaction; on DecryptionError, record a failure."""
    try:
        with transaction.atomic(durable=True):
            record(AuditEvent.Outcome.SUCCESS)
            return read()
    except crypto.DecryptionError:
        pass
    # The read's transaction rolled back with its event: the attempt stays on record apart.
    with transaction.atomic(durable=True):
        record(AuditEvent.Outcome.FAILURE)
    keys = undecryptable()
    named = ", ".join(keys) if keys else "A value"
    raise Undecryptable(
        f"{named[:1000]} cannot be decrypted with the configured keys; nothing was returned.",
        keys=keys,
    )


def _undecryptable_keys(
    environments: list[Environment], *, labelled: bool, include_bindings: bool = True
) -> list[str]:
    """The keys the listing flags as undecryptable (names only, never a value)."""
    return [
        f"{row.environment}/{row.key}" if labelled else row.key
        for row in selectors.variable_rows(environments, include_bindings=include_bindings)
        if row.undecryptable
    ]


def _record_reveal(
    outcome: str,
    *,
    deployment: Deployment,
    environment: Environment | None,
    keys: list[str],
    actor: Actor,
) -> None:
    audit.record(
        "variable.reveal",
        actor=actor,
        deployment=deployment,
        environment=environment,
        target=",".join(keys)[:300],
        outcome=outcome,
        detail={"count": len(keys)},
    )


def reveal_variable(*, environment: Environment, key: str, actor: Actor) -> str:
    """The whole value of one plain variable (the web Reveal). Secrets are never revealed: the
    caller refuses them first; one that became a secret meanwhile is NotFound here."""

    def read() -> str:
        values = selectors.reveal_plain_values([environment], key=key)
        if (environment.name, key) not in values:  # deleted meanwhile: nothing was revealed
            raise NotFound(f"{environment.name} has no variable {key}.", field="key")
        return values[(environment.name, key)]

    def record(outcome: str) -> None:
        _record_reveal(
            outcome,
            deployment=environment.deployment,
            environment=environment,
            keys=[key],
            actor=actor,
        )

    return _disclose(read, record=record, undecryptable=lambda: [key])


def reveal_plain_values(
    *,
    deployment: Deployment,
    environments: list[Environment],
    keys: list[str],
    actor: Actor,
    environment: Environment | None = None,
) -> dict[tuple[str, str], str]:
    """The values of the plain variables of `environments` (the API's `?reveal=true`), keyed by
    (environment name, key). `keys` names what the caller shows, for the event; `environment`
    is the one environment asked for, if only one was."""

    def record(outcome: str) -> None:
        _record_reveal(
            outcome, deployment=deployment, environment=environment, keys=keys, actor=actor
        )

    return _disclose(
        lambda: selectors.reveal_plain_values(environments),
        record=record,
        undecryptable=lambda: _undecryptable_keys(
            environments, labelled=environment is None, include_bindings=False
        ),
    )


def fetch_runtime_env(
    *, environment: Environment, fmt: str, actor: Actor, instance: str = "", decrypt: bool = True
) -> selectors.RuntimeConfig:
    """Everything a runtime instance gets at boot: the live release's configuration, never a
    partial one. The instance (`X-Miosa-Instance`, else the token's name) is recorded with the
    release it booted on, in the transaction of the event. `decrypt=False` (an unchanged ETag)
    is audited alike but decrypts nothing."""
    undecryptable: list[str] = []

    def read() -> selectors.RuntimeConfig:
        return _runtime_read(environment, decrypt=decrypt, undecryptable=undecryptable)

    def record(outcome: str) -> None:
        _record_fetch(
            outcome,
            environment=environment,
            fmt=fmt,
            actor=actor,
            decrypt=decrypt,
            target=instance,
        )
        if outcome != AuditEvent.Outcome.FAILURE:
            _seen(environment, instance or actor.label, environment.live_release, token=actor.label)

    return _disclose(read, record=record, undecryptable=lambda: undecryptable)


def _runtime_read(
    environment: Environment, *, decrypt: bool, undecryptable: list[str], just_read: bool = False
) -> selectors.RuntimeConfig:
    config = selectors.runtime_config(environment, decrypt=decrypt, just_read=just_read)
    if config.undecryptable:
        undecryptable[:] = config.undecryptable
        raise crypto.DecryptionError()
    return config


def _record_fetch(
    outcome: str, *, environment: Environment, fmt: str, actor: Actor, decrypt: bool, target=""
) -> None:
    release = environment.live_release
    audit.record(
        "runtime.fetch",
        actor=actor,
        environment=environment,
        target=target[:300],
        outcome=outcome,
        detail={"format": fmt}
        | ({"release": release.number} if release else {})
        | ({"reason": "undecryptable"} if outcome == AuditEvent.Outcome.FAILURE else {})
        | ({} if decrypt else {"not_modified": True}),
    )


@dataclass(frozen=True)
class RuntimeFetch:
    """A runtime fetch that was served: its token, and the configuration (without values when
    the runtime already had it: `not_modified`)."""

    token: RuntimeToken
    config: selectors.RuntimeConfig
    not_modified: bool


def fetch_runtime_env_for_token(
    *,
    token_hash: str,
    fmt: str,
    instance: str,
    actor_for: Callable[[RuntimeToken], Actor],
    check: Callable[[RuntimeToken], None],
    not_modified: Callable[[Environment, int], bool],
) -> RuntimeFetch | None:
    """The runtime endpoint's fetch by the SHA-256 of its token, in as few round trips as the
    database allows; None when no live token has that hash.

    One transaction: authenticate the token (with its environment, deployment and live
    release), `check` it (the caller's refusals raise and roll everything back), record the
    instance and the `runtime.fetch` event, then read the configuration. On PostgreSQL the
    token look-up and the instance upsert are one statement (a data-modifying CTE), the event
    is a second (`audit.record`), and the release's ciphertexts come from this process's cache:
    two statements, whatever the number of variables. Elsewhere (SQLite) the same steps run
    one query each. A value that cannot be decrypted rolls it all back and leaves a failure
    event alone, as `fetch_runtime_env` does.
    """
    postgres = connection.vendor == "postgresql"
    now = timezone.now()
    token: RuntimeToken | None = None
    undecryptable: list[str] = []
    fresh = False
    try:
        with transaction.atomic(durable=True):
            if postgres:
                token = _authenticate_and_see(token_hash, instance=instance, now=now)
            else:
                token = selectors.live_runtime_token(token_hash)
            if token is None:
                return None
            check(token)
            environment = token.environment
            fresh = not_modified(environment, selectors.served_revision(environment))
            actor = actor_for(token)
            _record_fetch(
                AuditEvent.Outcome.SUCCESS,
                environment=environment,
                fmt=fmt,
                actor=actor,
                decrypt=not fresh,
                target=instance,
            )
            if not postgres:
                _seen(
                    environment,
                    instance or actor.label,
                    environment.live_release,
                    token=actor.label,
                )
            config = _runtime_read(
                environment, decrypt=not fresh, undecryptable=undecryptable, just_read=True
            )
    except crypto.DecryptionError:
        pass
    else:
        touch_token(token)
        return RuntimeFetch(token=token, config=config, not_modified=fresh)
    # The read's transaction rolled back with its event and instance: the attempt stays on
    # record apart (SPEC §7).
    touch_token(token)
    with transaction.atomic(durable=True):
        _record_fetch(
            AuditEvent.Outcome.FAILURE,
            environment=token.environment,
            fmt=fmt,
            actor=actor_for(token),
            decrypt=True,
            target=instance,
        )
    named = ", ".join(undecryptable) if undecryptable else "A value"
    raise Undecryptable(
        f"{named[:1000]} cannot be decrypted with the configured keys; nothing was returned.",
        keys=undecryptable,
    )


def _seen(environment: Environment, instance: str, release: Release | None, *, token: str) -> None:
    """One row per (environment, instance), whatever the number of fetches: an upsert."""
    now = timezone.now()
    RuntimeInstance.objects.bulk_create(
        [
            RuntimeInstance(
                environment=environment,
                instance=instance[:100],
                token_name=token[:100],
                release_number=release.number if release else None,
                version_number=release.version.number if release else None,
                config_revision=release.config_revision if release else None,
                first_seen_at=now,
                last_seen_at=now,
            )
        ],
        update_conflicts=True,
        unique_fields=["environment", "instance"],
        update_fields=[
            "token_name",
            "release_number",
            "version_number",
            "config_revision",
            "last_seen_at",
        ],
    )


@functools.cache
def _unprintable_pattern() -> str:
    """A PostgreSQL bracket expression of what `audit.printable` removes (control and format
    characters), so that SQL names an instance as the Python path does. NUL cannot be in a
    PostgreSQL string, so it is left out."""
    ranges: list[tuple[int, int]] = []
    for code in range(1, sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in {"Cc", "Cf"}:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]"


@functools.cache
def _authenticate_and_see_sql() -> str:
    token, env, deployment, release, version, seen = (
        model._meta.db_table
        for model in (RuntimeToken, Environment, Deployment, Release, Version, RuntimeInstance)
    )
    # Table names from the models, never from input: the values are all parameters.
    return f"""
WITH token AS (
    SELECT t.id, t.name, t.last_used_at, t.created_at,
           e.id AS environment_id, e.name AS environment_name, e.config_revision,
           e.created_at AS environment_created_at,
           d.id AS deployment_id, d.name AS deployment_name,
           r.id AS release_id, r.number AS release_number,
           r.config_revision AS release_revision, v.id AS version_id, v.number AS version_number
      FROM {token} t
      JOIN {env} e ON e.id = t.environment_id
      JOIN {deployment} d ON d.id = e.deployment_id
      LEFT JOIN {release} r ON r.id = e.live_release_id
      LEFT JOIN {version} v ON v.id = r.version_id
     WHERE t.token_hash = %(hash)s AND t.revoked_at IS NULL
), label AS (
    SELECT left(regexp_replace('token ' || token.name, %(unprintable)s, '', 'g'), 100) AS name
      FROM token
), seen AS (
    INSERT INTO {seen} AS s (environment_id, instance, token_name, release_number,
                             version_number, config_revision, first_seen_at, last_seen_at)
    SELECT token.environment_id, COALESCE(NULLIF(%(instance)s, ''), label.name), label.name,
           token.release_number, token.version_number, token.release_revision,
           %(now)s, %(now)s
      FROM token, label
    ON CONFLICT (environment_id, instance) DO UPDATE
       SET token_name = EXCLUDED.token_name, release_number = EXCLUDED.release_number,
           version_number = EXCLUDED.version_number, config_revision = EXCLUDED.config_revision,
           last_seen_at = EXCLUDED.last_seen_at
)
SELECT id, name, last_used_at, created_at, environment_id, environment_name, config_revision,
       environment_created_at, deployment_id, deployment_name, release_id, release_number,
       release_revision, version_id, version_number
  FROM token
"""  # noqa: S608


def _authenticate_and_see(token_hash: str, *, instance: str, now) -> RuntimeToken | None:
    """PostgreSQL, one statement: the live token with that hash, its environment, deployment
    and live release, and the instance upserted as `_seen` does (nothing when no token)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _authenticate_and_see_sql(),
            {
                "hash": token_hash,
                "unprintable": _unprintable_pattern(),
                "instance": instance[:100],
                "now": now,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    (
        token_id,
        name,
        last_used_at,
        created_at,
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
    deployment = Deployment(id=deployment_id, name=deployment_name)
    release = None
    if release_id is not None:
        release = Release(
            id=release_id,
            environment_id=environment_id,
            number=release_number,
            config_revision=release_revision,
            version=Version(id=version_id, deployment_id=deployment_id, number=version_number),
        )
    environment = Environment(
        id=environment_id,
        name=environment_name,
        deployment=deployment,
        config_revision=config_revision,
        live_release=release,
        created_at=environment_created_at,
    )
    return RuntimeToken(
        id=token_id,
        name=name,
        last_used_at=last_used_at,
        created_at=created_at,
        environment=environment,
    )


@transaction.atomic
def record_compare(
    *, left: Environment, right: Environment, secrets_hidden: bool, actor: Actor, via: str = ""
) -> None:
    """Every compare is audited (SPEC §12): who compared which two environments, and whether
    same/different on secrets and bindings was hidden from them. Names only, never a value."""
    audit.record(
        "environment.compare",
        actor=actor,
        deployment=left.deployment,
        target=f"{left.name}..{right.name}"[:300],
        detail={"left": left.name, "right": right.name, "secrets_hidden": secrets_hidden}
        | ({"via": via} if via else {}),
    )
