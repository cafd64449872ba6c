"""Rotation of a data service's credential that waits for every instance (SPEC §14): the
request side (start, force, cancel, the scheduled start) and what the worker's steps share
(the binding's URL rewritten as a config change, the audit events, the next run's enqueue).

A rotation's steps run in `rotate_data_service` tasks (see `rotation_steps`): (1) create a
second credential, (2) test it by connecting, (3) release it (the managed binding's URL
changes: a release at once in an immediate environment, a pending change in a staged one), (4)
converge: count the instances seen lately still on a release that holds the old credential,
(5) revoke the old credential when none is left. Past `revoke_after` a rotation is stuck and
revokes nothing until an admin forces or cancels it.

Each task run belongs to a chain (the rotation's `generation`): a force or a cancel starts a new
chain, and a run of an older one does nothing, so one rotation never has two chains running.
Audit events name the service, the rotation and states; never a credential.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import audit, crypto, selectors
from ..actors import Actor
from ..dataservers import DataServerError, new_password, parse_url
from ..errors import Conflict, Invalid, Undecryptable
from ..models import Binding, ConfigEntry, DataServer, DataService, Environment, Rotation
from ..selectors import rotations as rotation_reads
from .data_services import check_rotation_schedule, driver_names, enqueue, lock_service
from .environment_writes import fingerprint_scope
from .revisions import Revision

State = Rotation.State
MIN_REASON = 10  # api.inputs.ROTATION_REASON_MIN says the same

WORKER = Actor.system("rotation worker")
SCHEDULER = Actor.system("rotation scheduler")


def audit_rotation(action: str, rotation: Rotation, actor: Actor, **detail: Any) -> None:
    service = rotation.service
    environment = service.environment
    audit.record(
        action,
        actor=actor,
        environment=environment,
        deployment=None if environment is not None else service.deployment,
        target=service.name,
        detail={
            "rotation": rotation.pk,
            "kind": service.kind,
            "variable": service.variable,
            "state": rotation.state,
        }
        | detail,
    )


def schedule(rotation: Rotation, *, delay: timedelta | None = None) -> None:
    """Start the rotation's next task chain (on commit), `delay` from now; the caller saves
    `generation` and `next_check_at`."""
    rotation.generation += 1
    rotation.next_check_at = timezone.now() + (delay or timedelta(0))
    enqueue("rotate_data_service", rotation.pk, rotation.generation, delay=delay)


def lock_rotation(rotation: Rotation) -> tuple[Environment | None, Rotation]:
    """The environment, then the service, then the rotation locked (every writer's order)."""
    environment, _ = lock_service(rotation.service)
    Rotation.objects.select_for_update().filter(pk=rotation.pk).values_list("pk").first()
    fresh = Rotation.objects.select_related(
        "service__environment__deployment", "service__server", "service__deployment"
    ).get(pk=rotation.pk)
    return environment, fresh


def rebind(environment: Environment, service: DataService, url: str, actor: Actor, **detail):
    """Point the service's managed binding at `url`: a config change like any (a release at
    once in an immediate environment, pending in a staged one, which pushes nothing else
    live). Returns the binding's new fingerprint. The caller holds the environment lock."""
    binding = (
        Binding.objects.select_related("environment__deployment")
        .filter(data_service=service)
        .first()
    )
    if binding is None:
        raise Conflict(
            f"{service.name} is not bound any more; nothing to rotate.", code="not_bound"
        )
    keyring = crypto.get_keyring()
    binding.ciphertext = crypto.encrypt(url, context=binding.context(), keyring=keyring)
    binding.fingerprint = crypto.fingerprint(
        url, scope=fingerprint_scope(environment.deployment_id), keyring=keyring
    )
    binding.updated_by, binding.updated_by_label = actor.user, actor.label
    binding.save(
        update_fields=["ciphertext", "fingerprint", "updated_by", "updated_by_label", "updated_at"]
    )
    revision = Revision(environment, actor)
    revision.set(
        ConfigEntry.Kind.BINDING,
        binding.variable_name,
        value=url,
        fingerprint=bytes(binding.fingerprint),
        is_secret=True,
        binding_kind=binding.kind,
        binding_name=binding.name,
    )
    revision.finish()
    audit.record(
        "binding.update",
        actor=actor,
        environment=environment,
        target=binding.variable_name,
        detail={"changed": ["credential"], "managed": True} | detail,
    )
    return binding.variable_name, bytes(binding.fingerprint), revision.number


# Start


def _refuse_busy(service: DataService) -> None:
    if Rotation.objects.filter(service=service, state__in=Rotation.ACTIVE).exists():
        raise Conflict(
            f"{service.name} is already rotating; wait for that rotation to end, or cancel it.",
            code="rotation_in_progress",
        )


def _start(service: DataService, environment: Environment | None, actor: Actor, trigger: str):
    if service.state != DataService.State.READY or environment is None:
        raise Conflict(
            f"{service.name} is {service.state}; only a ready data service can be rotated.",
            code="not_ready",
        )
    _refuse_busy(service)
    binding = Binding.objects.select_related("environment").filter(data_service=service).first()
    if binding is None:
        raise Conflict(f"{service.name} is not bound; nothing to rotate.", code="not_bound")
    try:
        old_url = crypto.decrypt(binding.ciphertext, context=binding.context())
    except crypto.DecryptionError:
        raise Undecryptable(
            f"{binding.variable_name}'s credential cannot be decrypted with the configured "
            "keys; it cannot be rotated."
        ) from None
    now = timezone.now()
    rotation = Rotation(
        service=service,
        state=State.CREATING,
        trigger=trigger,
        variable=binding.variable_name,
        started_at=now,
        revoke_after=now + rotation_reads.revoke_after(),
        started_by_label=actor.label,
    )
    if service.kind == DataServer.Kind.POSTGRES:
        names = driver_names(service)
        try:
            user = parse_url(old_url, schemes=("postgres", "postgresql")).user
        except DataServerError:
            user = names.login_a
        rotation.old_login = "b" if user == names.login_b else "a"
        rotation.new_login = "a" if rotation.old_login == "b" else "b"
    keyring = crypto.get_keyring()
    rotation.old_url_ciphertext = rotation.seal("old_url", old_url, keyring)
    if service.kind != DataServer.Kind.BUCKET:
        # Generated once, before the first attempt: a retried create makes the same one.
        rotation.new_password_ciphertext = rotation.seal("new_password", new_password(), keyring)
    try:
        with transaction.atomic():
            rotation.save()
    except IntegrityError:
        raise Conflict(
            f"{service.name} is already rotating.", code="rotation_in_progress"
        ) from None
    schedule(rotation)
    rotation.save(update_fields=["generation", "next_check_at"])
    rotation.service = service
    audit_rotation("rotation.start", rotation, actor, trigger=trigger)
    return rotation


@transaction.atomic(durable=True)
def start_rotation(*, service: DataService, actor: Actor, trigger: str = "manual") -> Rotation:
    """Start rotating a ready service's credential (the worker does the steps). 409
    `rotation_in_progress` while another rotation of it runs (or is stuck), `not_ready`."""
    environment, service = lock_service(service)
    return _start(service, environment, actor, trigger)


# Force, cancel


@transaction.atomic(durable=True)
def force_revoke(*, rotation: Rotation, actor: Actor, reason: str) -> Rotation:
    """Revoke the old credential now, whatever instances still run on it (admin; the caller
    checks). Allowed while converging or stuck; the reason (≥ 10 characters) is audited."""
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise Invalid(
            f"Say why, in at least {MIN_REASON} characters: instances still on the old "
            "credential lose their access.",
            field="reason",
        )
    if len(reason) > 500:
        raise Invalid("A reason has at most 500 characters.", field="reason")
    _, rotation = lock_rotation(rotation)
    if rotation.state not in (State.CONVERGING, State.STUCK):
        raise Conflict(
            f"This rotation is {rotation.state}; only a converging or stuck one can be forced.",
            code="not_forceable",
        )
    if rotation.forced_at is None:
        rotation.forced_at, rotation.reason = timezone.now(), reason
        rotation.forced_by_label = actor.label
        waiting = rotation_reads.convergence(rotation).on_old
        audit_rotation("rotation.force", rotation, actor, reason=reason, instances_on_old=waiting)
    rotation.lease_token, rotation.lease_until = "", None
    schedule(rotation)
    rotation.save()
    return rotation


@transaction.atomic(durable=True)
def cancel_rotation(*, rotation: Rotation, actor: Actor) -> Rotation:
    """Give up: the binding returns to the old credential (a new config change) and the worker
    revokes the new one. Allowed while released, converging or stuck."""
    environment, rotation = lock_rotation(rotation)
    if rotation.state not in (State.RELEASED, State.CONVERGING, State.STUCK):
        raise Conflict(
            f"This rotation is {rotation.state}; only a released, converging or stuck one can "
            "be cancelled.",
            code="not_cancellable",
        )
    if rotation.lease_until is not None and rotation.lease_until > timezone.now():
        raise Conflict(
            "The worker is revoking the old credential right now; look again in a moment.",
            code="rotation_busy",
        )
    if environment is not None:
        try:
            old_url = rotation.unseal("old_url")
        except crypto.DecryptionError:
            raise Undecryptable(
                "The old credential cannot be decrypted with the configured keys; force the "
                "revocation instead."
            ) from None
        rebind(environment, rotation.service, old_url, actor, rotation=rotation.pk)
    rotation.state, rotation.finished_at = State.CANCELLED, timezone.now()
    rotation.cancelled_by_label = actor.label
    schedule(rotation)  # the worker revokes the new credential
    rotation.save()
    audit_rotation("rotation.cancel", rotation, actor)
    return rotation


# Scheduled rotations


@transaction.atomic(durable=True)
def set_rotation_schedule(*, service: DataService, days: int | None, actor: Actor) -> DataService:
    """Rotate the service every `days` days (None: only when asked)."""
    check_rotation_schedule(days)
    _, service = lock_service(service)
    service.rotate_every_days = days
    service.save(update_fields=["rotate_every_days", "updated_at"])
    audit.record(
        "data_service.schedule",
        actor=actor,
        environment=service.environment,
        target=service.name,
        detail={"rotate_every_days": days},
    )
    return service


def start_due_rotations() -> list[int]:
    """Start a rotation of every service whose `rotate_every_days` have passed since its last
    rotation (or its creation), each in its own transaction; then restart the task chains of
    rotations whose worker died. Returns the started rotations' ids."""
    started = []
    for service in selectors.due_services():
        try:
            with transaction.atomic(durable=True):
                environment, fresh = lock_service(service)
                started.append(_start(fresh, environment, SCHEDULER, "scheduled").pk)
        except (Conflict, Undecryptable):
            continue  # started meanwhile, not ready any more: the next run looks again
    resume_rotations(selectors.stalled_rotations())
    return started


def resume_rotations(rotation_ids: list[int]) -> int:
    """Start a new task chain for each rotation (a run already under way finishes; a run of
    the old chain does nothing)."""
    for pk in rotation_ids:
        with transaction.atomic(durable=True):
            rotation = Rotation.objects.select_for_update().filter(pk=pk).first()
            if rotation is None:
                continue
            if rotation.lease_until is not None and rotation.lease_until < timezone.now():
                rotation.lease_token, rotation.lease_until = "", None
            schedule(rotation)
            rotation.save()
    return len(rotation_ids)
