"""Data servers and the data services MIOSA creates on them (SPEC §13).

The request side (add a server, create, retry, destroy, detach) changes rows and enqueues a task
on commit; the worker side (`claim`, `finish_provisioning`, `finish_destroying`,
`record_failure`, called by `environments.tasks`) talks to the servers between two short
transactions, holding a lease on the service row rather than a lock across network calls.

Nothing here logs, audits or raises a URL or a password: the drivers' `DataServerError` names
a step and an error class only, and that is all a service's `error` keeps.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import audit, crypto, rules, selectors
from ..actors import Actor
from ..dataservers import DataServerError, bucket, new_password, postgres, redis
from ..errors import Conflict, Invalid, NotFound, ServiceError, validated
from ..models import Binding, DataServer, DataService, Deployment, Environment, Variable
from .bindings import create_binding, remove_binding
from .environment_writes import lock_environment

logger = logging.getLogger(__name__)

State = DataService.State
KINDS = tuple(DataServer.Kind.values)
MODES = ("destroy", "detach")
DATA_CHOICES = ("copy", "empty", "none")

# A run's lease on its service: long enough for a large copy; a run that outlives it (a killed
# worker) is taken over by `manage.py resume_data_services`.
LEASE = timedelta(minutes=30)
# Transient errors (server down, restarting, overloaded) are retried this many times, after
# 2, 4, 8, 16, 32 seconds; then the service is failed and a user may retry it.
MAX_ATTEMPTS = 5

WORKER = Actor.system("data services worker")


def connection_limit() -> int:
    return int(getattr(settings, "DATA_POSTGRES_CONNECTION_LIMIT", 20))


def name_prefix() -> str:
    """The prefix of every name made on a server (databases, roles, ACL users, buckets)."""
    return getattr(settings, "DATA_SERVICE_NAME_PREFIX", "miosa")


def driver_names(service: DataService) -> Any:
    """The service's names on its server, derived from its key (never from user input)."""
    if service.kind == DataServer.Kind.POSTGRES:
        return postgres.Names.for_service(service.key, prefix=service.name_prefix)
    if service.kind == DataServer.Kind.REDIS:
        return redis.Names.for_service(
            service.key, key_prefix=service.key_prefix, prefix=service.name_prefix
        )
    return bucket.Names.for_service(service.key, prefix=service.name_prefix)


# Creating a data service


def audit_service(action: str, service: DataService, actor: Actor, **detail: Any) -> None:
    environment = service.environment
    audit.record(
        action,
        actor=actor,
        environment=environment,
        deployment=None if environment is not None else service.deployment,
        target=service.name,
        detail={
            "kind": service.kind,
            "server": service.server.name,
            "variable": service.variable,
        }
        | ({"environment": service.environment_name} if environment is None else {})
        | detail,
    )


def enqueue(task_name: str, *args: int, delay: timedelta | None = None) -> None:
    """Enqueue the task once the transaction commits: a change rolled back enqueues nothing."""
    from .. import tasks  # tasks import the services

    task = getattr(tasks, task_name)
    if delay is not None:
        task = task.using(run_after=timezone.now() + delay)
    transaction.on_commit(lambda: task.enqueue(*args))


def _variable_taken(environment: Environment, variable: str) -> bool:
    return (
        Binding.objects.filter(environment=environment, variable_name=variable).exists()
        or Variable.objects.filter(environment=environment, key=variable).exists()
        or DataService.objects.filter(
            environment=environment,
            variable=variable,
            state__in=[State.PROVISIONING, State.FAILED],
        ).exists()
    )


def _pick_server(environment: Environment, kind: str, server: DataServer | str | None):
    available = selectors.available_servers(environment.deployment, kind)
    if server is None:
        picked = available.first()
    else:
        wanted = server if isinstance(server, str) else server.name
        picked = available.filter(name=wanted).first()
    if picked is None:
        where = f"the {server if isinstance(server, str) else server.name} server" if server else ""
        raise Conflict(
            f"No {kind} data server is available to {environment.deployment.name}"
            + (f" as {where}" if where else "")
            + ". A superuser registers one with `manage.py add_data_server "
            f"{kind} NAME --url-file FILE` or on the data servers page.",
            code="no_data_server",
            field="server",
        )
    return picked


