"""Data services end to end against the real PostgreSQL, Redis and moto's S3/IAM: create, the
worker's task, the managed binding, failure and retry, destroy, detach (SPEC §13)."""

from __future__ import annotations

import io
import json
import logging
import time

import boto3
import psycopg
import pytest
import redis as redis_py
from botocore.config import Config
from django_tasks_db.models import DBTaskResult

from environments import crypto, selectors, services
from environments.dataservers import parse_url
from environments.errors import Conflict, Invalid
from environments.models import AuditEvent, Binding, ConfigEntry, DataServer, DataService
from environments.services import data_services
from tests.dataservers.servers import CANARY as ADMIN_CANARY
from tests.dataservers.servers import connect_as, moto_client, superuser_pg
from tests.runtime import runtime_env

pytest_plugins = ["tests.data_services_support"]

State = DataService.State


def pg_exists(catalog: str, name: str) -> bool:
    query = {
        "database": "SELECT 1 FROM pg_database WHERE datname = %s",
        "role": "SELECT 1 FROM pg_roles WHERE rolname = %s",
    }[catalog]
    with superuser_pg() as conn:
        return conn.execute(query, [name]).fetchone() is not None


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def env(environment):
    """What a runtime of `environment` gets now (the environment read afresh)."""
    return runtime_env(type(environment).objects.get(pk=environment.pk))


def create_ready(worker, environment, kind, actor, **kwargs) -> DataService:
    service = worker(
        services.create_data_service, environment=environment, kind=kind, actor=actor, **kwargs
    )
    assert worker.run() == ["ready"]
    service.refresh_from_db()
    return service


# Create, provision, bind


