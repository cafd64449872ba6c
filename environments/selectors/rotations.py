"""Reads of rotations (SPEC §14): how far a rotation has got, counted from the instances seen
lately and the releases they booted on. Names and counts, never a credential."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone

from ..models import ConfigEntry, DataService, Environment, Rotation, RuntimeInstance


def instance_window() -> timedelta:
    return timedelta(seconds=settings.ROTATION_INSTANCE_WINDOW_SECONDS)


def drain() -> timedelta:
    return timedelta(seconds=settings.ROTATION_DRAIN_SECONDS)


def revoke_after() -> timedelta:
    return timedelta(hours=settings.ROTATION_REVOKE_AFTER_HOURS)


def check_interval() -> timedelta:
    return timedelta(seconds=settings.ROTATION_CHECK_SECONDS)


@dataclass(frozen=True)
class OldInstance:
    """An instance still on the old credential: its id, the release it booted on, when it
    last fetched, and when it leaves the window if it never fetches again."""

    instance: str
    release: int | None
    last_seen_at: datetime
    leaves_window_at: datetime


@dataclass(frozen=True)
class Convergence:
    total: int
    on_new: int
    on_old: int
    old: list[OldInstance]


EMPTY = Convergence(total=0, on_new=0, on_old=0, old=[])


def convergence(rotation: Rotation, *, now: datetime | None = None) -> Convergence:
    """Instances of the service's environment seen in the last ROTATION_INSTANCE_WINDOW: those
    whose release's configuration holds the new credential (by fingerprint) are on the new
    one; any other (an older value, or none) is on the old. Two queries."""
    service = rotation.service
    if service.environment_id is None or not rotation.new_fingerprint:
        return EMPTY
    now = now or timezone.now()
    window = instance_window()
    seen = list(
        RuntimeInstance.objects.filter(
            environment_id=service.environment_id, last_seen_at__gte=now - window
        ).order_by("-last_seen_at")
    )
    if not seen:
        return EMPTY
    spans = list(
        ConfigEntry.objects.filter(
            environment_id=service.environment_id,
            kind=ConfigEntry.Kind.BINDING,
            key=rotation.variable,
        ).values_list("set_revision", "end_revision", "fingerprint")
    )
    new = bytes(rotation.new_fingerprint)

    def holds_new(revision: int | None) -> bool:
        if revision is None:
            return False
        return any(
            start <= revision and (end is None or revision < end) and bytes(fp) == new
            for start, end, fp in spans
        )

    old = [
        OldInstance(
            instance=i.instance,
            release=i.release_number,
            last_seen_at=i.last_seen_at,
            leaves_window_at=i.last_seen_at + window,
        )
        for i in seen
        if not holds_new(i.config_revision)
    ]
    return Convergence(total=len(seen), on_new=len(seen) - len(old), on_old=len(old), old=old)


def live_holds_new(rotation: Rotation, environment: Environment) -> bool:
    """Whether the environment's live release injects the new credential (a staged
    environment's rotation waits for an Apply)."""
    if not rotation.new_fingerprint:
        return False
    release = environment.live_release
    # Before any release a runtime gets the current configuration.
    served = release.config_revision if release is not None else environment.config_revision
    entry = (
        ConfigEntry.objects.filter(
            environment=environment,
            kind=ConfigEntry.Kind.BINDING,
            key=rotation.variable,
            set_revision__lte=served,
        )
        .order_by("-set_revision")
        .values_list("end_revision", "fingerprint")
        .first()
    )
    if entry is None:
        return False
    end, fingerprint = entry
    return (end is None or end > served) and bytes(fingerprint) == bytes(rotation.new_fingerprint)


def get_rotation(service: DataService, pk: int) -> Rotation:
    """One rotation of `service` (404 for another service's)."""
    return get_object_or_404(
        Rotation.objects.select_related("service__environment", "service__server"),
        service=service,
        pk=pk,
    )


def current_rotation(service: DataService) -> Rotation | None:
    """The service's rotation under way, else its latest one."""
    rotations = Rotation.objects.filter(service=service).select_related(
        "service__environment", "service__server"
    )
    return rotations.filter(state__in=Rotation.ACTIVE).first() or rotations.order_by("-pk").first()


def active_rotations(environment: Environment) -> list[Rotation]:
    """The environment's rotations under way, and those finished in the last day: one query."""
    since = timezone.now() - timedelta(days=1)
    return [
        r
        for r in Rotation.objects.filter(service__environment=environment)
        .select_related("service__environment", "service__server")
        .order_by("-pk")
        if r.active or (r.finished_at is not None and r.finished_at >= since)
    ]


