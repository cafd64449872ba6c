"""What the data service tests share: the real servers (from tests/dataservers), a deployment
whose name carries the run's prefix (so Redis keys `<deployment>:<environment>:*` are swept with
the run), registered data servers, and a worker that runs the queued tasks in the test."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from environments import services
from environments.actors import Actor
from tests.dataservers.servers import CANARY

# The real servers' fixtures, shared with tests/dataservers.
pytest_plugins = ["tests.dataservers.servers"]

ADMIN_CANARY = CANARY  # in every admin URL of the fixtures


@pytest.fixture
def prefixed(settings, pg_run):
    """Names made on the servers start with the run's prefix (swept at the end)."""
    settings.DATA_SERVICE_NAME_PREFIX = pg_run


@pytest.fixture
def superuser_actor(db):
    user = get_user_model().objects.create_superuser(username="root", password="pw-for-tests")
    return Actor(user=user, label="root")


@pytest.fixture
def shop(db, prefixed, owner, dashed_run):
    """A deployment named after the run, v1 live in staging."""
    actor = Actor(user=owner, label=owner.get_username())
    deployment = services.create_deployment(name=f"{dashed_run}-shop", actor=actor)
    staging = deployment.environments.get(name="staging")
    version = services.create_version(deployment=deployment, label="v1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    return deployment


@pytest.fixture
def shop_staging(shop):
    return shop.environments.get(name="staging")


@pytest.fixture
def shop_production(shop):
    return shop.environments.get(name="production")


@pytest.fixture
def pg_server(db, pg_admin, superuser_actor):
    return services.add_data_server(
        kind="postgres", name="pg", admin_url=pg_admin, actor=superuser_actor
    )


@pytest.fixture
def redis_server(db, redis_admin, superuser_actor):
    return services.add_data_server(
        kind="redis", name="cache", admin_url=redis_admin, actor=superuser_actor
    )


@pytest.fixture
def bucket_server(db, bucket_admin, superuser_actor):
    return services.add_data_server(
        kind="bucket", name="objects", admin_url=bucket_admin, actor=superuser_actor
    )


@dataclass
class QueueRunner:
    """Runs queued tasks as `manage.py db_worker` does (claim, run, record), in the test's
    transaction, executing the on-commit callbacks (enqueues) of what it runs."""

    capture: object

    def __call__(self, fn, /, **kwargs):
        """Call a service; its on-commit enqueues happen."""
        with self.capture(execute=True):
            return fn(**kwargs)

    def run(self, *, deferred: bool = False) -> list[str]:
        """Run every ready task (with `deferred`, also those waiting for their run_after)
        until none is left; their return values."""
        worker = Worker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        )
        results = []
        for _ in range(100):
            queued = (
                DBTaskResult.objects.filter(status=TaskResultStatus.READY)
                if deferred
                else DBTaskResult.objects.ready()
            )
            job = queued.order_by("enqueued_at").first()
            if job is None:
                return results
            job.claim(worker.worker_id)
            with self.capture(execute=True):
                worker.run_task(job)
            job.refresh_from_db()
            assert job.status == TaskResultStatus.SUCCESSFUL, job.traceback
            results.append(job.return_value)
        raise AssertionError("the tasks never ran out")


@pytest.fixture
def worker(django_capture_on_commit_callbacks) -> QueueRunner:
    return QueueRunner(django_capture_on_commit_callbacks)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