def test_a_postgres_becomes_ready_bound_masked_and_usable(shop_staging, pg_server, worker, actor):
    service, created = timed(
        lambda: worker(
            services.create_data_service, environment=shop_staging, kind="postgres", actor=actor
        )
    )
    assert service.state == State.PROVISIONING
    assert DBTaskResult.objects.count() == 1
    assert not Binding.objects.filter(environment=shop_staging).exists()
    results, ran = timed(worker.run)
    print(f"\ncreate→ready postgres: {created + ran:.3f} s")
    assert results == ["ready"]
    service.refresh_from_db()
    assert (service.state, service.error) == (State.READY, "")
    binding = Binding.objects.get(environment=shop_staging)
    assert binding.managed and binding.data_service == service
    assert binding.variable_name == "DATABASE_URL"
    row = {r.key: r for r in selectors.variable_rows([shop_staging])}["DATABASE_URL"]
    names = data_services.driver_names(service)
    assert row.source == "binding" and row.is_secret
    assert row.preview == f"postgres://{names.login_a}:••••@127.0.0.1:5432/{names.database}"
    # A config change in an immediate environment: live at once, a release of its own.
    url = env(shop_staging)["DATABASE_URL"]
    assert shop_staging.releases.count() == 2
    with connect_as(url) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total int)")
        conn.execute("INSERT INTO orders (total) VALUES (42)")
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            names.owner,  # ALTER ROLE login SET role = owner
            names.database,
        )
        assert conn.execute("SELECT total FROM orders").fetchone() == (42,)
    actions = list(
        AuditEvent.objects.filter(action__startswith="data_service").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["data_service.create", "data_service.ready"]


def test_a_staged_environment_gets_a_pending_change(shop_staging, pg_server, worker, actor):
    services.set_config_changes(environment=shop_staging, mode="staged", actor=actor)
    create_ready(worker, shop_staging, "postgres", actor)
    shop_staging.refresh_from_db()
    assert selectors.pending_changes(shop_staging).added == ["DATABASE_URL"]
    assert "DATABASE_URL" not in env(shop_staging)
    services.apply_changes(environment=shop_staging, actor=actor)
    assert "DATABASE_URL" in env(shop_staging)


def test_a_redis_is_limited_to_its_environments_keys(
    shop_staging, redis_server, worker, actor, dashed_run
):
    service, seconds = timed(lambda: create_ready(worker, shop_staging, "redis", actor))
    print(f"\ncreate→ready redis: {seconds:.3f} s")
    url = parse_url(env(shop_staging)["REDIS_URL"], schemes=("redis",))
    client = redis_py.Redis(
        host=url.host, port=url.port, username=url.user, password=url.password, db=0
    )
    client.set(f"{dashed_run}-shop:staging:greeting", "hi")
    assert client.get(f"{dashed_run}-shop:staging:greeting") == b"hi"
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        client.get(f"{dashed_run}-shop:production:greeting")
    client.close()
    assert service.variable == "REDIS_URL"


def test_a_bucket_key_works_in_its_bucket(shop_staging, bucket_server, worker, actor):
    service, seconds = timed(lambda: create_ready(worker, shop_staging, "bucket", actor))
    print(f"\ncreate→ready bucket: {seconds:.3f} s")
    url = parse_url(env(shop_staging)["BUCKET_URL"], schemes=("s3",))
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{url.host}:{url.port}",
        aws_access_key_id=url.user,
        aws_secret_access_key=url.password,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.put_object(Bucket=url.path, Key="hello.txt", Body=b"hi")
    assert s3.get_object(Bucket=url.path, Key="hello.txt")["Body"].read() == b"hi"
    assert url.path == data_services.driver_names(service).bucket


# Refusals


def test_no_data_server_is_a_409(shop_staging, actor):
    with pytest.raises(Conflict) as excinfo:
        services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    assert excinfo.value.code == "no_data_server"
    assert "add_data_server" in excinfo.value.message


def test_a_server_for_listed_deployments_only_is_not_offered_to_others(
    shop_staging, pg_admin, superuser_actor, actor
):
    other = services.create_deployment(name="other-app", actor=actor)
    services.add_data_server(
        kind="postgres",
        name="pg-other",
        admin_url=pg_admin,
        deployments=[other],
        actor=superuser_actor,
    )
    assert list(selectors.available_servers(other, "postgres"))
    with pytest.raises(Conflict) as excinfo:
        services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    assert excinfo.value.code == "no_data_server"


def test_the_default_variable_taken_is_a_409_unless_another_is_named(
    shop_staging, pg_server, worker, actor
):
    services.create_binding(
        environment=shop_staging,
        kind="postgres",
        name="pasted",
        url="postgres://app:pw@db.internal:5432/shop",
        actor=actor,
    )
    with pytest.raises(Conflict) as excinfo:
        services.create_data_service(environment=shop_staging, kind="postgres", actor=actor)
    assert excinfo.value.code == "variable_taken"
    service = create_ready(worker, shop_staging, "postgres", actor, variable="ANALYTICS_URL")
    assert service.binding.variable_name == "ANALYTICS_URL"
    # A service still provisioning holds its variable too.
    worker(
        services.create_data_service,
        environment=shop_staging,
        kind="postgres",
        variable="REPORTS_URL",
        actor=actor,
    )
    with pytest.raises(Conflict) as excinfo:
        services.create_data_service(
            environment=shop_staging, kind="postgres", variable="REPORTS_URL", actor=actor
        )
    assert excinfo.value.code == "variable_taken"


def test_production_is_never_a_data_source(shop, shop_staging, shop_production, pg_server, actor):
    with pytest.raises(Conflict) as excinfo:
        services.create_data_service(
            environment=shop_staging, kind="postgres", copy_from=shop_production, actor=actor
        )
    assert excinfo.value.code == "production_data"
    with pytest.raises(Conflict) as excinfo:
        services.create_environment(
            deployment=shop,
            name="preview/pr-1",
            copy_from=shop_production,
            data="copy",
            actor=actor,
        )
    assert excinfo.value.code == "production_data"
    assert not shop.environments.filter(name="preview/pr-1").exists()


def test_a_managed_bindings_url_is_not_editable(shop_staging, pg_server, worker, actor):
    service = create_ready(worker, shop_staging, "postgres", actor)
    with pytest.raises(Conflict) as excinfo:
        services.update_binding(
            binding=service.binding, url="postgres://x:y@elsewhere:5432/db", actor=actor
        )
    assert excinfo.value.code == "managed_binding"
    with pytest.raises(Conflict) as excinfo:
        services.delete_binding(binding=service.binding, actor=actor)
    assert excinfo.value.code == "managed_binding"
    services.update_binding(binding=service.binding, variable_name="PRIMARY_DB_URL", actor=actor)
    service.refresh_from_db()
    assert service.variable == "PRIMARY_DB_URL"


# Failure and retry


def test_a_refused_step_fails_with_the_step_and_a_retry_resumes(
    shop_staging, pg_server, pg_run, pg_admin, worker, actor
):
    weak = f"{pg_run}_weak"
    with superuser_pg() as conn:
        conn.execute(f'CREATE ROLE "{weak}" LOGIN CREATEDB')  # no CREATEROLE
    good = pg_server.admin_url_ciphertext
    pg_server.admin_url_ciphertext = crypto.encrypt(
        pg_admin.replace(f"{pg_run}_admin", weak), context=pg_server.context()
    )
    pg_server.save()
    service = worker(
        services.create_data_service, environment=shop_staging, kind="postgres", actor=actor
    )
    assert worker.run() == ["failed"]
    service.refresh_from_db()
    assert service.state == State.FAILED
    assert service.error.startswith("create_owner failed: InsufficientPrivilege")
    assert ADMIN_CANARY not in service.error
    fail = AuditEvent.objects.get(action="data_service.fail")
    assert fail.detail["step"] == "create_owner"
    assert not Binding.objects.filter(environment=shop_staging).exists()

    DataServer.objects.filter(pk=pg_server.pk).update(admin_url_ciphertext=good)
    worker(services.retry_data_service, service=service, actor=actor)
    assert worker.run() == ["ready"]
    service.refresh_from_db()
    assert (service.state, service.error) == (State.READY, "")
    assert env(shop_staging)["DATABASE_URL"]
    with pytest.raises(Conflict) as excinfo:  # only a failed one
        services.retry_data_service(service=service, actor=actor)
    assert excinfo.value.code == "not_failed"


def test_a_server_that_is_down_is_retried_a_few_times_then_failed(
    shop_staging, pg_server, pg_admin, worker, actor
):
    DataServer.objects.filter(pk=pg_server.pk).update(
        admin_url_ciphertext=crypto.encrypt(
            pg_admin.replace(":5432/", ":1/"), context=pg_server.context()
        )
    )
    service = worker(
        services.create_data_service, environment=shop_staging, kind="postgres", actor=actor
    )
    assert worker.run() == ["retrying"]
    service.refresh_from_db()
    assert service.state == State.PROVISIONING and service.attempts == 1
    assert service.error.startswith("connect failed: OperationalError")
    assert worker.run() == []  # the retry waits for its run_after
    assert worker.run(deferred=True) == ["retrying"] * 4 + ["failed"]
    service.refresh_from_db()
    assert service.state == State.FAILED
    assert service.error == "connect failed: OperationalError"


# A task run twice


def test_a_task_run_twice_creates_nothing_twice(shop_staging, bucket_server, worker, actor):
    from environments.tasks import provision_data_service

    service = worker(
        services.create_data_service, environment=shop_staging, kind="bucket", actor=actor
    )
    held = data_services.claim(service.pk, state=State.PROVISIONING)
    assert provision_data_service.call(service.pk) == "leased"  # another run holds it
    DataService.objects.filter(pk=service.pk).update(lease_until=None)
    provision_data_service.enqueue(service.pk)
    assert worker.run() == ["ready", "moved on"]
    assert data_services.finish_provisioning(held, "s3://x:y@h:1/b") == "lost lease"
    assert Binding.objects.filter(environment=shop_staging).count() == 1


def test_a_stalled_service_is_resumed(shop_staging, redis_server, worker, actor):
    from datetime import timedelta

    from django.utils import timezone

    service = worker(
        services.create_data_service, environment=shop_staging, kind="redis", actor=actor
    )
    claimed = data_services.claim(service.pk, state=State.PROVISIONING)  # then the worker dies
    assert claimed.lease
    DBTaskResult.objects.all().delete()
    assert data_services.stalled_services(older_than=timedelta(minutes=10)) == []
    DataService.objects.filter(pk=service.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    stalled = data_services.stalled_services(older_than=timedelta(minutes=10))
    assert stalled == [service.pk]
    with worker.capture(execute=True):
        data_services.resume(stalled)
    assert worker.run() == ["ready"]


# Destroy and detach


def test_destroy_leaves_nothing_on_the_servers(
    shop_staging, pg_server, redis_server, bucket_server, worker, actor, moto_endpoint, moto_keys
):
    made = {
        kind: create_ready(worker, shop_staging, kind, actor)
        for kind in ("postgres", "redis", "bucket")
    }
    revision = shop_staging.__class__.objects.get(pk=shop_staging.pk).config_revision
    for service in made.values():
        done = worker(services.delete_data_service, service=service, actor=actor)
        assert done.state == State.DESTROYING
    assert not Binding.objects.filter(environment=shop_staging).exists()
    staging = shop_staging.__class__.objects.get(pk=shop_staging.pk)
    assert staging.config_revision == revision + 3  # each binding's removal a config change
    assert set(worker.run()) == {"destroyed"}
    assert not DataService.objects.exists()
    names = data_services.driver_names(made["postgres"])
    for name in (names.database, names.owner, names.login_a, names.login_b):
        assert not pg_exists("database" if name == names.database else "role", name)
    client = redis_py.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    assert data_services.driver_names(made["redis"]).user not in client.acl_users()
    client.close()
    s3 = moto_client("s3", moto_endpoint, *moto_keys["admin"])
    bucket_name = data_services.driver_names(made["bucket"]).bucket
    assert bucket_name not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    with pytest.raises(Exception):
        selectors.get_data_service(shop_staging.deployment, made["postgres"].pk)


def test_detach_removes_the_binding_and_keeps_the_database(shop_staging, pg_server, worker, actor):
    service = create_ready(worker, shop_staging, "postgres", actor)
    worker(services.delete_data_service, service=service, mode="detach", actor=actor)
    service.refresh_from_db()
    assert service.state == State.DETACHED
    assert not Binding.objects.filter(environment=shop_staging).exists()
    assert pg_exists("database", data_services.driver_names(service).database)
    assert service in selectors.services_on_server(pg_server)
    with pytest.raises(Conflict) as excinfo:
        services.remove_data_server(server=pg_server, actor=actor)
    assert excinfo.value.code == "data_server_in_use"
    worker(services.delete_data_service, service=service, actor=actor)
    assert worker.run() == ["destroyed"]
    assert not pg_exists("database", data_services.driver_names(service).database)
    services.remove_data_server(server=pg_server, actor=actor)
    assert AuditEvent.objects.filter(action="data_server.remove").count() == 1


def test_delete_mode_is_checked(shop_staging, pg_server, worker, actor):
    service = worker(
        services.create_data_service, environment=shop_staging, kind="postgres", actor=actor
    )
    with pytest.raises(Invalid):
        services.delete_data_service(service=service, mode="drop", actor=actor)
    with pytest.raises(Conflict) as excinfo:
        services.delete_data_service(service=service, mode="detach", actor=actor)
    assert excinfo.value.code == "not_ready"
    # Destroyed while provisioning: the provisioning run finds it moved on, destroy removes it.
    worker(services.delete_data_service, service=service, actor=actor)
    assert sorted(worker.run()) == ["destroyed", "moved on"]
    assert not pg_exists("database", data_services.driver_names(service).database)


# Environments


def test_a_preview_copy_holds_stagings_rows_and_not_its_credentials(
    shop, shop_staging, pg_server, redis_server, worker, actor
):
    staging_db = create_ready(worker, shop_staging, "postgres", actor)
    create_ready(worker, shop_staging, "redis", actor)
    staging_env = env(shop_staging)
    with connect_as(staging_env["DATABASE_URL"]) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10000) AS g")
    preview, seconds = timed(
        lambda: worker(
            services.create_environment,
            deployment=shop,
            name="preview/pr-7",
            copy_from=shop_staging,
            data="copy",
            actor=actor,
        )
    )
    results, ran = timed(worker.run)
    print(
        f"\ncreate→ready preview with a 10,000-row postgres copy and a redis: {seconds + ran:.3f} s"
    )
    assert sorted(results) == ["ready", "ready"]
    theirs = {s.kind: s for s in DataService.objects.filter(environment=preview)}
    assert set(theirs) == {"postgres", "redis"}
    assert theirs["postgres"].copy_from == staging_db
    preview_env = env(preview)
    for variable in ("DATABASE_URL", "REDIS_URL"):
        ours = parse_url(preview_env[variable], schemes=("postgres", "redis"))
        source = parse_url(staging_env[variable], schemes=("postgres", "redis"))
        assert (ours.user, ours.password) != (source.user, source.password)
        assert source.password not in preview_env[variable]
    with connect_as(preview_env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (10000,)
        conn.execute("INSERT INTO items VALUES (10001, 'only in the preview')")
    with connect_as(staging_env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (10000,)
    # The preview's login cannot open staging's database.
    staging_database = data_services.driver_names(staging_db).database
    ours = parse_url(preview_env["DATABASE_URL"], schemes=("postgres",))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=ours.host, port=ours.port, user=ours.user, dbname=staging_database
        ).close()


def test_a_preview_defaults_to_empty_services_and_others_to_none(
    shop, shop_staging, redis_server, worker, actor
):
    create_ready(worker, shop_staging, "redis", actor)
    preview = worker(
        services.create_environment,
        deployment=shop,
        name="preview/pr-8",
        copy_from=shop_staging,
        actor=actor,
    )
    assert [s.kind for s in DataService.objects.filter(environment=preview)] == ["redis"]
    qa = worker(
        services.create_environment, deployment=shop, name="qa", copy_from=shop_staging, actor=actor
    )
    assert not DataService.objects.filter(environment=qa).exists()
    assert not Binding.objects.filter(environment=qa).exists()
    with pytest.raises(Invalid):
        services.create_environment(deployment=shop, name="qa2", data="empty", actor=actor)


def test_deleting_an_environment_destroys_its_services(
    shop, shop_staging, pg_server, redis_server, worker, actor
):
    preview = services.create_environment(deployment=shop, name="preview/pr-9", actor=actor)
    made = [create_ready(worker, preview, kind, actor) for kind in ("postgres", "redis")]
    worker(services.delete_environment, environment=preview, actor=actor)
    left = list(DataService.objects.all())
    assert {(s.state, s.environment_id, s.environment_name) for s in left} == {
        (State.DESTROYING, None, "preview/pr-9")
    }
    assert worker.run() == ["destroyed", "destroyed"]
    names = data_services.driver_names(made[0])
    assert not pg_exists("database", names.database) and not pg_exists("role", names.owner)
    client = redis_py.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    assert data_services.driver_names(made[1]).user not in client.acl_users()
    client.close()
    destroys = AuditEvent.objects.filter(action="data_service.destroy")
    assert [e.detail["reason"] for e in destroys] == ["environment deleted"] * 2


def test_expiry_destroys_a_previews_services(shop, pg_server, worker, actor):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    preview = services.create_environment(
        deployment=shop,
        name="preview/pr-10",
        expires_at=timezone.now() + timedelta(hours=1),
        actor=actor,
    )
    service = create_ready(worker, preview, "postgres", actor)
    type(preview).objects.filter(pk=preview.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with worker.capture(execute=True):
        call_command("expire_environments", stdout=io.StringIO())
    assert worker.run() == ["destroyed"]
    assert not pg_exists("database", data_services.driver_names(service).database)


# Never a credential


def test_no_credential_reaches_audit_logs_errors_or_reprs(
    shop_staging, pg_server, redis_server, pg_admin, worker, actor, caplog
):
    caplog.set_level(logging.DEBUG)
    services_made = [create_ready(worker, shop_staging, k, actor) for k in ("postgres", "redis")]
    secrets_ = [ADMIN_CANARY] + [s.credential() for s in services_made]
    DataServer.objects.filter(pk=pg_server.pk).update(
        admin_url_ciphertext=crypto.encrypt(
            pg_admin.replace(":5432/", ":1/"), context=pg_server.context()
        )
    )
    failing = worker(
        services.create_data_service,
        environment=shop_staging,
        kind="postgres",
        variable="SPARE_URL",
        actor=actor,
    )
    worker.run()
    worker.run(deferred=True)
    failing.refresh_from_db()
    for service in services_made:
        worker(services.delete_data_service, service=service, actor=actor)
    worker.run()
    texts = [
        json.dumps(list(AuditEvent.objects.values()), default=str),
        caplog.text,
        repr(pg_server),
        str(pg_server),
        repr(failing),
        repr(list(DataService.objects.all())),
        failing.error,
        json.dumps(list(DBTaskResult.objects.values()), default=str),
        repr(data_services.claim(failing.pk, state=State.FAILED)),
    ]
    with pytest.raises(Invalid) as excinfo:
        services.add_data_server(
            kind="postgres", name="bad", admin_url=pg_admin.replace(":5432/", ":1/"), actor=actor
        )
    texts.append(str(excinfo.value))
    for secret in secrets_:
        assert all(secret not in text for text in texts)
    stored = ConfigEntry.objects.filter(environment=shop_staging).values_list("ciphertext")
    assert all(secrets_[1].encode() not in bytes(c) for (c,) in stored)


def test_add_data_server_refuses_an_admin_without_a_privilege(pg_run, pg_admin, actor, db):
    weak = f"{pg_run}_weak2"
    with superuser_pg() as conn:
        conn.execute(f'CREATE ROLE "{weak}" LOGIN CREATEDB')
    with pytest.raises(Invalid) as excinfo:
        services.add_data_server(
            kind="postgres",
            name="weak",
            admin_url=pg_admin.replace(f"{pg_run}_admin", weak),
            actor=actor,
        )
    assert excinfo.value.code == "data_server_unhealthy"
    assert "lacks CREATEROLE" in excinfo.value.message
    assert not DataServer.objects.exists()


def test_a_data_server_is_checked_and_its_url_stays_encrypted(pg_server, db):
    assert pg_server.version and pg_server.error == ""
    assert ADMIN_CANARY.encode() not in bytes(pg_server.admin_url_ciphertext)
    moved = DataServer(kind="postgres", name="moved")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(pg_server.admin_url_ciphertext, context=moved.context())
    checked = services.check_data_server(server=pg_server)
    assert checked.error == "" and checked.checked_at is not None


def test_a_deployments_services_can_be_destroyed_before_it_goes(
    shop, shop_staging, redis_server, worker, actor
):
    service = create_ready(worker, shop_staging, "redis", actor)
    with worker.capture(execute=True):
        assert data_services.destroy_for_deployment(deployment=shop, actor=actor) == 1
    assert worker.run() == ["destroyed"]
    assert not DataService.objects.filter(pk=service.pk).exists()
