"""Reads of raw material: the web Reveal, the API's `?reveal=true` and the runtime fetch.

Each one is on record before anything is decrypted, in the transaction of the read: if the
event cannot be written, nothing leaves (SPEC §7). A value that cannot be decrypted rolls the
read back, leaves a failure event, and raises Undecryptable naming the affected keys.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from .. import audit, crypto, selectors
from ..audit import Actor
from ..errors import NotFound, Undecryptable
from ..models import AuditEvent, Deployment, Environment, Release, RuntimeInstance


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
    """Everything a runtime instance gets at boot (the runtime endpoint): the live release's
    configuration, never a partial one. The instance (`X-Miosa-Instance`, else the token's
    name) is recorded with the release it booted on, in the transaction of the event.
    `decrypt=False` (an unchanged ETag) is audited alike but decrypts nothing."""
    release = environment.live_release
    undecryptable: list[str] = []

    def read() -> selectors.RuntimeConfig:
        config = selectors.runtime_config(environment, decrypt=decrypt)
        if config.undecryptable:
            undecryptable[:] = config.undecryptable
            raise crypto.DecryptionError()
        return config

    def record(outcome: str) -> None:
        failed = outcome == AuditEvent.Outcome.FAILURE
        audit.record(
            "runtime.fetch",
            actor=actor,
            environment=environment,
            target=instance[:300],
            outcome=outcome,
            detail={"format": fmt}
            | ({"release": release.number} if release else {})
            | ({"reason": "undecryptable"} if failed else {})
            | ({} if decrypt else {"not_modified": True}),
        )
        if not failed:
            _seen(environment, instance or actor.label, release, token=actor.label)

    return _disclose(read, record=record, undecryptable=lambda: undecryptable)


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
