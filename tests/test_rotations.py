"""Rotation of a data service's credential that waits for every instance (SPEC §14), on the real
PostgreSQL and Redis (and moto's S3/IAM for buckets): both credentials work while converging,
the old one is refused after the revocation, and only then."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import redis as redis_py
from django.test import Client
from django.utils import timezone

from environments import crypto, selectors, services
from environments.dataservers import parse_url
from environments.errors import Conflict, Invalid
from environments.models import AuditEvent, DataService, Rotation, RuntimeInstance
from environments.services import data_services, rotation_steps
from tests.dataservers.servers import CANARY, connect_as, moto_client, superuser_pg
from tests.runtime import runtime_env

pytest_plugins = ["tests.data_services_support"]

State = Rotation.State


def env(environment):
    return runtime_env(type(environment).objects.get(pk=environment.pk))


def create_ready(worker, environment, kind, actor) -> DataService:
    service = worker(services.create_data_service, environment=environment, kind=kind, actor=actor)
    assert worker.run() == ["ready"]
    service.refresh_from_db()
    return service


@pytest.fixture
def fetch(shop_staging, actor):
    """fetch(instance): a runtime fetch of staging as that instance (records the release it
    booted on)."""
    _, raw = services.create_runtime_token(environment=shop_staging, name="web", actor=actor)
    client = Client()

    def get(instance: str):
        response = client.get(
            "/api/v1/runtime/env",
            headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": instance},
        )
        assert response.status_code == 200
        return response.json()["env"]

    return get


def step(worker, rotation: Rotation) -> str:
    """Run the rotation's current chain once, now (its enqueues happen)."""
    rotation = fresh(rotation)
    return worker(rotation_steps.advance, rotation_id=rotation.pk, generation=rotation.generation)


def fresh(rotation: Rotation) -> Rotation:
    return Rotation.objects.select_related("service").get(pk=rotation.pk)


def pg_can_login(url: str) -> bool:
    try:
        with connect_as(url) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def redis_can_login(url: str) -> bool:
    parsed = parse_url(url, schemes=("redis",))
    client = redis_py.Redis(
        host=parsed.host, port=parsed.port, username=parsed.user, password=parsed.password
    )
    try:
        client.ping()
        return True
    except redis_py.AuthenticationError:
        return False
    finally:
        client.close()


def actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="rotation.")
        .order_by("pk")
        .values_list("action", flat=True)
    )


# Postgres


def test_postgres_rotation_waits_for_every_instance_then_revokes(
    settings, shop_staging, pg_server, worker, actor, fetch
):
    settings.ROTATION_DRAIN_SECONDS = 0
    service = create_ready(worker, shop_staging, "postgres", actor)
    names = data_services.driver_names(service)
    old_url = fetch("web-1")["DATABASE_URL"]
    fetch("web-2")
    with connect_as(old_url) as conn:
        conn.execute("CREATE TABLE kept (id int)")
    held = connect_as(old_url)  # an old session, open across the rotation
    try:
        rotation = worker(services.start_rotation, service=service, actor=actor)
        assert rotation.state == State.CREATING
        assert worker.run() == ["converging", "converging"]
        rotation = fresh(rotation)
        new_url = env(shop_staging)["DATABASE_URL"]
        assert parse_url(new_url, schemes=("postgres",)).user == names.login_b
        # Both work while converging; the objects stay owned, so the new login keeps access.
        assert pg_can_login(old_url) and pg_can_login(new_url)
        with connect_as(new_url) as conn:
            conn.execute("INSERT INTO kept VALUES (1)")
        waiting = selectors.convergence(rotation)
        assert (waiting.total, waiting.on_new, waiting.on_old) == (2, 0, 2)
        assert sorted(i.instance for i in waiting.old) == ["web-1", "web-2"]
        fetch("web-1")
        waiting = selectors.convergence(rotation)
        assert (waiting.on_new, waiting.on_old) == (1, 1)
        assert [i.instance for i in waiting.old] == ["web-2"]
        # Still one on the old credential: nothing is revoked.
        assert step(worker, rotation) == "converging"
        assert pg_can_login(old_url)
        rotation = fresh(rotation)
        fetch("web-2")
        assert step(worker, rotation) == "revoked"
        rotation = fresh(rotation)
        assert rotation.state == State.REVOKED and rotation.sessions_ended_at is None
        assert not pg_can_login(old_url)
        assert pg_can_login(new_url)
        # The old session is ended after the drain (a delayed step of its own).
        assert held.execute("SELECT 1").fetchone() == (1,)
        # (The earlier checks' chains run first and find themselves superseded.)
        assert worker.run(deferred=True)[-1] == "sessions ended"
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    finally:
        held.close()
    assert fresh(rotation).sessions_ended_at is not None
    assert actions() == [
        "rotation.start",
        "rotation.release",
        "rotation.converged",
        "rotation.revoke",
    ]
    service.refresh_from_db()
    assert service.credential() == parse_url(new_url, schemes=("postgres",)).password


