"""Any secret's age and convergence (SPEC §14): when its current value was written, whether that
is past the deployment's `max_secret_age_days`, and how many live instances still run an older
value of it. Names and counts only: never a value, a preview or a fingerprint.

A secret is a key whose live config entry is a secret variable or a binding. An instance is live
when it fetched within ROTATION_INSTANCE_WINDOW_SECONDS; it runs the configuration of the
revision of the release it booted on (`RuntimeInstance.config_revision`). It is on the current
value when the key's entry alive at that revision has the current value's fingerprint, so a value
restored or written again counts as the same; a key absent then, or an instance that booted before
any release (no revision is known), counts as on an older value.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from ..models import ConfigEntry, Deployment, Environment, RuntimeInstance

SECRET_KINDS = (ConfigEntry.Kind.VARIABLE, ConfigEntry.Kind.BINDING)


def instance_window() -> timedelta:
    """How recently an instance fetched to count as live (SPEC §14, default 15 minutes)."""
    return timedelta(seconds=getattr(settings, "ROTATION_INSTANCE_WINDOW_SECONDS", 900))


@dataclass(frozen=True)
class SecretAge:
    """One secret's age and convergence: names and counts only."""

    environment: str
    key: str
    set_at: datetime  # when the current value was written (a rewrite of it does not count)
    age_days: int  # whole days since set_at
    overdue: bool | None  # past the deployment's max_secret_age_days; None: no maximum is set
    instances_on_older_value: int  # live instances whose release holds another value, or none

    @property
    def converged(self) -> bool:
        return self.instances_on_older_value == 0


@dataclass(frozen=True)
class _Entry:
    set_revision: int
    end_revision: int | None
    fingerprint: bytes
    set_at: datetime


def _alive_at(entries: list[_Entry], starts: list[int], revision: int) -> _Entry | None:
    """The entry of a key alive at `revision` (entries sorted by set_revision)."""
    position = bisect.bisect_right(starts, revision) - 1
    if position < 0:
        return None
    entry = entries[position]
    if entry.end_revision is not None and entry.end_revision <= revision:
        return None
    return entry


def _same_value(entry: _Entry | None, current: _Entry) -> bool:
    if entry is None:
        return False
    if entry is current:
        return True
    return bool(current.fingerprint) and entry.fingerprint == current.fingerprint


def _written_at(entries: list[_Entry]) -> datetime:
    """When the current (last) entry's value was written: the first entry of the unbroken run
    of entries with its fingerprint, so writing the same value again does not make it younger,
    while a value replaced and later restored is as old as its restore. (`entries` may skip
    entries with other values: a gap breaks the run as they would.)"""
    current = entries[-1]
    start = current
    for entry in reversed(entries[:-1]):
        if entry.end_revision != start.set_revision or not _same_value(entry, current):
            break
        start = entry
    return start.set_at


def secret_ages(
    deployment: Deployment,
    environments: list[Environment],
    *,
    keys: Collection[str] | None = None,
    now: datetime | None = None,
) -> dict[tuple[str, str], SecretAge]:
    """The secrets of `environments` (of `deployment`), or those among `keys` (a page of them),
    by (environment name, key). Two queries however many keys, instances and revisions: the
    live instances counted per (environment, revision), and what the secrets' value history
    holds of those revisions and of their current values."""
    if not environments or (keys is not None and not keys):
        return {}
    now = now or timezone.now()
    names = {e.pk: e.name for e in environments}
    counted = list(
        RuntimeInstance.objects.filter(
            environment__in=names, last_seen_at__gte=now - instance_window()
        )
        .values_list("environment_id", "config_revision")
        .annotate(count=Count("id"))
        .order_by()
    )
    live: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
    for environment_id, revision, count in counted:
        live[environment_id].append((revision, count))

    # Of each secret's history, only what the answer needs (history grows with every write):
    # the live entry, the entries alive at a revision a live instance runs, and the entries
    # with the live value (the start of its unbroken run says when it was written).
    live_entry = ConfigEntry.objects.filter(
        environment=OuterRef("environment"),
        key=OuterRef("key"),
        end_revision__isnull=True,
        kind__in=SECRET_KINDS,
    )
    is_secret = Exists(live_entry.filter(Q(is_secret=True) | Q(kind=ConfigEntry.Kind.BINDING)))
    same_value = Exists(live_entry.filter(fingerprint=OuterRef("fingerprint")))
    wanted = Q(end_revision__isnull=True) | same_value
    revisions = [revision for _, revision, _ in counted if revision is not None]
    if revisions:
        wanted |= Q(set_revision__lte=max(revisions), end_revision__gt=min(revisions))
    history = ConfigEntry.objects.filter(environment__in=names, kind__in=SECRET_KINDS).filter(
        is_secret, wanted
    )
    if keys is not None:
        history = history.filter(key__in=list(keys))
    by_key: dict[tuple[int, str], list[_Entry]] = defaultdict(list)
    for environment_id, key, set_revision, end_revision, fingerprint, set_at in history.order_by(
        "environment_id", "key", "set_revision"
    ).values_list("environment_id", "key", "set_revision", "end_revision", "fingerprint", "set_at"):
        by_key[(environment_id, key)].append(
            _Entry(set_revision, end_revision, bytes(fingerprint or b""), set_at)
        )

    max_days = deployment.max_secret_age_days
    ages: dict[tuple[str, str], SecretAge] = {}
    for (environment_id, key), entries in by_key.items():
        current = entries[-1]
        if current.end_revision is not None:  # cannot happen: the key is a secret now
            continue
        starts = [e.set_revision for e in entries]
        older = sum(
            count
            for revision, count in live[environment_id]
            if revision is None or not _same_value(_alive_at(entries, starts, revision), current)
        )
        set_at = _written_at(entries)
        age = now - set_at
        name = names[environment_id]
        ages[(name, key)] = SecretAge(
            environment=name,
            key=key,
            set_at=set_at,
            age_days=max(0, age.days),
            overdue=None if max_days is None else age > timedelta(days=max_days),
            instances_on_older_value=older,
        )
    return ages
