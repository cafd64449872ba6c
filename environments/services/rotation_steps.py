"""The worker's side of a rotation (SPEC §14), called by `tasks.rotate_data_service`.

Like provisioning (see `data_services`), a run claims the rotation (its lease, in a short
transaction), talks to the server with no transaction open, and finishes in a short transaction
only while it still holds the lease. Every step can run again: the new password is fixed
before the first attempt (Postgres' enable_login and Redis' add_password with it are
idempotent); a bucket's new key is recorded as soon as it exists; revocations are idempotent.
A worker killed between two steps leaves its lease to run out; the periodic
`rotate_due_data_services` then starts the rotation's chain again and it resumes where it was.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import redis as redis_py
from django.db import transaction
from django.utils import timezone

from .. import crypto
from ..dataservers import DataServerError, bucket, parse_url, postgres, redis
from ..dataservers.core import step
from ..models import DataServer, DataService, Rotation
from ..selectors import rotations as reads
from .data_services import driver_names
from .rotations import WORKER, audit_rotation, lock_rotation, rebind, schedule

logger = logging.getLogger(__name__)

State = Rotation.State
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Claim:
    """What a run needs, read under the row lock; the secrets stay out of repr()."""

    rotation_id: int
    lease: str
    state: str
    kind: str
    names: Any
    old_login: str
    new_login: str
    forced: bool
    dropped: bool
    sessions_pending: bool
    undecryptable: bool  # a sealed credential of the rotation does not decrypt
    admin_url: str = field(repr=False)
    old_url: str = field(repr=False, default="")
    new_password: str = field(repr=False, default="")
    new_url: str = field(repr=False, default="")
    connection_limit: int = 20


def claim(rotation_id: int, generation: int) -> Claim | str:
    """Take the rotation's lease for one run of chain `generation`. Returns the claim, or why
    not ("gone", "superseded", "leased", "done")."""
    from .data_services import connection_limit

    with transaction.atomic(durable=True):
        rotation = (
            Rotation.objects.select_for_update()
            .filter(pk=rotation_id)
            .select_related("service__server")
            .first()
        )
        if rotation is None:
            return "gone"
        if rotation.generation != generation:
            return "superseded"
        now = timezone.now()
        if rotation.lease_until is not None and rotation.lease_until > now:
            return "leased"
        service = rotation.service
        if service.state not in (DataService.State.READY,):
            return "service " + service.state
        rotation.lease_token, rotation.lease_until = secrets.token_hex(16), now + LEASE
        rotation.save(update_fields=["lease_token", "lease_until", "updated_at"])
        keyring = crypto.get_keyring()
        undecryptable = False

        def unseal(what: str) -> str:
            nonlocal undecryptable
            try:
                return rotation.unseal(what, keyring) if _sealed(rotation, what) else ""
            except crypto.DecryptionError:
                undecryptable = True  # never an empty password in its place
                return ""

        try:
            admin_url = service.server.admin_url(keyring)
        except crypto.DecryptionError:
            admin_url = ""
        old_url, new_password, new_url = (
            unseal("old_url"),
            unseal("new_password"),
            unseal("new_url"),
        )
        return Claim(
            rotation_id=rotation.pk,
            lease=rotation.lease_token,
            state=rotation.state,
            kind=service.kind,
            names=driver_names(service),
            old_login=rotation.old_login,
            new_login=rotation.new_login,
            forced=rotation.forced_at is not None,
            dropped=rotation.new_dropped_at is not None,
            sessions_pending=rotation.drain_until is not None
            and rotation.sessions_ended_at is None,
            undecryptable=undecryptable,
            admin_url=admin_url,
            old_url=old_url,
            new_password=new_password,
            new_url=new_url,
            connection_limit=connection_limit(),
        )


def _sealed(rotation: Rotation, what: str) -> bool:
    return bool(bytes(getattr(rotation, f"{what}_ciphertext")))


def _locked(claimed: Claim) -> Rotation | None:
    """The rotation locked again at the end of a run, if the run still holds its lease."""
    rotation = Rotation.objects.filter(pk=claimed.rotation_id).select_related("service").first()
    if rotation is None:
        return None
    _, rotation = lock_rotation(rotation)
    return rotation if rotation.lease_token == claimed.lease else None


def _finish(rotation: Rotation, *, delay: timedelta | None = None, again: bool = False) -> None:
    """Give the lease back; with `again`, the chain's next run `delay` from now."""
    rotation.lease_token, rotation.lease_until = "", None
    if again:
        schedule(rotation, delay=delay)
    rotation.save()