def _source_service(environment: Environment, source: Environment, kind: str) -> DataService:
    if source.is_production:
        raise Conflict(
            "Production is never a data source: copy from staging or another environment.",
            code="production_data",
            field="copy_from",
        )
    if source.deployment_id != environment.deployment_id or source.pk == environment.pk:
        raise Invalid("Copy from another environment of the same deployment.", field="copy_from")
    found = (
        DataService.objects.filter(environment=source, kind=kind, state=State.READY)
        .select_related("server")
        .order_by("created_at")
        .first()
    )
    if found is None:
        raise Conflict(
            f"{source.name} has no ready {kind} data service to copy.",
            code="no_source_service",
            field="copy_from",
        )
    return found


def check_rotation_schedule(days: int | None) -> None:
    """A scheduled rotation is every 1 to MAX_ROTATE_EVERY_DAYS days, or none (None)."""
    if days is not None and not (1 <= days <= rules.MAX_ROTATE_EVERY_DAYS):
        raise Invalid(
            f"Rotate every 1 to {rules.MAX_ROTATE_EVERY_DAYS} days, or never.",
            field="rotate_every_days",
        )


def _create(
    *,
    environment: Environment,
    kind: str,
    actor: Actor,
    server: DataServer | str | None = None,
    name: str | None = None,
    variable: str | None = None,
    copy_from: Environment | None = None,
    rotate_every_days: int | None = None,
) -> DataService:
    """Create the row (state provisioning) and enqueue its provisioning; the caller holds the
    environment lock."""
    if kind not in KINDS:
        raise Invalid(f"The kind must be {', '.join(KINDS)}.", field="kind")
    check_rotation_schedule(rotate_every_days)
    source = None
    if copy_from is not None:
        if copy_from.is_production:
            raise Conflict(
                "Production is never a data source: copy from staging or another environment.",
                code="production_data",
                field="copy_from",
            )
        if kind == DataServer.Kind.POSTGRES:  # Redis and buckets start empty (SPEC §13)
            source = _source_service(environment, copy_from, kind)
            if server is None:
                server = source.server
    picked = _pick_server(environment, kind, server)
    if source is not None and source.server_id != picked.pk:
        raise Invalid(
            f"A copy is made on its source's server, {source.server.name}.", field="server"
        )
    default_variable = rules.BINDING_KINDS[kind].variable_name
    variable = validated(
        rules.validate_new_key, (variable or "").strip() or default_variable, field="variable"
    )
    if _variable_taken(environment, variable):
        raise Conflict(
            f"{environment.name} already injects {variable}; give the data service another "
            "variable name.",
            code="variable_taken",
            field="variable",
        )
    name = (name or "").strip() or f"{environment.deployment.name}-{kind}"
    if len(name) > 100:
        raise Invalid("A name has at most 100 characters.", field="name")
    service = DataService(
        deployment=environment.deployment,
        environment=environment,
        deployment_name=environment.deployment.name,
        environment_name=environment.name,
        kind=kind,
        server=picked,
        name=name,
        variable=variable,
        key=secrets.token_hex(16),
        name_prefix=name_prefix(),
        key_prefix=f"{environment.deployment.name}:{environment.name}:",
        copy_from=source,
        copy_from_environment=copy_from.name if copy_from is not None else "",
        created_by_label=actor.label,
        rotate_every_days=rotate_every_days,
    )
    if kind != DataServer.Kind.BUCKET:
        # Generated once, before the first attempt: every retry gives the same URL.
        service.credential_ciphertext = crypto.encrypt(
            new_password(), context=service.credential_context()
        )
    service.save()
    audit_service(
        "data_service.create",
        service,
        actor,
        **({"copy_from": copy_from.name} if copy_from is not None else {}),
    )
    enqueue("provision_data_service", service.pk)
    return service


