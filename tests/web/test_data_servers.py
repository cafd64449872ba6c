"""The /data-servers/ pages (SPEC §13): superusers only; list with health, deployments and
services; register with an admin URL that is never shown again; check now; remove."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import crypto, services
from environments.actors import Actor
from environments.models import DataServer, DataService, Role
from tests.data_services_support import ADMIN_CANARY

from .conftest import HX

pytest_plugins = ["tests.data_services_support"]

LIST = reverse("data_servers")


@pytest.fixture
def boss(client, make_user):
    client.force_login(make_user("boss", superuser=True))
    return client


def _add(client, **data):
    return client.post(LIST, {"kind": "postgres", "name": "pg", "scope": "all", **data}, **HX)


# Who may see them


@pytest.mark.parametrize("role", ["outsider", *Role.values])
def test_only_superusers_know_the_pages_exist(as_role, role, pg_server):
    client = as_role(role)
    check = reverse("data_server_check", kwargs={"pk": pg_server.pk})
    remove = reverse("data_server_remove", kwargs={"pk": pg_server.pk})
    assert client.get(LIST).status_code == 404
    assert client.post(LIST, {"kind": "postgres", "name": "x", "admin_url": "x"}).status_code == 404
    assert client.post(check).status_code == 404
    assert client.get(remove).status_code == 404
    assert client.post(remove).status_code == 404
    assert DataServer.objects.count() == 1
    assert reverse("data_servers") not in client.get(reverse("deployment_list")).content.decode()


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_wrong_methods_are_refused(boss, pg_server):
    assert boss.put(LIST).status_code == 405
    assert boss.get(reverse("data_server_check", kwargs={"pk": pg_server.pk})).status_code == 405


def test_the_navigation_links_the_page_for_superusers(boss):
    assert f'href="{LIST}"' in boss.get(reverse("deployment_list")).content.decode()


# Register


def test_register_answers_in_place_and_never_shows_the_url(boss, pg_admin):
    response = _add(boss, admin_url=pg_admin)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="servers"')
    server = DataServer.objects.get()
    assert f"Registered pg ({server.version})" in html
    assert ADMIN_CANARY not in html and pg_admin not in html
    assert ADMIN_CANARY not in boss.get(LIST).content.decode()


def test_register_without_javascript_redirects(boss, pg_admin):
    response = boss.post(
        LIST, {"kind": "postgres", "name": "pg", "scope": "all", "admin_url": pg_admin}
    )
    assert response.status_code == 302 and response["Location"] == LIST
    assert DataServer.objects.get().for_all_deployments


def test_a_refused_url_is_not_echoed(boss):
    bad = f"postgres://nobody:{ADMIN_CANARY}@127.0.0.1:1/postgres"
    response = _add(boss, admin_url=bad)
    html = response.content.decode()
    assert response.status_code == 400
    assert "did not pass its health check" in html
    assert ADMIN_CANARY not in html and "nobody" not in html
    assert 'type="password"' in html
    assert not DataServer.objects.exists()


def test_invalid_fields_are_shown_and_the_url_is_not_echoed(boss, pg_admin):
    response = _add(boss, name="Not A Name", admin_url=pg_admin)
    assert response.status_code == 400
    assert ADMIN_CANARY not in response.content.decode()
    response = _add(boss, scope="listed", admin_url=pg_admin)
    assert response.status_code == 400
    assert "Pick the deployments" in response.content.decode()


def test_a_server_can_be_limited_to_listed_deployments(boss, deployment, pg_admin, owner):
    services.create_deployment(name="other", actor=Actor(user=owner, label="o"))
    response = _add(boss, admin_url=pg_admin, scope="listed", deployments=["shop"])
    assert response.status_code == 200
    server = DataServer.objects.get()
    assert not server.for_all_deployments
    assert [d.name for d in server.deployments.all()] == ["shop"]
    row = response.content.decode().split(f'id="server-{server.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "shop" in row and "other" not in row and "every deployment" not in row


# The list, check, remove


def test_the_list_shows_health_and_services_with_detached_ones_marked(
    boss, deployment, prefixed, pg_server, worker, owner
):
    actor = Actor(user=owner, label="o")
    staging = deployment.environments.get(name="staging")
    worker(services.create_data_service, environment=staging, kind="postgres", actor=actor)
    worker.run()
    service = DataService.objects.get()
    services.delete_data_service(service=service, actor=actor, mode="detach")
    html = boss.get(LIST).content.decode()
    assert "healthy" in html and pg_server.version in html and "every deployment" in html
    assert f"shop · staging · {service.name}" in html
    assert 'class="badge">detached</span>' in html
    assert service.credential() not in html and ADMIN_CANARY not in html


def test_check_now_records_the_health(boss, pg_server):
    DataServer.objects.filter(pk=pg_server.pk).update(version="", checked_at=None)
    response = boss.post(reverse("data_server_check", kwargs={"pk": pg_server.pk}), **HX)
    assert response.status_code == 200
    assert "pg is healthy" in response.content.decode()
    assert DataServer.objects.get().version


def test_check_now_shows_the_error_class_only(boss, superuser_actor, pg_server):
    # A server that went away after it was registered: the check names the step and class.
    server = DataServer.objects.get()
    bad = f"postgres://nobody:{ADMIN_CANARY}@127.0.0.1:1/postgres"
    server.admin_url_ciphertext = crypto.encrypt(bad, context=server.context())
    server.save(update_fields=["admin_url_ciphertext"])
    html = boss.post(reverse("data_server_check", kwargs={"pk": server.pk}), **HX).content.decode()
    assert "failed its health check" in html and "unhealthy" in html
    assert ADMIN_CANARY not in html and "nobody" not in html


def test_remove_asks_in_place_then_removes(boss, pg_server):
    remove = reverse("data_server_remove", kwargs={"pk": pg_server.pk})
    asked = boss.get(remove, **HX).content.decode()
    assert "Remove pg?" in asked and f'action="{remove}"' in asked
    assert DataServer.objects.exists()
    response = boss.post(remove, **HX)
    assert "Removed pg." in response.content.decode()
    assert not DataServer.objects.exists()


def test_remove_without_javascript_confirms_on_the_page(boss, pg_server):
    remove = reverse("data_server_remove", kwargs={"pk": pg_server.pk})
    assert "<html" in boss.get(remove).content.decode()
    assert boss.post(remove).status_code == 302
    assert not DataServer.objects.exists()


def test_remove_is_refused_while_services_use_it(boss, deployment, prefixed, pg_server, owner):
    staging = deployment.environments.get(name="staging")
    services.create_data_service(
        environment=staging, kind="postgres", actor=Actor(user=owner, label="o")
    )
    remove = reverse("data_server_remove", kwargs={"pk": pg_server.pk})
    assert "It still holds 1 data" in boss.get(remove, **HX).content.decode()
    response = boss.post(remove, **HX)
    assert response.status_code == 409
    assert "pg still holds 1 data service; destroy them first." in response.content.decode()
    assert DataServer.objects.exists()


def test_query_count_does_not_grow_with_servers_and_services(
    boss, deployment, prefixed, pg_admin, superuser_actor, owner
):
    actor = Actor(user=owner, label="o")
    staging = deployment.environments.get(name="staging")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert boss.get(LIST).status_code == 200
        return len(queries)

    first = services.add_data_server(
        kind="postgres", name="pg0", admin_url=pg_admin, actor=superuser_actor
    )
    services.create_data_service(
        environment=staging, kind="postgres", server=first, variable="DB_0", actor=actor
    )
    few = count()
    for i in range(1, 4):
        server = services.add_data_server(
            kind="postgres",
            name=f"pg{i}",
            admin_url=pg_admin,
            actor=superuser_actor,
            deployments=[deployment],
        )
        for j in range(5):
            services.create_data_service(
                environment=staging,
                kind="postgres",
                server=server,
                variable=f"DB_{i}_{j}",
                actor=actor,
            )
    assert count() == few
