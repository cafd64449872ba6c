"""Reads of raw material: the web Reveal, the API's `?reveal=true` and the runtime fetch.

Each one is on record before anything leaves: if the event cannot be written, nothing does
(SPEC §7). A value that cannot be decrypted leaves a failure event alone, and raises
Undecryptable naming the affected keys. Reveals write the event, then read, in one transaction;
the runtime endpoint's fetch (`fetch_runtime_env_for_token`) decrypts the live
release's values (immutable, kept per process) first, then writes the event and the instance
in one statement, and answers only once it committed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone

from .. import audit, crypto, selectors
from ..actors import Actor
from ..errors import NotFound, Undecryptable
from ..models import (
    AuditEvent,
    Deployment,
    Environment,
    Release,
    RuntimeInstance,
    RuntimeToken,
)
from ..selectors.value_history import plain_history_values
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


def _record_fetch(
    outcome: str,
    *,
    environment: Environment,
    fmt: str,
    actor: Actor,
    decrypt: bool,
    target="",
    also: audit.Cte | None = None,
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
        also=also,
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
    """The runtime endpoint's fetch by the SHA-256 of its token; None when no live token has
    that hash. Boot storms call this: on PostgreSQL it is two statements.

    1. The token, with its environment, deployment and live release (one query), then the
       caller's `check` (its refusals raise before anything is written).
    2. The release's configuration, decrypted from the ciphertexts this process keeps (read
       once per release and process). A value that cannot be decrypted records a failure
       event alone and raises Undecryptable naming the keys.
    3. The `runtime.fetch` event (`audit.record`) and the instance upsert, together or not at
       all: on PostgreSQL one statement in autocommit (`audit.append` locks and moves the
       chain's head and inserts the event, the upsert is its `also` step), so without BEGIN
       and COMMIT round trips; elsewhere one transaction. Nothing
       is returned unless it committed (SPEC §7): the values leave only after it.

    The event names the release whose values are served; a release never changes, so reading
    its values beside the event's statement rather than in its transaction serves the same
    bytes. Call it outside any transaction (as the view does): inside one, the event would
    commit or roll back with the caller's.
    """
    token = _first_read(selectors.live_runtime_token, token_hash)
    if token is None:
        return None
    check(token)
    environment = token.environment
    fresh = not_modified(environment, selectors.served_revision(environment))
    actor = actor_for(token)
    config = selectors.runtime_config(environment, decrypt=not fresh, just_read=True)
    if config.undecryptable:
        touch_token(token)
        with transaction.atomic(durable=True):
            _record_fetch(
                AuditEvent.Outcome.FAILURE,
                environment=environment,
                fmt=fmt,
                actor=actor,
                decrypt=True,
                target=instance,
            )
        named = ", ".join(config.undecryptable)
        raise Undecryptable(
            f"{named[:1000]} cannot be decrypted with the configured keys; nothing was returned.",
            keys=config.undecryptable,
        )
    release = environment.live_release
    label = instance or actor.label
    record_served = functools.partial(
        _record_fetch,
        AuditEvent.Outcome.SUCCESS,
        environment=environment,
        fmt=fmt,
        actor=actor,
        decrypt=not fresh,
        target=instance,
    )
    if connection.vendor == "postgresql":
        record_served(also=seen_in_statement(environment, label, release, token=actor.label))
    else:
        with transaction.atomic(durable=True):
            record_served()
            _seen(environment, label, release, token=actor.label)
    touch_token(token)
    return RuntimeFetch(token=token, config=config, not_modified=fresh)


def _first_read[T](read: Callable[[str], T], token_hash: str) -> T:
    """`read(token_hash)` as the kept connection's health check (a round trip less).

    With CONN_HEALTH_CHECKS, Django sends a `SELECT 1` before a request's first statement on a
    kept connection, and reconnects if it fails. The fetch's first statement is a read that
    writes nothing, so it can be the check itself: the `SELECT 1` is skipped, and if the read
    finds the connection gone (the database restarted, a pooler dropped it), the connection is
    closed and the read run once more on a new one, which is what the check would have done.
    Inside a transaction (tests), or when the check is off or done, the read runs as it is."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` looks it up again
    pending_check = (
        db.health_check_enabled
        and not db.health_check_done
        and db.connection is not None
        and not db.in_atomic_block
    )
    if not pending_check:
        return read(token_hash)
    db.health_check_done = True
    try:
        return read(token_hash)
    except (OperationalError, InterfaceError):
        db.close()
        return read(token_hash)


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
def _seen_cte() -> str:
    table = RuntimeInstance._meta.db_table
    # The table's name comes from the model, never from input; the values are all parameters.
    return f"""seen AS (
    INSERT INTO "{table}" AS s (environment_id, instance, token_name, release_number,
                                version_number, config_revision, first_seen_at, last_seen_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (environment_id, instance) DO UPDATE
       SET token_name = EXCLUDED.token_name, release_number = EXCLUDED.release_number,
           version_number = EXCLUDED.version_number, config_revision = EXCLUDED.config_revision,
           last_seen_at = EXCLUDED.last_seen_at
)"""  # noqa: S608


def seen_in_statement(
    environment: Environment, instance: str, release: Release | None, *, token: str
) -> audit.Cte:
    """PostgreSQL: the instance upsert of `_seen`, as a step of the statement that appends the
    `runtime.fetch` event (`audit.append`): the two commit together or not at all, in one
    statement, without a transaction's round trips."""
    now = timezone.now()
    return audit.Cte(
        _seen_cte(),
        [
            environment.pk,
            instance[:100],
            token[:100],
            release.number if release else None,
            release.version.number if release else None,
            release.config_revision if release else None,
            now,
            now,
        ],
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


def reveal_key_history(*, environment: Environment, key: str, actor: Actor) -> dict[int, str]:
    """The values a plain variable had, by revision (the key history's "Show values"); none
    for a key that was ever a secret, or a binding. Audited as a reveal first."""

    def record(outcome: str) -> None:
        _record_reveal(
            outcome,
            deployment=environment.deployment,
            environment=environment,
            keys=[key],
            actor=actor,
        )

    return _disclose(
        lambda: plain_history_values(environment, key), record=record, undecryptable=lambda: [key]
    )