@transaction.atomic
def create_data_service(
    *,
    environment: Environment,
    kind: str,
    actor: Actor,
    server: DataServer | str | None = None,
    name: str | None = None,
    variable: str | None = None,
    copy_from: Environment | None = None,
    rotate_every_days: int | None = None,
) -> DataService:
    """Create a Postgres, Redis or bucket for `environment`: state provisioning, the work done
    by the worker, which then binds it (a config change). 409 `no_data_server`,
    `variable_taken` (unless `variable` names a free one), `production_data` (production as
    `copy_from`), `no_source_service` (nothing ready to copy)."""
    environment = lock_environment(environment)
    return _create(
        environment=environment,
        kind=kind,
        actor=actor,
        server=server,
        name=name,
        variable=variable,
        copy_from=copy_from,
        rotate_every_days=rotate_every_days,
    )


def create_for_new_environment(
    *, environment: Environment, source: Environment, data: str, actor: Actor
) -> list[DataService]:
    """`create_environment(copy_from=source, data=…)`: the new environment gets its own
    services of the kinds `source` has ready, under the same variable names, on the same
    servers; `copy` copies Postgres data. Never the source's credentials. In the caller's
    transaction, under its lock."""
    if data == "none":
        return []
    if data == "copy" and source.is_production:
        raise Conflict(
            "Production is never a data source: copy from staging or another environment, or "
            'ask for "data": "empty".',
            code="production_data",
            field="data",
        )
    created = []
    for theirs in DataService.objects.filter(environment=source, state=State.READY).select_related(
        "server"
    ):
        created.append(
            _create(
                environment=environment,
                kind=theirs.kind,
                actor=actor,
                server=theirs.server,
                name=theirs.name,
                variable=theirs.variable,
                copy_from=source if data == "copy" else None,
            )
        )
    return created


# Retry, destroy, detach


def lock_service(service: DataService) -> tuple[Environment | None, DataService]:
    """The environment's lock first (the order every writer takes), then the service's row."""
    environment = None
    if service.environment_id is not None:
        try:
            environment = lock_environment(Environment(pk=service.environment_id))
        except Environment.DoesNotExist:
            environment = None
    DataService.objects.select_for_update().filter(pk=service.pk).values_list("pk").first()
    fresh = (
        DataService.objects.select_related("server", "deployment", "environment__deployment")
        .filter(pk=service.pk)
        .first()
    )
    if fresh is None:
        raise NotFound("That data service has been destroyed.")
    return environment, fresh


@transaction.atomic(durable=True)
def retry_data_service(*, service: DataService, actor: Actor) -> DataService:
    """A failed service provisions again (what exists is kept: the drivers resume); a destroy
    that failed is run again."""
    _, service = lock_service(service)
    if service.state == State.FAILED:
        service.state, task = State.PROVISIONING, "provision_data_service"
    elif service.state == State.DESTROYING and service.error:
        task = "destroy_data_service"
    else:
        raise Conflict(
            f"{service.name} is {service.state}; only a failed data service can be retried.",
            code="not_failed",
        )
    service.error, service.attempts = "", 0
    service.lease_token, service.lease_until = "", None
    service.save(
        update_fields=["state", "error", "attempts", "lease_token", "lease_until", "updated_at"]
    )
    audit_service("data_service.retry", service, actor)
    enqueue(task, service.pk)
    return service


def _start_destroy(service: DataService, actor: Actor, **detail: Any) -> None:
    service.state, service.error, service.attempts = State.DESTROYING, "", 0
    service.save(update_fields=["state", "error", "attempts", "updated_at"])
    audit_service("data_service.destroy", service, actor, **detail)
    enqueue("destroy_data_service", service.pk)