def test_a_second_rotation_alternates_back_to_the_first_login(
    settings, shop_staging, pg_server, worker, actor
):
    settings.ROTATION_DRAIN_SECONDS = 0
    service = create_ready(worker, shop_staging, "postgres", actor)
    names = data_services.driver_names(service)
    users = []
    for _ in range(2):
        worker(services.start_rotation, service=service, actor=actor)
        worker.run(deferred=True)
        users.append(parse_url(env(shop_staging)["DATABASE_URL"], schemes=("postgres",)).user)
    assert users == [names.login_b, names.login_a]
    assert list(Rotation.objects.values_list("state", flat=True)) == ["revoked", "revoked"]
    assert pg_can_login(env(shop_staging)["DATABASE_URL"])


def test_two_rotations_of_one_service_cannot_run_at_once(shop_staging, pg_server, worker, actor):
    service = create_ready(worker, shop_staging, "postgres", actor)
    worker(services.start_rotation, service=service, actor=actor)
    with pytest.raises(Conflict) as refused:
        services.start_rotation(service=service, actor=actor)
    assert refused.value.code == "rotation_in_progress"
    assert Rotation.objects.count() == 1


def test_a_new_credential_that_fails_its_test_is_dropped(
    settings, shop_staging, pg_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "postgres", actor)
    old_url = fetch("web-1")["DATABASE_URL"]
    # A login that may hold no connection: it is made, but its test cannot connect.
    settings.DATA_POSTGRES_CONNECTION_LIMIT = 0
    rotation = worker(services.start_rotation, service=service, actor=actor)
    outcomes = worker.run(deferred=True)
    assert outcomes[-1] == "failed", outcomes
    rotation = fresh(rotation)
    assert rotation.state == State.FAILED
    assert rotation.error.startswith("test failed: ")
    assert CANARY not in rotation.error
    assert rotation.new_dropped_at is not None
    names = data_services.driver_names(service)
    with superuser_pg() as conn:
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [names.login_b]
        ).fetchone() == (False,)
    # The old credential is untouched and still the one bound.
    assert env(shop_staging)["DATABASE_URL"] == old_url
    assert pg_can_login(old_url)
    assert actions() == ["rotation.start", "rotation.fail"]


def test_a_worker_killed_between_steps_resumes_where_it_was(
    settings, shop_staging, pg_server, worker, actor
):
    settings.ROTATION_DRAIN_SECONDS = 0
    service = create_ready(worker, shop_staging, "postgres", actor)
    rotation = worker(services.start_rotation, service=service, actor=actor)
    # A run claims, creates the second login, and dies before releasing it.
    claimed = rotation_steps.claim(rotation.pk, rotation.generation)
    rotation_steps._create(claimed)
    assert fresh(rotation).lease_until is not None
    # Its chain is dead and its lease holds: a second run does nothing yet.
    assert step(worker, rotation) == "leased"
    Rotation.objects.filter(pk=rotation.pk).update(lease_until=timezone.now() - timedelta(1))
    assert selectors.stalled_rotations() == [rotation.pk]
    worker(services.start_due_rotations)
    # The dead run's chain does nothing; the new chain resumes and finishes.
    assert rotation_steps.advance(rotation.pk, 1) == "superseded"
    assert worker.run(deferred=True) == [
        "superseded",  # the chain the dead run belonged to
        "converging",
        "revoked",
        "sessions ended",
    ]
    assert fresh(rotation).state == State.REVOKED
    assert pg_can_login(env(shop_staging)["DATABASE_URL"])
    assert actions().count("rotation.release") == 1
    # The finished rotation's stale chain, run again, changes nothing.
    assert rotation_steps.advance(rotation.pk, 1) == "superseded"


