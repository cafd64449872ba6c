"""What a runtime instance gets at boot, with the per-process cache of the encrypted entries it
serves, and the instances seen fetching it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from .. import crypto
from ..models import (
    ConfigEntry,
    Environment,
    Release,
    RuntimeInstance,
)
from .releases import entries_at


def served_revision(environment: Environment) -> int:
    """The config revision a runtime gets: the live release's, else (nothing released yet)
    the current one."""
    release = environment.live_release
    return release.config_revision if release is not None else environment.config_revision


@dataclass(frozen=True)
class RuntimeConfig:
    release: Release | None
    revision: int
    env: dict[str, str]
    undecryptable: list[str]  # keys that cannot be decrypted (never their values)


# The encrypted configuration of an environment at a committed config revision never changes
# (a write makes the next revision; key rotation re-encrypts in place, but what it replaced still
# decrypts until its key leaves the keyring, which makes another keyring). So each process keeps
# the ciphertexts of the revisions it serves, keyed by everything that names them, and a fetch
# only decrypts and serialises. Plaintext is never kept.
RUNTIME_ENTRIES_KEPT = 256


_runtime_entries: OrderedDict[tuple, RuntimeEntries] = OrderedDict()


_runtime_entries_lock = threading.Lock()


@dataclass(frozen=True)
class RuntimeEntries:
    """What a runtime gets at one config revision, still encrypted: (key, sealed value) in the
    order the env is built, and the domains."""

    values: tuple[tuple[str, crypto.Sealed], ...]
    hosts: tuple[str, ...]


def runtime_entries(
    environment: Environment, revision: int | None, keyring: crypto.Keyring
) -> RuntimeEntries:
    """The entries alive at `revision`, from this process's cache or in one query; with
    `revision=None`, the live entries as they are now, read and not kept.

    The key holds the environment's creation time besides its id (SQLite reuses the id of a
    rolled-back row) and the keyring (a removed key makes a re-read, of what rotation wrote).
    """
    cache_key = (environment.pk, environment.created_at, revision, keyring)
    if revision is not None:
        with _runtime_entries_lock:
            cached = _runtime_entries.get(cache_key)
            if cached is not None:
                _runtime_entries.move_to_end(cache_key)
                return cached
    values: list[tuple[str, crypto.Sealed]] = []
    hosts: list[str] = []
    rows = (
        entries_at(environment, revision)
        if revision is not None
        else ConfigEntry.objects.filter(environment=environment, end_revision__isnull=True)
    )
    rows = list(
        rows.order_by("kind", "key").values_list("kind", "key", "set_revision", "ciphertext")
    )
    # A key resolved from a group or through references (SPEC §19) is served resolved.
    resolved = {key for kind, key, _, _ in rows if kind == ConfigEntry.Kind.RESOLVED}
    for kind, key, set_revision, ciphertext in rows:
        if kind == ConfigEntry.Kind.DOMAIN:
            hosts.append(key)
            continue
        if key in resolved and kind != ConfigEntry.Kind.RESOLVED:
            continue
        context = crypto.entry_context(
            environment.deployment_id, environment.pk, kind, key, set_revision
        )
        values.append((key, crypto.seal_for_reading(ciphertext, context=context, keyring=keyring)))
    entries = RuntimeEntries(values=tuple(values), hosts=tuple(sorted(hosts)))
    if revision is None:
        return entries
    with _runtime_entries_lock:
        _runtime_entries[cache_key] = entries
        while len(_runtime_entries) > RUNTIME_ENTRIES_KEPT:
            _runtime_entries.popitem(last=False)
    return entries


def kept_runtime_entries(environment: Environment) -> list[RuntimeEntries]:
    """What this process keeps of the environment's revisions (still encrypted), oldest first."""
    with _runtime_entries_lock:
        return [
            entries
            for (pk, created_at, *_), entries in _runtime_entries.items()
            if pk == environment.pk and created_at == environment.created_at
        ]


def runtime_config(
    environment: Environment, *, decrypt: bool = True, just_read: bool = False
) -> RuntimeConfig:
    """What a runtime instance gets at boot: the live release's configuration and version.

    `environment` comes with its deployment and live release (and its version). One query
    for the entries, whatever the history holds, unless this process has read that revision
    already (none then); only the live release's values are decrypted. With `decrypt=False`
    (a 304) nothing of it is read or decrypted, and `env` is empty. Before any release, the current
    configuration: kept only when the caller `just_read` the environment (so that its
    config_revision is the current one).
    """
    release = environment.live_release
    revision = served_revision(environment)
    if not decrypt:  # a 304: nothing of the configuration is served, so none is read
        return RuntimeConfig(release=release, revision=revision, env={}, undecryptable=[])
    keyring = crypto.get_keyring()
    entries = runtime_entries(
        environment, revision if release is not None or just_read else None, keyring
    )
    env: dict[str, str] = {}
    undecryptable: list[str] = []
    for key, sealed in entries.values:
        try:
            env[key] = sealed.decrypt()
        except crypto.DecryptionError:
            undecryptable.append(key)
    env = dict(sorted(env.items()))
    env["MIOSA_DEPLOYMENT"] = environment.deployment.name
    env["MIOSA_ENVIRONMENT"] = environment.name
    if release is not None:
        env["MIOSA_VERSION"] = str(release.version.number)
        env["MIOSA_RELEASE"] = str(release.number)
    if entries.hosts:
        env["MIOSA_DOMAINS"] = ",".join(entries.hosts)
    return RuntimeConfig(
        release=release, revision=revision, env=env, undecryptable=sorted(undecryptable)
    )


@dataclass(frozen=True)
class InstanceRow:
    instance: str
    release_number: int | None
    version_number: int | None
    config_revision: int | None
    last_seen_at: datetime
    stale: bool  # booted on an older release than the live one: restart to pick it up
    token_name: str = ""  # the runtime token it fetched with


def instances(environment: Environment, *, hours: int = 24) -> list[InstanceRow]:
    """Instances seen in the last `hours`, most recent first (one query)."""
    since = timezone.now() - timedelta(hours=hours)
    live = environment.live_release.number if environment.live_release_id else None
    return [
        InstanceRow(
            instance=i.instance,
            release_number=i.release_number,
            version_number=i.version_number,
            config_revision=i.config_revision,
            last_seen_at=i.last_seen_at,
            stale=live is not None and (i.release_number or 0) < live,
            token_name=i.token_name,
        )
        for i in RuntimeInstance.objects.filter(
            environment=environment, last_seen_at__gte=since
        ).order_by("-last_seen_at")[:200]
    ]
