"""The real worker: `manage.py db_worker --batch` processes against the test database
(PostgreSQL, where two workers really run at once). Two workers taking the same service's tasks
create it once; create→ready through the worker is measured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from environments import services
from environments.models import Binding, DataService, Environment
from environments.services import data_services
from environments.tasks import provision_data_service
from tests.concurrently import skip_unless_postgres
from tests.dataservers.servers import connect_as, superuser_pg
from tests.runtime import runtime_env

pytest_plugins = ["tests.data_services_support"]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def start_worker(name: str) -> subprocess.Popen:
    """`manage.py db_worker --batch` on the test database: runs what is queued, then exits."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--interval=0",
            f"--worker-id={name}",
            "--verbosity=0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait(*workers: subprocess.Popen) -> None:
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output.decode()


def task_seconds(service: DataService) -> float:
    """From the start of the run that made the service ready to ready (no worker start-up)."""
    run = DBTaskResult.objects.get(args_kwargs__args=[service.pk], return_value="ready")
    return (service.ready_at - run.started_at).total_seconds()


def test_two_workers_taking_the_same_tasks_create_each_service_once(
    shop_staging, pg_server, redis_server, bucket_server, actor, pg_run
):
    skip_unless_postgres()
    made = [
        services.create_data_service(
            environment=shop_staging, kind=kind, variable=f"{kind.upper()}_{i}_URL", actor=actor
        )
        for i in range(2)
        for kind in ("postgres", "redis", "bucket")
    ]
    for service in made:  # every service's provisioning three times over
        provision_data_service.enqueue(service.pk)
        provision_data_service.enqueue(service.pk)
    assert DBTaskResult.objects.count() == 18
    wait(start_worker("one"), start_worker("two"))
    results = list(DBTaskResult.objects.all())
    assert {r.status for r in results} == {TaskResultStatus.SUCCESSFUL}
    for service in made:
        theirs = sorted(r.return_value for r in results if r.args_kwargs["args"] == [service.pk])
        assert theirs.count("ready") == 1, theirs
        assert set(theirs) <= {"ready", "leased", "moved on"}
    assert set(DataService.objects.values_list("state", flat=True)) == {"ready"}
    assert Binding.objects.filter(environment=shop_staging, data_service__isnull=False).count() == 6
    # One database and one owner role each: nothing made twice, nothing left half-made.
    databases = [data_services.driver_names(s).database for s in made if s.kind == "postgres"]
    with superuser_pg() as conn:
        found = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", [databases]
        ).fetchall()
    assert sorted(d for (d,) in found) == sorted(databases)
    staging = Environment.objects.get(pk=shop_staging.pk)
    for variable in ("POSTGRES_0_URL", "POSTGRES_1_URL"):
        with connect_as(runtime_env(staging)[variable]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("kind", ["postgres", "redis", "bucket"])
def test_create_to_ready_through_the_worker(
    shop_staging, pg_server, redis_server, bucket_server, actor, kind
):
    skip_unless_postgres()
    start = time.perf_counter()
    service = services.create_data_service(environment=shop_staging, kind=kind, actor=actor)
    wait(start_worker("figures"))
    seconds = time.perf_counter() - start
    service.refresh_from_db()
    assert service.state == "ready"
    print(f"\ncreate→ready {kind} via db_worker: {seconds:.2f} s wall (worker start included),")
    print(f"  {task_seconds(service):.3f} s from the task's start to ready")


def test_a_copy_of_a_busy_10000_row_database_goes_through_pg_dump(
    shop, shop_staging, pg_server, actor
):
    """A source someone is connected to cannot be a template: the copy is pg_dump | pg_restore."""
    skip_unless_postgres()
    services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    wait(start_worker("setup"))
    url = runtime_env(Environment.objects.get(pk=shop_staging.pk))["DATABASE_URL"]
    with connect_as(url) as busy:
        busy.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        busy.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10000) g")
        start = time.perf_counter()
        preview = services.create_environment(
            deployment=shop, name="preview/busy", copy_from=shop_staging, data="copy", actor=actor
        )
        wait(start_worker("copy"))
        seconds = time.perf_counter() - start
    service = DataService.objects.get(environment=preview)
    assert service.state == "ready", service.error
    print(f"\ncreate→ready, 10,000-row copy by pg_dump via db_worker: {seconds:.2f} s wall,")
    print(f"  {task_seconds(service):.3f} s from the task's start to ready")
    preview_url = runtime_env(Environment.objects.get(pk=preview.pk))["DATABASE_URL"]
    with connect_as(preview_url) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (10000,)