def test_an_instance_that_stops_fetching_leaves_the_window(
    settings, shop_staging, pg_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "postgres", actor)
    fetch("web-1")
    fetch("gone-1")
    rotation = worker(services.start_rotation, service=service, actor=actor)
    worker.run()
    fetch("web-1")
    rotation = fresh(rotation)
    assert selectors.convergence(rotation).on_old == 1
    RuntimeInstance.objects.filter(instance="gone-1").update(
        last_seen_at=timezone.now()
        - timedelta(seconds=settings.ROTATION_INSTANCE_WINDOW_SECONDS + 1)
    )
    waiting = selectors.convergence(rotation)
    assert (waiting.total, waiting.on_old) == (1, 0)
    assert step(worker, rotation) == "revoked"


def test_past_revoke_after_a_rotation_is_stuck_and_revokes_nothing_until_forced(
    settings, shop_staging, pg_server, worker, actor, fetch
):
    settings.ROTATION_DRAIN_SECONDS = 0
    service = create_ready(worker, shop_staging, "postgres", actor)
    old_url = fetch("never-restarts")["DATABASE_URL"]
    rotation = worker(services.start_rotation, service=service, actor=actor)
    worker.run()
    Rotation.objects.filter(pk=rotation.pk).update(revoke_after=timezone.now())
    rotation = fresh(rotation)
    assert step(worker, rotation) == "stuck"
    # Even with no instance left on the old credential, a stuck rotation waits for an admin.
    RuntimeInstance.objects.all().delete()
    assert worker.run(deferred=True) == ["stuck"]
    assert fresh(rotation).state == State.STUCK and pg_can_login(old_url)
    with pytest.raises(Invalid):
        services.force_revoke(rotation=rotation, actor=actor, reason="short")
    reason = "the instance is gone for good"
    worker(services.force_revoke, rotation=rotation, actor=actor, reason=reason)
    assert worker.run(deferred=True) == ["revoked", "sessions ended"]
    assert not pg_can_login(old_url)
    assert actions()[-2:] == ["rotation.force", "rotation.revoke"]
    forced = AuditEvent.objects.get(action="rotation.force")
    assert forced.detail["reason"] == "the instance is gone for good"


def test_cancel_binds_the_old_credential_back_and_revokes_the_new(
    shop_staging, pg_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "postgres", actor)
    old_url = fetch("web-1")["DATABASE_URL"]
    rotation = worker(services.start_rotation, service=service, actor=actor)
    worker.run()
    new_url = env(shop_staging)["DATABASE_URL"]
    releases = shop_staging.releases.count()
    worker(services.cancel_rotation, rotation=fresh(rotation), actor=actor)
    assert worker.run() == ["cancelled"]
    assert env(shop_staging)["DATABASE_URL"] == old_url
    assert shop_staging.releases.count() == releases + 1  # a new config change
    assert pg_can_login(old_url) and not pg_can_login(new_url)
    assert fresh(rotation).state == State.CANCELLED
    with pytest.raises(Conflict):
        services.cancel_rotation(rotation=fresh(rotation), actor=actor)


def test_in_a_staged_environment_the_rotation_waits_for_apply(
    shop_staging, pg_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "postgres", actor)
    services.set_config_changes(environment=shop_staging, mode="staged", actor=actor)
    services.set_variable(
        environment=shop_staging, key="OTHER", value="pending", is_secret=False, actor=actor
    )
    old_url = fetch("web-1")["DATABASE_URL"]
    rotation = worker(services.start_rotation, service=service, actor=actor)
    assert worker.run() == ["released"]
    # Nothing went live: neither the new credential nor the other pending change.
    assert env(shop_staging)["DATABASE_URL"] == old_url
    assert "OTHER" not in env(shop_staging)
    rotation = fresh(rotation)
    assert step(worker, rotation) == "released"
    services.apply_changes(environment=shop_staging, actor=actor)
    rotation = fresh(rotation)
    assert step(worker, rotation) == "converging"


# Redis


