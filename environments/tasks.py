"""Background tasks, run by `manage.py db_worker` (django-tasks-db).

Provisioning and destroying a data service (SPEC §13). Each run:
1. claims the service (a short transaction, its row locked): it must still be in the state the
   task is for, and no other run may hold its lease; the run takes the lease (30 minutes);
2. does the work on the server with no transaction open (the drivers are idempotent: a step
   that was done is found done);
3. finishes (a short transaction, the environment then the row locked): only while it still
   holds the lease, so a second run of the same task, or a run that outlived its lease, writes
   nothing.

A transient driver error (server down, restarting) is retried after 2, 4, 8, 16, 32 seconds
by enqueuing the task again; any other error fails the service with the step and the error
class. A run whose worker was killed leaves its lease to expire; `manage.py
resume_data_services` then enqueues the service again.
"""

from __future__ import annotations

import logging

from django.tasks import task

from .dataservers import DataServerError, bucket, postgres, redis
from .models import DataService
from .services import data_services

logger = logging.getLogger(__name__)


def _provision(claimed: data_services.Claim) -> str:
    if not claimed.admin_url:
        raise DataServerError("decrypt", "DecryptionError")
    if claimed.kind == "postgres":
        if claimed.copy_from == "gone":
            raise DataServerError("copy", "SourceDestroyed")
        return postgres.provision(
            claimed.admin_url,
            claimed.names,
            claimed.password,
            connection_limit=claimed.connection_limit,
            copy_from=claimed.copy_from,
        )
    if claimed.kind == "redis":
        return redis.provision(claimed.admin_url, claimed.names, claimed.password)
    return bucket.provision(claimed.admin_url, claimed.names)


def _destroy(claimed: data_services.Claim) -> None:
    if not claimed.admin_url:
        raise DataServerError("decrypt", "DecryptionError")
    {"postgres": postgres, "redis": redis, "bucket": bucket}[claimed.kind].destroy(
        claimed.admin_url, claimed.names
    )


def _run(service_id: int, *, state: str, task_name: str, work) -> str:
    claimed = data_services.claim(service_id, state=state)
    if isinstance(claimed, str):
        return claimed
    try:
        result = work(claimed)
    except DataServerError as exc:
        outcome = data_services.record_failure(claimed, exc, task=task_name)
        logger.warning("data service %s: %s (%s)", service_id, exc, outcome)
        return outcome
    except Exception as exc:
        # Not the exception's text: a library's message may quote a host or a user.
        error = DataServerError("provision" if state == "provisioning" else "destroy", "Error")
        outcome = data_services.record_failure(claimed, error, task=task_name)
        logger.error("data service %s: unexpected %s (%s)", service_id, type(exc).__name__, outcome)
        return outcome
    if state == DataService.State.PROVISIONING:
        return data_services.finish_provisioning(claimed, result)
    return data_services.finish_destroying(claimed)


@task
def provision_data_service(service_id: int) -> str:
    """Create (or complete) the service on its server and bind it. Returns what happened:
    ready, failed, retrying, destroying, or why nothing was done (gone, moved on, leased)."""
    return _run(
        service_id,
        state=DataService.State.PROVISIONING,
        task_name="provision_data_service",
        work=_provision,
    )


@task
def destroy_data_service(service_id: int) -> str:
    """Remove whatever the service made on its server, then its row."""
    return _run(
        service_id,
        state=DataService.State.DESTROYING,
        task_name="destroy_data_service",
        work=_destroy,
    )


@task
def rotate_data_service(rotation_id: int, generation: int) -> str:
    """Run the rotation's current step (SPEC §14); while it waits (pending Apply, converging,
    draining) the step enqueues the next run of its chain with a delay. Returns what happened."""
    from .services import rotation_steps

    return rotation_steps.advance(rotation_id, generation)


@task
def start_due_rotations() -> list[int]:
    """Start the rotations `rotate_every_days` makes due, and restart stalled ones' chains
    (run by `manage.py rotate_due_data_services`, e.g. from cron)."""
    from .services import rotations

    return rotations.start_due_rotations()


@task
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a webhook delivery (SPEC §17); a failed one enqueues its retry with a
    backoff. Returns what happened: delivered, retrying, failed, or why nothing was sent."""
    from .webhooks import delivery

    return delivery.deliver(delivery_id)


def expire_change_requests() -> int:
    """Close the open change requests past their expiry (SPEC §15); the periodic command
    `manage.py expire_change_requests` runs the same service."""
    from .services import change_requests

    return change_requests.expire_change_requests()