@transaction.atomic(durable=True)
def delete_data_service(
    *, service: DataService, actor: Actor, mode: str = "destroy"
) -> DataService:
    """`destroy`: the binding goes at once (a config change), the worker then drops the
    database and roles, the ACL user and its keys, or the bucket and its key, and deletes the
    row. `detach`: the binding goes, the resource stays (listed on its server as detached)."""
    if mode not in MODES:
        raise Invalid("The mode is destroy or detach.", field="mode")
    _, service = lock_service(service)
    if service.state == State.DESTROYING:
        return service  # asked twice: already under way
    if mode == "detach" and service.state != State.READY:
        raise Conflict(
            f"{service.name} is {service.state}; only a ready data service can be detached "
            "(destroy it instead).",
            code="not_ready",
        )
    binding = Binding.objects.select_related("environment").filter(data_service=service).first()
    if binding is not None:
        remove_binding(binding=binding, actor=actor)
    if mode == "detach":
        service.state = State.DETACHED
        service.save(update_fields=["state", "updated_at"])
        audit_service("data_service.detach", service, actor)
    else:
        _start_destroy(service, actor)
    return service


def destroy_for_environment(*, environment: Environment, actor: Actor) -> int:
    """Before an environment is deleted (in its transaction, under its lock): every service it
    owns is destroyed by the worker; the rows outlive the environment until then. Detached
    services stay (their user chose to keep them). Their bindings go with the environment."""
    services = list(
        DataService.objects.select_for_update()
        .filter(environment=environment)
        .exclude(state__in=[State.DESTROYING, State.DETACHED])
        .select_related("server")
    )
    for service in services:
        service.environment = environment
        _start_destroy(service, actor, reason="environment deleted")
    return len(services)


def destroy_for_deployment(*, deployment: Deployment, actor: Actor) -> int:
    """`destroy_for_environment` for each of a deployment's environments, for the deployment's
    deletion (in its transaction, before the environments go)."""
    return sum(
        destroy_for_environment(environment=lock_environment(environment), actor=actor)
        for environment in Environment.objects.filter(deployment=deployment).order_by("pk")
    )


# The worker's side (environments.tasks)


@dataclass(frozen=True)
class Claim:
    """What a task run needs, read under the row lock; the secrets stay out of repr()."""

    service_id: int
    lease: str
    kind: str
    names: Any
    admin_url: str = field(repr=False)
    password: str = field(repr=False, default="")
    copy_from: Any = None
    connection_limit: int = 20


def claim(service_id: int, *, state: str) -> Claim | str:
    """Take the service's lease for one run, if it is still in `state` and no other run holds
    it. Returns the claim, or why not ("gone", "moved on", "leased")."""
    with transaction.atomic(durable=True):
        service = (
            DataService.objects.select_for_update()
            .filter(pk=service_id)
            .select_related("server")
            .first()
        )
        if service is None:
            return "gone"
        if service.state != state:
            return "moved on"
        now = timezone.now()
        if service.lease_until is not None and service.lease_until > now:
            return "leased"
        service.lease_token, service.lease_until = secrets.token_hex(16), now + LEASE
        service.save(update_fields=["lease_token", "lease_until", "updated_at"])
        try:
            admin_url = service.server.admin_url()
            password = service.credential() if service.credential_ciphertext else ""
        except crypto.DecryptionError:
            admin_url = password = ""
        copy_from = None
        if service.copy_from_id is not None:
            copy_from = driver_names(service.copy_from)
        elif service.copy_from_environment and service.kind == DataServer.Kind.POSTGRES:
            copy_from = "gone"
        return Claim(
            service_id=service.pk,
            lease=service.lease_token,
            kind=service.kind,
            names=driver_names(service),
            admin_url=admin_url,
            password=password,
            copy_from=copy_from,
            connection_limit=connection_limit(),
        )


def _locked_for(claimed: Claim) -> tuple[Environment | None, DataService | None]:
    """The service locked again at the end of a run, if the run still holds its lease."""
    service = DataService.objects.filter(pk=claimed.service_id).first()
    if service is None:
        return None, None
    environment, service = lock_service(service)
    if service.lease_token != claimed.lease:
        return environment, None
    return environment, service