# The credentials on the server


def _admin(claimed: Claim) -> str:
    if not claimed.admin_url:
        raise DataServerError("decrypt", "DecryptionError")
    return claimed.admin_url


def _create(claimed: Claim) -> str:
    """The second credential (idempotent); its URL."""
    admin = _admin(claimed)
    if claimed.kind != DataServer.Kind.BUCKET and not claimed.new_password:
        raise DataServerError("decrypt", "DecryptionError")
    if claimed.kind == DataServer.Kind.POSTGRES:
        return postgres.enable_login(
            admin,
            claimed.names,
            claimed.new_login,
            claimed.new_password,
            connection_limit=claimed.connection_limit,
        )
    if claimed.kind == DataServer.Kind.REDIS:
        return redis.add_password(admin, claimed.names, claimed.new_password)
    if claimed.new_url:  # made by an earlier run
        return claimed.new_url
    # A key an earlier run made but did not record was never handed out: delete it (a user has
    # at most two keys, the old one and the new).
    old_key = _bucket_key(claimed.old_url)
    for key in bucket.access_keys(admin, claimed.names):
        if key != old_key:
            bucket.delete_access_key(admin, claimed.names, key)
    _, url = bucket.create_access_key(admin, claimed.names)
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:  # another run took over: drop what this one made
            bucket.delete_access_key(admin, claimed.names, _bucket_key(url))
            raise DataServerError("create", "LeaseLost")
        rotation.new_url_ciphertext = rotation.seal("new_url", url)
        rotation.save(update_fields=["new_url_ciphertext", "updated_at"])
    return url


def _bucket_key(url: str) -> str:
    return parse_url(url, schemes=("s3",)).user


def test_credential(kind: str, url: str) -> None:
    """Connect with the credential and do the least a runtime would: a query, a PING, a
    listing of the bucket. Fails as DataServerError("test", class)."""
    with step("test"):
        if kind == DataServer.Kind.POSTGRES:
            dsn = url.replace("postgres://", "postgresql://", 1)
            with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
                conn.execute("SELECT 1").fetchone()
        elif kind == DataServer.Kind.REDIS:
            client = redis_py.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
            try:
                client.ping()
            finally:
                client.close()
        else:
            parsed = parse_url(url, schemes=("s3",))
            _s3(parsed).list_objects_v2(Bucket=parsed.path, MaxKeys=1)