def due_services(*, now: datetime | None = None) -> list[DataService]:
    """Ready services with `rotate_every_days` whose last rotation (or creation) is older than
    that, and none under way."""
    now = now or timezone.now()
    due = []
    candidates = DataService.objects.filter(
        state=DataService.State.READY, rotate_every_days__isnull=False, environment__isnull=False
    ).prefetch_related("rotations")
    for service in candidates:
        rotations = list(service.rotations.all())
        if any(r.active for r in rotations):
            continue
        last = max(
            [service.ready_at or service.created_at]
            + [r.started_at for r in rotations if r.state == Rotation.State.REVOKED],
        )
        if last + timedelta(days=service.rotate_every_days) <= now:
            due.append(service)
    return due


def stalled_rotations(*, now: datetime | None = None) -> list[int]:
    """Rotations whose task chain died (a killed worker, a lost enqueue): a lease run out, or
    a check overdue by more than a minute. The periodic command starts their chain again."""
    now = now or timezone.now()
    slack = timedelta(minutes=1)
    rows = Rotation.objects.filter(state__in=["creating", "released", "converging"]).only(
        "pk", "lease_until", "next_check_at", "updated_at"
    )
    return (
        [
            r.pk
            for r in rows
            if (r.lease_until is not None and r.lease_until < now)
            or (r.lease_until is None and (r.next_check_at or r.updated_at) + slack < now)
        ]
        + [
            # Failed or cancelled: the new credential is still to be dropped.
            r.pk
            for r in Rotation.objects.filter(
                state__in=["failed", "cancelled"], new_dropped_at__isnull=True
            ).only("pk", "lease_until", "next_check_at", "updated_at")
            if (r.lease_until is not None and r.lease_until < now)
            or (r.lease_until is None and (r.next_check_at or r.updated_at) + slack < now)
        ]
        + list(
            Rotation.objects.filter(
                state=Rotation.State.REVOKED,
                drain_until__isnull=False,
                sessions_ended_at__isnull=True,
                drain_until__lt=now - slack,
            ).values_list("pk", flat=True)
        )
    )


@dataclass(frozen=True)
class NextStep:
    """What happens next to a rotation and when (None: when someone acts, or never)."""

    step: str
    at: datetime | None
    message: str


def next_step(rotation: Rotation, waiting: Convergence) -> NextStep:
    state, kind = rotation.state, rotation.service.kind
    if state == Rotation.State.CREATING:
        return NextStep(
            "create", rotation.next_check_at, "Creating and testing the new credential."
        )
    if state == Rotation.State.RELEASED:
        return NextStep(
            "apply",
            None,
            "The new credential is a pending change: it goes live with the environment's next "
            "Apply (or deploy); the old one keeps working until then.",
        )
    if state == Rotation.State.CONVERGING:
        if rotation.forced_at is not None:
            return NextStep("revoke", rotation.next_check_at, "Revoking the old credential now.")
        if waiting.on_old == 0:
            return NextStep(
                "revoke",
                rotation.next_check_at,
                "Every instance runs on the new credential: the old one is revoked at the next "
                "check.",
            )
        latest = max(i.leaves_window_at for i in waiting.old)
        if latest < rotation.revoke_after:
            return NextStep(
                "revoke",
                latest,
                f"The old credential is revoked once {_instances(waiting.on_old)} "
                f"{'restarts' if waiting.on_old == 1 else 'restart'} on the new release, at the "
                "latest when "
                f"{'it leaves' if waiting.on_old == 1 else 'they leave'} the window of instances "
                f"seen lately (if {'it stops' if waiting.on_old == 1 else 'they stop'} fetching).",
            )
        return NextStep(
            "stuck",
            rotation.revoke_after,
            f"Waiting for {_instances(waiting.on_old)} to restart on the new release; if they "
            "have not by then, the rotation is stuck and revokes nothing until an admin forces "
            "or cancels it.",
        )
    if state == Rotation.State.STUCK:
        return NextStep(
            "admin",
            None,
            f"Stuck: {_instances(waiting.on_old)} still on the old credential past the revoke "
            "deadline. Nothing is revoked until an admin forces the revocation or cancels.",
        )
    if state == Rotation.State.REVOKED:
        if kind == "postgres" and rotation.sessions_ended_at is None and rotation.drain_until:
            return NextStep(
                "end_sessions",
                rotation.drain_until,
                "The old login is refused; its open sessions are ended after the drain.",
            )
        return NextStep("done", None, "The old credential is revoked.")
    if state == Rotation.State.FAILED:
        return NextStep("done", None, "Failed; the old credential is untouched.")
    return NextStep(
        "done", None, "Cancelled: the old credential is bound again and the new one revoked."
    )


def _instances(count: int) -> str:
    return f"{count} instance{'s' if count != 1 else ''}"
