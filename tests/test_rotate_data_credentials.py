"""Key rotation reaches the data servers' admin URLs and the data services' passwords: after
`rotate_encryption_keys` the old key can be dropped and every server and service still works."""

from __future__ import annotations

import base64

import pytest
from django.core.management import call_command

from environments import crypto, services
from environments.models import DataServer, DataService, Environment
from tests.dataservers.servers import connect_as
from tests.runtime import runtime_env

pytest_plugins = ["tests.data_services_support"]

NEW = "new:" + base64.b64encode(b"n" * 32).decode()


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_old_key_can_go_after_rotation(settings, shop_staging, pg_server, worker, owner_actor):
    service = worker(
        services.create_data_service,
        environment=shop_staging,
        kind="postgres",
        actor=owner_actor,
    )
    worker.run()
    url = runtime_env(Environment.objects.get(pk=shop_staging.pk))["DATABASE_URL"]
    old_keys = settings.ENCRYPTION_KEYS

    settings.ENCRYPTION_KEYS = f"{NEW},{old_keys}"
    output = run("rotate_encryption_keys")
    assert "2 data server or service credentials under key new" in output
    server = DataServer.objects.get(pk=pg_server.pk)
    service = DataService.objects.get(pk=service.pk)
    assert crypto.key_id_of(server.admin_url_ciphertext) == "new"
    assert crypto.key_id_of(service.credential_ciphertext) == "new"

    settings.ENCRYPTION_KEYS = NEW  # the old keys are dropped
    assert services.check_data_server(server=server).error == ""
    assert service.credential()
    assert runtime_env(Environment.objects.get(pk=shop_staging.pk))["DATABASE_URL"] == url
    with connect_as(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert "0 data server" not in run("rotate_encryption_keys")


@pytest.fixture
def owner_actor(owner):
    from environments.actors import Actor

    return Actor(user=owner, label=owner.get_username())


def test_key_rotation_reaches_rotations(settings, shop_staging, pg_server, worker, owner_actor):
    """An in-flight rotation's sealed credentials are re-encrypted too: after the old key is
    dropped, its old URL, new password and new URL still open."""
    from django.utils import timezone

    from environments.models import Rotation

    service = worker(
        services.create_data_service,
        environment=shop_staging,
        kind="postgres",
        actor=owner_actor,
    )
    worker.run()
    now = timezone.now()
    rotation = Rotation(service=service, started_at=now, revoke_after=now)
    rotation.old_url_ciphertext = rotation.seal("old_url", "postgres://old")
    rotation.new_password_ciphertext = rotation.seal("new_password", "pw-new")
    rotation.new_url_ciphertext = rotation.seal("new_url", "postgres://new")
    rotation.save()
    old_keys = settings.ENCRYPTION_KEYS

    settings.ENCRYPTION_KEYS = f"{NEW},{old_keys}"
    result = services.rotate_encryption_keys(actor=owner_actor, batch_size=1)
    assert (result.rotations, result.data_credentials) == (1, 2)

    settings.ENCRYPTION_KEYS = NEW  # the old keys are dropped
    rotation = Rotation.objects.get(pk=rotation.pk)
    assert rotation.unseal("old_url") == "postgres://old"
    assert rotation.unseal("new_password") == "pw-new"
    assert rotation.unseal("new_url") == "postgres://new"
    assert "credential rotations" not in run("rotate_encryption_keys")