def _s3(parsed):
    import boto3
    from botocore.config import Config

    scheme = "http" if parsed.query.get("secure") == "false" else "https"
    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"{scheme}://{parsed.host}:{parsed.port}",
        aws_access_key_id=parsed.user,
        aws_secret_access_key=parsed.password,
        region_name=parsed.query.get("region", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _revoke_old(claimed: Claim) -> None:
    """Postgres: NOLOGIN and a new random password (its sessions end after the drain);
    Redis: the old password removed; bucket: the old key deleted. Idempotent."""
    admin = _admin(claimed)
    if claimed.kind == DataServer.Kind.POSTGRES:
        postgres.disable_login(admin, claimed.names, claimed.old_login, end_sessions=False)
    elif claimed.kind == DataServer.Kind.REDIS:
        password = parse_url(claimed.old_url, schemes=("redis", "rediss")).password
        redis.remove_password(admin, claimed.names, password)
    else:
        bucket.delete_access_key(admin, claimed.names, _bucket_key(claimed.old_url))


def _drop_new(claimed: Claim) -> None:
    """A failed or cancelled rotation's new credential is revoked (sessions ended at once)."""
    admin = _admin(claimed)
    if claimed.kind == DataServer.Kind.POSTGRES:
        postgres.disable_login(admin, claimed.names, claimed.new_login)
    elif claimed.kind == DataServer.Kind.REDIS:
        if claimed.new_password:
            redis.remove_password(admin, claimed.names, claimed.new_password)
    elif claimed.new_url:
        bucket.delete_access_key(admin, claimed.names, _bucket_key(claimed.new_url))


# The steps, by state


def _creating(claimed: Claim) -> str:
    url = _create(claimed)
    try:
        test_credential(claimed.kind, url)
    except DataServerError as exc:
        if exc.transient:
            raise
        return _fail(claimed, exc)
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        if rotation.state != State.CREATING:
            _finish(rotation)
            return "moved on"
        environment = rotation.service.environment
        rotation.new_url_ciphertext = rotation.seal("new_url", url)
        variable, fingerprint, revision = rebind(
            environment, rotation.service, url, WORKER, rotation=rotation.pk
        )
        environment.refresh_from_db()
        rotation.variable, rotation.new_fingerprint = variable, fingerprint
        rotation.released_revision, rotation.released_at = revision, timezone.now()
        rotation.attempts, rotation.error = 0, ""
        live = reads.live_holds_new(rotation, environment)
        rotation.state = State.CONVERGING if live else State.RELEASED
        if live:
            rotation.live_at = rotation.released_at
        audit_rotation(
            "rotation.release",
            rotation,
            WORKER,
            config_revision=revision,
            pending=not live,
        )
        _finish(rotation, again=True, delay=None if live else reads.check_interval())
        return rotation.state


def _released(claimed: Claim) -> str:
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        environment = rotation.service.environment
        if reads.live_holds_new(rotation, environment):
            rotation.state, rotation.live_at = State.CONVERGING, timezone.now()
            _finish(rotation, again=True)
            return "converging"
        if timezone.now() >= rotation.revoke_after:
            rotation.state = State.STUCK
            audit_rotation("rotation.stuck", rotation, WORKER)
            _finish(rotation)
            return "stuck"
        _finish(rotation, again=True, delay=reads.check_interval())
        return "released"


def _converging(claimed: Claim) -> str:
    rotation = Rotation.objects.select_related("service").get(pk=claimed.rotation_id)
    waiting = reads.convergence(rotation)
    # A stuck rotation revokes nothing on its own: only an admin's force does.
    if claimed.forced or (claimed.state == State.CONVERGING and waiting.on_old == 0):
        _revoke_old(claimed)
        return _revoked(claimed, converged=not claimed.forced)
    if claimed.state == State.STUCK:
        with transaction.atomic(durable=True):
            rotation = _locked(claimed)
            if rotation is not None:
                _finish(rotation)
        return "stuck"
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        if timezone.now() >= rotation.revoke_after:
            rotation.state = State.STUCK
            audit_rotation("rotation.stuck", rotation, WORKER)
            _finish(rotation)
            return "stuck"
        _finish(rotation, again=True, delay=reads.check_interval())
        return "converging"


def _revoked(claimed: Claim, *, converged: bool) -> str:
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        if rotation.state not in (State.CONVERGING, State.STUCK):
            _finish(rotation)
            return "moved on"
        now = timezone.now()
        if converged:
            rotation.converged_at = now
            audit_rotation("rotation.converged", rotation, WORKER)
        rotation.state, rotation.revoked_at, rotation.finished_at = State.REVOKED, now, now
        service = rotation.service
        if claimed.new_password:  # the service's password is the new one from now on
            service.credential_ciphertext = crypto.encrypt(
                claimed.new_password, context=service.credential_context()
            )
            service.save(update_fields=["credential_ciphertext", "updated_at"])
        audit_rotation("rotation.revoke", rotation, WORKER, forced=not converged)
        if claimed.kind == DataServer.Kind.POSTGRES:
            rotation.drain_until = now + reads.drain()
            _finish(rotation, again=True, delay=reads.drain())
        else:
            _finish(rotation)
        return "revoked"


def _drain(claimed: Claim) -> str:
    """A revoked Postgres rotation: end the old login's sessions once the drain is over."""
    rotation = Rotation.objects.get(pk=claimed.rotation_id)
    if not claimed.sessions_pending:
        with transaction.atomic(durable=True):
            rotation = _locked(claimed)
            if rotation is not None:
                _finish(rotation)
        return "revoked"
    wait = rotation.drain_until - timezone.now()
    if wait > timedelta(0):
        with transaction.atomic(durable=True):
            rotation = _locked(claimed)
            if rotation is None:
                return "lost lease"
            _finish(rotation, again=True, delay=wait)
            return "draining"
    ended = postgres.terminate_sessions(_admin(claimed), claimed.names, claimed.old_login)
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        rotation.sessions_ended_at = timezone.now()
        _finish(rotation)
        logger.info("rotation %s: %d old sessions ended", rotation.pk, ended)
        return "sessions ended"


def _dropping(claimed: Claim) -> str:
    """A cancelled or failed rotation: revoke the new credential once."""
    if not claimed.dropped:
        _drop_new(claimed)
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        rotation.new_dropped_at = rotation.new_dropped_at or timezone.now()
        _finish(rotation)
        return rotation.state


def _fail(claimed: Claim, exc: DataServerError) -> str:
    """The new credential failed (its test, or a step for good): it is dropped, the old one
    untouched, the rotation failed."""
    try:
        _drop_new(claimed)
        dropped = True
    except DataServerError:
        dropped = False
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        now = timezone.now()
        rotation.state, rotation.error, rotation.finished_at = State.FAILED, str(exc)[:300], now
        if dropped:
            rotation.new_dropped_at = now
        audit_rotation(
            "rotation.fail", rotation, WORKER, step=exc.step, error_class=exc.error_class
        )
        _finish(rotation, again=not dropped, delay=reads.check_interval())
        return "failed"


STEPS = {
    State.CREATING: _creating,
    State.RELEASED: _released,
    State.CONVERGING: _converging,
    State.STUCK: _converging,
    State.REVOKED: _drain,
    State.CANCELLED: _dropping,
    State.FAILED: _dropping,
}


def record_failure(claimed: Claim, exc: DataServerError) -> str:
    """A transient error is retried (2, 4, … 32 seconds later); any other fails a rotation
    still creating, and is kept as the error of a later step, which is tried again at the
    next check."""
    if claimed.state == State.CREATING and not exc.transient:
        return _fail(claimed, exc)
    with transaction.atomic(durable=True):
        rotation = _locked(claimed)
        if rotation is None:
            return "lost lease"
        if exc.transient and rotation.attempts < MAX_ATTEMPTS:
            rotation.attempts += 1
            rotation.error = f"{str(exc)[:250]}; retry {rotation.attempts} of {MAX_ATTEMPTS}"
            _finish(rotation, again=True, delay=timedelta(seconds=2**rotation.attempts))
            return "retrying"
        if claimed.state != State.CREATING:
            rotation.error = str(exc)[:300]
            _finish(rotation, again=True, delay=reads.check_interval())
            return "retrying"
    return _fail(claimed, exc)


def advance(rotation_id: int, generation: int) -> str:
    """One run of the rotation's current step. Returns what happened."""
    claimed = claim(rotation_id, generation)
    if isinstance(claimed, str):
        return claimed
    try:
        if claimed.undecryptable:
            raise DataServerError("decrypt", "DecryptionError")
        return STEPS[claimed.state](claimed)
    except DataServerError as exc:
        outcome = record_failure(claimed, exc)
        logger.warning("rotation %s: %s (%s)", rotation_id, exc, outcome)
        return outcome
    except Exception as exc:
        # Not the exception's text: a library's message may quote a host or a user.
        error = DataServerError(claimed.state, "Error")
        outcome = record_failure(claimed, error)
        logger.error("rotation %s: unexpected %s (%s)", rotation_id, type(exc).__name__, outcome)
        return outcome
