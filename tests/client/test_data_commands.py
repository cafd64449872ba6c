"""`miosa data create|list|destroy|retry` (SPEC §13) with a personal API token, against the live
test server and the real PostgreSQL; the test runs the worker's queued tasks itself."""

from __future__ import annotations

import subprocess

import pytest
from django_tasks_db.models import DBTaskResult

from environments import crypto
from environments.models import DataService

from .conftest import client_command, client_environment, wait_for

pytest_plugins = ["tests.data_services_support"]

State = DataService.State


@pytest.fixture
def data(miosa, shop, personal_token):
    """data(*args) -> `miosa data …` on the run's shop, finished."""

    def run(*args: str):
        command, *rest = args
        return miosa("data", command, "--deployment", shop.name, *rest, token=personal_token)

    return run


def start(server, personal_token, tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        client_command("data", *args),
        env=client_environment(server, personal_token),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def password_of(service: DataService) -> str:
    return crypto.decrypt(service.credential_ciphertext, context=service.credential_context())


def test_create_waits_until_the_postgres_is_ready(
    server, shop, shop_staging, pg_server, worker, personal_token, tmp_path
):
    process = start(
        server,
        personal_token,
        tmp_path,
        *("create", "--deployment", shop.name, "--environment", "staging"),
        *("--kind", "postgres", "--wait"),
    )
    service = wait_for(DataService.objects.first, what="the service row")
    # The server's request enqueues the provisioning task when its transaction commits, a moment
    # after the row is visible: wait for the task, not the row alone.
    wait_for(DBTaskResult.objects.exists, what="the provisioning task")
    assert worker.run() == ["ready"]
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (0, "")
    assert stdout == (
        f"{service.pk}  staging  postgres  {shop.name}-postgres  DATABASE_URL  pg  ready\n"
    )
    assert password_of(service) not in stdout


def test_create_with_wait_exits_1_with_the_error_when_it_fails(
    server, shop, shop_staging, pg_server, personal_token, tmp_path
):
    process = start(
        server,
        personal_token,
        tmp_path,
        *("create", "--deployment", shop.name, "--environment", "staging"),
        *("--kind", "postgres", "--variable", "MAIN_DB", "--wait"),
    )
    service = wait_for(DataService.objects.first, what="the service row")
    # As the worker leaves it when a step fails for good.
    DataService.objects.filter(pk=service.pk).update(
        state=State.FAILED, error="create database failed: OperationalError"
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stdout.endswith("  failed  create database failed: OperationalError\n")
    assert stderr == (
        f"miosa: data service {service.pk} is failed: create database failed: "
        f"OperationalError (retry: miosa data retry --deployment {shop.name} {service.pk})\n"
    )


def test_list_destroy_and_retry(data, shop, shop_staging, pg_server, worker):
    created = data("create", "--environment", "staging", "--kind", "postgres", "--json")
    assert created.returncode == 0, created.stderr
    service = DataService.objects.get()
    assert f'"id": {service.pk}' in created.stdout and '"state": "provisioning"' in created.stdout

    listed = data("list")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert listed.stdout == (
        f"{service.pk}  staging  postgres  {shop.name}-postgres  DATABASE_URL  pg  provisioning\n"
    )
    assert data("list", "--environment", "production").stdout == ""
    missing = data("list", "--environment", "qa")
    assert missing.returncode == 1 and "(not_found, HTTP 404)" in missing.stderr

    # Only a failed service is retried; only a ready one detached.
    refused = data("retry", str(service.pk))
    assert refused.returncode == 1 and "(not_failed, HTTP 409)" in refused.stderr
    refused = data("destroy", str(service.pk), "--detach")
    assert refused.returncode == 1 and "(not_ready, HTTP 409)" in refused.stderr

    DataService.objects.filter(pk=service.pk).update(state=State.FAILED, error="x failed: E")
    retried = data("retry", str(service.pk))
    assert (retried.returncode, retried.stderr) == (0, "")
    assert retried.stdout.endswith("  provisioning\n")
    assert "ready" in worker.run()

    destroyed = data("destroy", str(service.pk))
    assert (destroyed.returncode, destroyed.stderr) == (0, "")
    assert destroyed.stdout.endswith("  destroying\n")
    worker.run()
    gone = data("destroy", str(service.pk))
    assert gone.returncode == 1 and "(not_found, HTTP 404)" in gone.stderr
    assert data("list").stdout == ""


def test_refusals_and_usage(data, shop, pg_server):
    no_server = data("create", "--environment", "staging", "--kind", "redis")
    assert no_server.returncode == 1
    assert no_server.stderr.startswith("miosa: No redis data server is available")
    assert no_server.stderr.endswith("(no_data_server, HTTP 409)\n")
    production = data(
        "create", "--environment", "staging", "--kind", "postgres", "--copy-from", "production"
    )
    assert production.returncode == 1 and "(production_data, HTTP 409)" in production.stderr
    usage = data("create", "--environment", "staging", "--kind", "mysql")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    assert data("destroy", "x").returncode == 2
    assert not DataService.objects.exists()