def test_redis_rotation_keeps_both_passwords_until_revoked(
    shop_staging, redis_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "redis", actor)
    old_url = fetch("web-1")["REDIS_URL"]
    rotation = worker(services.start_rotation, service=service, actor=actor)
    assert worker.run() == ["converging", "converging"]
    new_url = env(shop_staging)["REDIS_URL"]
    assert new_url != old_url
    old, new = (parse_url(u, schemes=("redis",)) for u in (old_url, new_url))
    assert old.user == new.user and old.password != new.password
    assert redis_can_login(old_url) and redis_can_login(new_url)
    fetch("web-1")
    rotation = fresh(rotation)
    assert step(worker, rotation) == "revoked"
    assert not redis_can_login(old_url)
    assert redis_can_login(new_url)
    service.refresh_from_db()
    assert service.credential() == parse_url(new_url, schemes=("redis",)).password


def test_redis_revoke_refuses_new_logins_and_leaves_open_connections_alone(
    shop_staging, redis_server, worker, actor, fetch
):
    """The README's choice: revoking a Redis password refuses every new login with it at once;
    a connection already authenticated stays open until it reconnects (CLIENT KILL USER would
    also end the connections on the new password, which share the ACL user)."""
    service = create_ready(worker, shop_staging, "redis", actor)
    old_url = fetch("web-1")["REDIS_URL"]
    old = parse_url(old_url, schemes=("redis",))
    held = redis_py.Redis(host=old.host, port=old.port, username=old.user, password=old.password)
    try:
        assert held.ping()
        rotation = worker(services.start_rotation, service=service, actor=actor)
        worker.run()
        new_url = env(shop_staging)["REDIS_URL"]
        new = parse_url(new_url, schemes=("redis",))
        on_new = redis_py.Redis(
            host=new.host, port=new.port, username=new.user, password=new.password
        )
        try:
            assert on_new.ping()
            fetch("web-1")
            assert step(worker, fresh(rotation)) == "revoked"
            assert not redis_can_login(old_url)
            assert held.ping()  # open until it reconnects, as documented
            assert on_new.ping()  # the new password's connections are never cut
        finally:
            on_new.close()
    finally:
        held.close()


# Buckets


def test_bucket_rotation_deletes_the_old_key_once_converged(
    shop_staging, bucket_server, worker, actor, fetch, moto_endpoint
):
    service = create_ready(worker, shop_staging, "bucket", actor)
    old_url = fetch("web-1")["BUCKET_URL"]
    rotation = worker(services.start_rotation, service=service, actor=actor)
    outcomes = worker.run()
    assert outcomes == ["converging", "converging"], fresh(rotation).error
    new_url = env(shop_staging)["BUCKET_URL"]
    old, new = (parse_url(u, schemes=("s3",)) for u in (old_url, new_url))
    assert old.user != new.user
    iam = moto_client("iam", moto_endpoint, *_admin_keys(bucket_server))
    user = data_services.driver_names(service).user
    keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert keys == {old.user, new.user}
    fetch("web-1")
    rotation = fresh(rotation)
    assert step(worker, rotation) == "revoked"
    keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert keys == {new.user}


def _admin_keys(server) -> tuple[str, str]:
    admin = parse_url(server.admin_url(), schemes=("s3",))
    return admin.user, admin.password


# Secrets stay secret


def test_no_credential_reaches_the_audit_trail_or_the_rotation_row(
    shop_staging, redis_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "redis", actor)
    fetch("web-1")
    rotation = worker(services.start_rotation, service=service, actor=actor)
    worker.run()
    rotation = fresh(rotation)
    new_password = parse_url(env(shop_staging)["REDIS_URL"], schemes=("redis",)).password
    old_password = parse_url(rotation.unseal("old_url"), schemes=("redis",)).password
    for event in AuditEvent.objects.all():
        text = str(event.detail) + event.target
        assert new_password not in text and old_password not in text
    for blob in (rotation.new_url_ciphertext, rotation.old_url_ciphertext):
        assert new_password.encode() not in bytes(blob)
    # Bound to its row: moved onto another rotation, it does not decrypt.
    other = Rotation(service=service)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(bytes(rotation.new_url_ciphertext), context=other.context("new_url"))


