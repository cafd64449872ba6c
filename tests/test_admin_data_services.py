"""The Django admin lists data servers and data services without their admin URL, password or
ciphertext, and changes nothing (servers are registered through add_data_server)."""

from __future__ import annotations

import base64

from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.models import DataServer, DataService
from tests.dataservers.servers import CANARY

pytest_plugins = ["tests.data_services_support"]


def test_admin_shows_data_servers_and_services_without_credentials(
    client, make_user, owner, shop_staging, pg_server, worker
):
    service = worker(
        services.create_data_service,
        environment=shop_staging,
        kind="postgres",
        actor=Actor(user=owner, label=owner.get_username()),
    )
    worker.run()
    service = DataService.objects.get(pk=service.pk)
    secrets = [CANARY, service.credential()]
    for blob in (pg_server.admin_url_ciphertext, service.credential_ciphertext):
        raw = bytes(blob)
        secrets += [raw.hex(), base64.b64encode(raw).decode()]
    client.force_login(make_user("root-admin", superuser=True))
    for model, obj in ((DataServer, pg_server), (DataService, service)):
        name = model._meta.model_name
        for url in (
            reverse(f"admin:environments_{name}_changelist"),
            reverse(f"admin:environments_{name}_change", args=[obj.pk]),
        ):
            response = client.get(url)
            assert response.status_code == 200
            body = response.content.decode()
            assert [s for s in secrets if s in body] == []
        assert (
            "••••"
            in client.get(
                reverse(f"admin:environments_{name}_change", args=[obj.pk])
            ).content.decode()
        )
        assert client.get(reverse(f"admin:environments_{name}_add")).status_code == 403
