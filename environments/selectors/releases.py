"""Versions, releases and config revisions (SPEC §9): the configuration as of a revision,
what changed since the live release (pending changes), and the history pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import (
    F,
    Q,
    QuerySet,
)
from django.http import Http404

from .. import rules
from ..models import (
    ConfigEntry,
    Deployment,
    Environment,
    Release,
    Version,
)
from .paging import Page, keyset_page


def find_version(deployment: Deployment, number: int) -> Version | None:
    """The deployment's version with that number, or None (a form's answer, not a 404)."""
    if not 0 < number <= rules.MAX_NUMBER:
        return None
    return Version.objects.filter(deployment=deployment, number=number).first()


def versions(
    deployment: Deployment, *, before: int | None = None, limit: int = 50
) -> Page[Version]:
    """Newest first; `before` (a version number) pages back (keyset paging). One query."""
    rows = Version.objects.filter(deployment=deployment).select_related("created_by")
    return keyset_page(rows, key="number", before=before, limit=limit)


@dataclass(frozen=True)
class RecentVersion:
    version: Version
    running_in: list[str]  # names of the environments that run it


def recent_versions(
    deployment: Deployment, environments: list[Environment], *, limit: int = 10
) -> list[RecentVersion]:
    """The newest versions, each with where it runs (one query)."""
    running: dict[int, list[str]] = {}
    for environment in environments:
        if environment.active_version_id:
            running.setdefault(environment.active_version_id, []).append(environment.name)
    versions = (
        Version.objects.filter(deployment=deployment)
        .select_related("created_by")
        .order_by("-number")[:limit]
    )
    return [RecentVersion(version=v, running_in=running.get(v.pk, [])) for v in versions]


def entries_at(environment: Environment, revision: int) -> QuerySet[ConfigEntry]:
    """The config entries alive at `revision`: the environment's configuration as of then."""
    return ConfigEntry.objects.filter(environment=environment, set_revision__lte=revision).filter(
        Q(end_revision__isnull=True) | Q(end_revision__gt=revision)
    )


def config_keys_at(environment: Environment, revision: int) -> set[str]:
    """The variable names (variables and bindings) a release at `revision` would define."""
    return set(
        entries_at(environment, revision)
        .exclude(kind=ConfigEntry.Kind.DOMAIN)
        .values_list("key", flat=True)
    )


def missing_required_keys(environment: Environment, revision: int | None = None) -> list[str]:
    """The deployment's required keys that a release of `environment` at `revision` (default:
    its current configuration) would lack: what a deploy or promotion would be refused for."""
    required = environment.deployment.required_keys
    if not required:
        return []
    revision = environment.config_revision if revision is None else revision
    return sorted(set(required) - config_keys_at(environment, revision))