def test_scheduled_rotations_start_when_due(shop_staging, redis_server, worker, actor):
    service = create_ready(worker, shop_staging, "redis", actor)
    services.set_rotation_schedule(service=service, days=7, actor=actor)
    assert worker(services.start_due_rotations) == []
    DataService.objects.filter(pk=service.pk).update(ready_at=timezone.now() - timedelta(days=8))
    started = worker(services.start_due_rotations)
    assert len(started) == 1
    assert Rotation.objects.get(pk=started[0]).trigger == "scheduled"
    assert worker(services.start_due_rotations) == []  # one under way: not twice


def test_the_periodic_command_starts_due_rotations_and_prints_how_many(
    shop_staging, redis_server, worker, actor
):
    from io import StringIO

    from django.core.management import call_command

    service = create_ready(worker, shop_staging, "redis", actor)
    services.set_rotation_schedule(service=service, days=1, actor=actor)
    DataService.objects.filter(pk=service.pk).update(ready_at=timezone.now() - timedelta(days=2))
    out = StringIO()
    worker(call_command, command_name="rotate_due_data_services", stdout=out)
    assert out.getvalue().strip() == "1"
    assert Rotation.objects.get().trigger == "scheduled"


def test_a_new_password_that_cannot_be_decrypted_fails_the_rotation_and_adds_nothing(
    shop_staging, redis_server, worker, actor, redis_admin
):
    service = create_ready(worker, shop_staging, "redis", actor)
    old_url = env(shop_staging)["REDIS_URL"]
    rotation = worker(services.start_rotation, service=service, actor=actor)
    Rotation.objects.filter(pk=rotation.pk).update(new_password_ciphertext=b"\x01tampered")
    assert worker.run(deferred=True)[-1] == "failed"
    rotation = fresh(rotation)
    assert rotation.state == State.FAILED
    assert rotation.error == "decrypt failed: DecryptionError"
    names = data_services.driver_names(service)
    admin = redis_py.Redis.from_url(redis_admin, decode_responses=True)
    try:
        assert len(admin.acl_getuser(names.user)["passwords"]) == 1
    finally:
        admin.close()
    assert env(shop_staging)["REDIS_URL"] == old_url and redis_can_login(old_url)


def test_a_cancelled_rotation_whose_worker_died_while_dropping_is_resumed(
    shop_staging, redis_server, worker, actor, fetch
):
    service = create_ready(worker, shop_staging, "redis", actor)
    fetch("web-1")
    rotation = worker(services.start_rotation, service=service, actor=actor)
    worker.run()
    new_url = env(shop_staging)["REDIS_URL"]
    worker(services.cancel_rotation, rotation=fresh(rotation), actor=actor)
    # The run that would drop the new password claims the rotation and dies.
    rotation = fresh(rotation)
    assert not isinstance(rotation_steps.claim(rotation.pk, rotation.generation), str)
    Rotation.objects.filter(pk=rotation.pk).update(lease_until=timezone.now() - timedelta(1))
    assert rotation.pk in selectors.stalled_rotations()
    worker(services.start_due_rotations)
    assert worker.run()[-1] == "cancelled"
    assert fresh(rotation).new_dropped_at is not None
    assert not redis_can_login(new_url)


def test_a_bucket_key_made_by_a_run_that_died_is_not_left_behind(
    shop_staging, bucket_server, worker, actor, fetch, moto_endpoint
):
    from environments.dataservers import bucket

    service = create_ready(worker, shop_staging, "bucket", actor)
    old = parse_url(fetch("web-1")["BUCKET_URL"], schemes=("s3",))
    rotation = worker(services.start_rotation, service=service, actor=actor)
    # A run made a key on the server and died before recording it.
    names = data_services.driver_names(service)
    orphan, _ = bucket.create_access_key(bucket_server.admin_url(), names)
    assert worker.run() == ["converging", "converging"]
    new = parse_url(env(shop_staging)["BUCKET_URL"], schemes=("s3",))
    iam = moto_client("iam", moto_endpoint, *_admin_keys(bucket_server))
    keys = {
        k["AccessKeyId"] for k in iam.list_access_keys(UserName=names.user)["AccessKeyMetadata"]
    }
    assert orphan not in keys
    assert keys == {old.user, new.user}
    assert fresh(rotation).state == State.CONVERGING