def _release(service: DataService, *fields: str) -> None:
    service.lease_token, service.lease_until = "", None
    service.save(update_fields=["lease_token", "lease_until", "updated_at", *fields])


def finish_provisioning(claimed: Claim, url: str) -> str:
    """Bind the service's URL (a config change, as any binding) and mark it ready; if it was
    asked to be destroyed meanwhile, hand over to the destroy task instead."""
    with transaction.atomic(durable=True):
        environment, service = _locked_for(claimed)
        if service is None:
            return "lost lease"
        if service.state == State.DESTROYING:
            _release(service)
            enqueue("destroy_data_service", service.pk)
            return "destroying"
        if service.state != State.PROVISIONING or environment is None:
            _release(service)
            return "moved on"
        try:
            with transaction.atomic():
                create_binding(
                    environment=environment,
                    kind=service.kind,
                    name=service.name,
                    url=url,
                    variable_name=service.variable,
                    actor=WORKER,
                    data_service=service,
                )
        except ServiceError as exc:
            service.state, service.error = State.FAILED, f"bind failed: {exc.code}"
            _release(service, "state", "error")
            audit_service("data_service.fail", service, WORKER, step="bind", error_class=exc.code)
            return "failed"
        service.state, service.error, service.ready_at = State.READY, "", timezone.now()
        _release(service, "state", "error", "ready_at")
        audit_service("data_service.ready", service, WORKER)
        return "ready"


def finish_destroying(claimed: Claim) -> str:
    """What the service made is gone from its server: the row goes too."""
    with transaction.atomic(durable=True):
        _, service = _locked_for(claimed)
        if service is None:
            return "lost lease"
        if service.state != State.DESTROYING:
            _release(service)
            return "moved on"
        service.delete()
        return "destroyed"


def record_failure(claimed: Claim, exc: DataServerError, *, task: str) -> str:
    """A transient error is retried later (a bounded number of times); any other fails the
    service with the step and the error class. A failed destroy stays `destroying` with its
    error, so a retry runs the destroy again."""
    with transaction.atomic(durable=True):
        _, service = _locked_for(claimed)
        if service is None:
            return "lost lease"
        message = str(exc)[:300]
        if exc.transient and service.attempts < MAX_ATTEMPTS:
            service.attempts += 1
            service.error = f"{message}; retry {service.attempts} of {MAX_ATTEMPTS}"[:300]
            _release(service, "attempts", "error")
            enqueue(task, service.pk, delay=timedelta(seconds=2**service.attempts))
            return "retrying"
        if service.state == State.PROVISIONING:
            service.state = State.FAILED
        service.error = message
        _release(service, "state", "error")
        audit_service(
            "data_service.fail",
            service,
            WORKER,
            step=exc.step,
            error_class=exc.error_class,
            operation="destroy" if service.state == State.DESTROYING else "provision",
        )
        return "failed"


def stalled_services(*, older_than: timedelta) -> list[int]:
    """Services a run should be working on but none is: a killed worker's lease ran out, or an
    enqueue never happened. `manage.py resume_data_services` enqueues them again."""
    now = timezone.now()
    return list(
        DataService.objects.filter(state__in=[State.PROVISIONING, State.DESTROYING])
        .filter(Q(lease_until__lt=now) | Q(lease_until=None, updated_at__lt=now - older_than))
        .exclude(state=State.DESTROYING, error__gt="")
        .values_list("pk", flat=True)
    )


def resume(service_ids: list[int]) -> int:
    """Enqueue the stalled services' tasks again (a task run twice creates nothing twice)."""
    services = DataService.objects.filter(pk__in=service_ids).values_list("pk", "state")
    with transaction.atomic():
        for pk, state in services:
            DataService.objects.filter(pk=pk, lease_until__lt=timezone.now()).update(
                lease_token="", lease_until=None
            )
            enqueue(
                "provision_data_service" if state == State.PROVISIONING else "destroy_data_service",
                pk,
            )
    return len(service_ids)
