"""Config revisions and value history (SPEC §9), shared by every service that changes what a
runtime gets: variables, bindings, domains.

Each committed change to an environment's configuration takes the next revision (one per
transaction, however many keys it writes) and adds a ConfigEntry per key it sets, ending the
entry it replaces. The caller holds the environment lock.
"""

from __future__ import annotations

from django.utils import timezone

from .. import crypto
from ..actors import Actor
from ..errors import Conflict
from ..models import ConfigEntry, Environment, Release
from ..webhooks import outbox as webhook_outbox


class Revision:
    """The revision one transaction writes, taken lazily: a write that turns out to change
    nothing takes none, and a batch takes one."""

    def __init__(self, environment: Environment, actor: Actor, *, propagated: bool = False) -> None:
        self.environment = environment
        self.actor = actor
        self.number: int | None = None
        self.now = timezone.now()
        self._keyring = None
        # Shared groups and references (SPEC §19): the keys this revision writes, whether a
        # value it writes has a reference, and whether it is another write's consequence (whose
        # writer re-resolves everything itself).
        self.changed: set[str] = set()
        self.saw_reference = False
        self.propagated = propagated

    @property
    def keyring(self):
        if self._keyring is None:
            self._keyring = crypto.get_keyring()
        return self._keyring

    def take(self) -> int:
        if self.number is None:
            environment = self.environment
            environment.config_revision += 1
            environment.save(update_fields=["config_revision"])
            self.number = environment.config_revision
        return self.number

    def _end(self, kind: str, key: str, ended: str) -> None:
        ConfigEntry.objects.filter(
            environment=self.environment, kind=kind, key=key, end_revision__isnull=True
        ).update(
            end_revision=self.take(),
            ended=ended,
            ended_at=self.now,
            ended_by_label=self.actor.label,
        )

    def set(
        self,
        kind: str,
        key: str,
        *,
        value: str = "",
        fingerprint: bytes = b"",
        is_secret: bool = False,
        binding_kind: str = "",
        binding_name: str = "",
        origin: str = "",
        cause: str = "",
    ) -> ConfigEntry:
        """Record `key`'s new value (encrypted for this revision), ending the one it replaces."""
        number = self.take()
        if kind in (ConfigEntry.Kind.VARIABLE, ConfigEntry.Kind.BINDING):
            self.changed.add(key)
            self.saw_reference = self.saw_reference or "${{" in value
        self._end(kind, key, ConfigEntry.Ended.REPLACED)
        environment = self.environment
        ciphertext = b""
        if kind != ConfigEntry.Kind.DOMAIN:
            ciphertext = crypto.encrypt(
                value,
                context=crypto.entry_context(
                    environment.deployment_id, environment.pk, kind, key, number
                ),
                keyring=self.keyring,
            )
        return ConfigEntry.objects.create(
            environment=environment,
            kind=kind,
            key=key,
            is_secret=is_secret,
            ciphertext=ciphertext,
            fingerprint=fingerprint,
            size=len(value.encode()),
            binding_kind=binding_kind,
            binding_name=binding_name,
            origin=origin,
            cause=cause[:400],
            set_revision=number,
            set_at=self.now,
            set_by_label=self.actor.label,
        )

    def delete(self, kind: str, key: str) -> None:
        if kind in (ConfigEntry.Kind.VARIABLE, ConfigEntry.Kind.BINDING):
            self.changed.add(key)
        self._end(kind, key, ConfigEntry.Ended.DELETED)

    def finish(self) -> Release | None:
        """After the writes: in an `immediate` environment that runs a release, the change
        goes live at once, as a release of the same version with this revision."""
        environment = self.environment
        if self.number is not None and not self.propagated:
            from .resolution import settle_after_write

            settle_after_write(self)  # what the change resolves to, here and where it is used
        if self.number is not None and environment.is_staged and environment.live_release_id:
            webhook_outbox.config_pending(environment, revision=self.number, actor=self.actor)
        if self.number is None or environment.is_staged or environment.live_release_id is None:
            return None
        return record_release(
            environment,
            version=environment.active_version,
            kind=Release.Kind.CONFIG,
            actor=self.actor,
        )


def record_release(
    environment: Environment,
    *,
    version,
    kind: str,
    actor: Actor,
    revision: int | None = None,
    source: Environment | None = None,
    rollback_of: int | None = None,
) -> Release:
    """Make (version, revision) the live release; the caller holds the environment lock.

    Refused with 409 missing_required_keys when the configuration lacks a required key.
    """
    from .. import selectors  # reads of the configuration as of a revision

    revision = environment.config_revision if revision is None else revision
    missing = selectors.missing_required_keys(environment, revision)
    if missing and kind == Release.Kind.CONFIG and environment.live_release is not None:
        # A change that goes live at once is refused only for what it removes: one that
        # leaves a key missing that was already missing does not make the release worse.
        live = environment.live_release.config_revision
        missing = sorted(set(missing) - set(selectors.missing_required_keys(environment, live)))
    if missing:
        raise Conflict(
            f"{environment.name} would go live without {', '.join(missing)}, which every "
            "release must define. Set "
            f"{'it' if len(missing) == 1 else 'them'} first.",
            code="missing_required_keys",
            field="required_keys",
        )
    number = environment.release_count + 1
    release = Release.objects.create(
        environment=environment,
        number=number,
        kind=kind,
        version=version,
        config_revision=revision,
        from_version=environment.active_version,
        source_environment=source.name if source else "",
        rollback_of=rollback_of,
        resolved_from=_resolved_from(environment, revision),
        actor=actor.user,
        actor_label=actor.label,
    )
    environment.release_count = number
    environment.live_release = release
    environment.active_version = version
    environment.save(update_fields=["release_count", "live_release", "active_version"])
    webhook_outbox.release_created(release, actor=actor)
    return release


def _resolved_from(environment: Environment, revision: int) -> dict:
    """What a release at `revision` read from groups and other environments (SPEC §19): what
    the environment's resolution read last when `revision` is its current one, else what the
    last release at that revision recorded."""
    if not environment.deployment.shares_config:
        return {}
    if revision == environment.config_revision:
        return environment.resolved_from or {}
    earlier = (
        Release.objects.filter(environment=environment, config_revision=revision)
        .order_by("-number")
        .values_list("resolved_from", flat=True)
        .first()
    )
    return earlier or {}