@dataclass(frozen=True)
class PendingChanges:
    """What changed since the live release, by name only (never a value)."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    live_revision: int | None
    revision: int
    # Why a key changes when the change was made elsewhere (SPEC §19): {"API_URL":
    # "common.API_URL"}, from a shared group or a referenced environment.
    causes: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def count(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)

    @property
    def added_rows(self) -> list[tuple[str, str]]:
        """(name, what changed elsewhere to make it, or '')."""
        return [(name, self.causes.get(name, "")) for name in self.added]

    @property
    def changed_rows(self) -> list[tuple[str, str]]:
        return [(name, self.causes.get(name, "")) for name in self.changed]

    @property
    def names(self) -> list[str]:
        return sorted(self.added + self.changed + self.removed)


def _entry_label(entry: ConfigEntry) -> str:
    return f"domain {entry.key}" if entry.kind == ConfigEntry.Kind.DOMAIN else entry.key


def _as_served(entries: Iterable[ConfigEntry]) -> dict[str, ConfigEntry]:
    """By label, what a runtime gets: a resolved entry (SPEC §19) over the variable or
    binding of its key."""
    served: dict[str, ConfigEntry] = {}
    for entry in sorted(entries, key=lambda e: e.kind == ConfigEntry.Kind.RESOLVED):
        served[_entry_label(entry)] = entry
    return served


def pending_changes(environment: Environment) -> PendingChanges:
    """Keys added, changed and removed since the live release (one query). "Changed" comes from
    fingerprints, so secrets are compared without being decrypted."""
    head = environment.config_revision
    release = environment.live_release
    if release is None or release.config_revision == head:
        return PendingChanges([], [], [], release.config_revision if release else None, head)
    live = release.config_revision
    rows = list(
        ConfigEntry.objects.filter(environment=environment)
        .filter(Q(end_revision__isnull=True) | Q(set_revision__lte=live, end_revision__gt=live))
        .defer("ciphertext")
    )
    return _pending_from(rows, live, head)


def _pending_from(rows: Iterable[ConfigEntry], live: int, head: int) -> PendingChanges:
    """The difference between the entries alive at `live` and the current ones, among `rows`
    (the entries alive at either)."""
    at_live_rows, at_head_rows = [], []
    for e in rows:
        if e.set_revision <= live and (e.end_revision is None or e.end_revision > live):
            at_live_rows.append(e)
        if e.end_revision is None:
            at_head_rows.append(e)
    at_live, at_head = _as_served(at_live_rows), _as_served(at_head_rows)
    added = sorted(at_head.keys() - at_live.keys())
    removed = sorted(at_live.keys() - at_head.keys())
    changed = sorted(
        k
        for k in at_head.keys() & at_live.keys()
        if at_head[k].pk != at_live[k].pk
        and bytes(at_head[k].fingerprint) != bytes(at_live[k].fingerprint)
    )
    causes = {
        k: at_head[k].cause
        for k in added + changed
        if at_head[k].kind == ConfigEntry.Kind.RESOLVED and at_head[k].cause
    }
    return PendingChanges(added, changed, removed, live, head, causes)


def pending_by_environment(environments: list[Environment]) -> dict[int, PendingChanges]:
    """The pending changes of each environment that has some (its configuration moved on from
    its live release's), by environment id: one query however many environments and keys."""
    by_id = {e.pk: e for e in environments}
    live_revision = F("environment__live_release__config_revision")
    rows = (
        ConfigEntry.objects.filter(environment__in=by_id, environment__live_release__isnull=False)
        .exclude(environment__config_revision=live_revision)
        .filter(
            Q(end_revision__isnull=True)
            | Q(set_revision__lte=live_revision, end_revision__gt=live_revision)
        )
        .annotate(live_revision=live_revision)
        .only(
            "pk",
            "environment_id",
            "kind",
            "key",
            "fingerprint",
            "cause",
            "set_revision",
            "end_revision",
        )
    )
    grouped: dict[int, list[ConfigEntry]] = {}
    for row in rows:
        grouped.setdefault(row.environment_id, []).append(row)
    return {
        pk: _pending_from(entries, entries[0].live_revision, by_id[pk].config_revision)
        for pk, entries in grouped.items()
    }


def refresh_config_state(environment: Environment) -> Environment:
    """Re-read what a write may have moved (revision, live release, mode) onto `environment`,
    for the notice that follows it (one query)."""
    fresh = (
        Environment.objects.select_related("live_release__version", "active_version")
        .only(
            "pk",
            "config_revision",
            "config_changes",
            "release_count",
            "active_version",
            "live_release",
        )
        .get(pk=environment.pk)
    )
    environment.config_revision = fresh.config_revision
    environment.config_changes = fresh.config_changes
    environment.release_count = fresh.release_count
    environment.active_version = fresh.active_version
    environment.live_release = fresh.live_release
    return environment


@dataclass(frozen=True)
class LiveState:
    """Where an environment's configuration stands: its live release and whether committed
    changes wait for an Apply (a staged environment's pending changes)."""

    live_release: int | None
    pending: bool


def live_state(environment: Environment) -> LiveState:
    """Read afresh (one query), for the answer to a write that just committed."""
    environment = refresh_config_state(environment)
    live = environment.live_release
    return LiveState(
        live_release=live.number if live else None,
        pending=live is not None and live.config_revision < environment.config_revision,
    )


@dataclass(frozen=True)
class ReleaseSummary:
    release: int | None  # the live release's number
    pending: int  # how many keys changed since it (as pending_changes counts them)


def release_summaries(environments: Iterable[Environment]) -> dict[int, ReleaseSummary]:
    """The live release and pending-change count of many environments: two queries however
    many environments and entries (a list must not run pending_changes per row)."""
    states = list(
        Environment.objects.filter(pk__in=[e.pk for e in environments])
        .select_related("live_release")
        .only("pk", "config_revision", "live_release__number", "live_release__config_revision")
    )
    moved = [
        e for e in states if e.live_release and e.live_release.config_revision < e.config_revision
    ]
    pending = pending_by_environment(moved) if moved else {}
    return {
        e.pk: ReleaseSummary(
            release=e.live_release.number if e.live_release else None,
            pending=pending[e.pk].count if e.pk in pending else 0,
        )
        for e in states
    }


def releases(
    environment: Environment, *, before: int | None = None, limit: int = 50
) -> Page[Release]:
    """Newest first; `before` (a release number) pages back (keyset paging). One query."""
    rows = Release.objects.filter(environment=environment).select_related("version", "from_version")
    return keyset_page(rows, key="number", before=before, limit=limit)


def get_release(environment: Environment, number: int) -> Release:
    release = (
        Release.objects.filter(environment=environment, number=number)
        .select_related("version")
        .first()
        if 0 < number <= rules.MAX_NUMBER
        else None
    )
    if release is None:
        raise Http404(f"{environment.name} has no release {number}.")
    return release


@dataclass(frozen=True)
class ReleaseRow:
    release: Release
    live: bool
    can_rollback: bool  # an earlier release, and the user may deploy into the environment


def release_rows(
    environment: Environment, *, may_roll_back: bool, before: int | None = None, limit: int = 100
) -> list[ReleaseRow]:
    """The history page's rows, newest first: every release but the live one can be rolled
    back to (its version with its configuration, or with the current one)."""
    live = environment.live_release_id
    return [
        ReleaseRow(release=r, live=r.pk == live, can_rollback=may_roll_back and r.pk != live)
        for r in releases(environment, before=before, limit=limit)
    ]
