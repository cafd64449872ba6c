"""The data section of the environment page (SPEC §13): add a Postgres that the worker creates on
the real PostgreSQL and binds, follow its state, retry, destroy, detach; who may do what; the
credentials never on a page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.models import Binding, DataService, Role
from tests.data_services_support import ADMIN_CANARY

from .conftest import HX, expected_status

pytest_plugins = ["tests.data_services_support"]

State = DataService.State


def _url(deployment, view, name="staging", **kw):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, **kw})


@pytest.fixture
def developer(as_role):
    return as_role(Role.DEVELOPER)


@pytest.fixture
def owner_actor(owner):
    return Actor(user=owner, label=owner.get_username())


def _add(client, deployment, *, name="staging", htmx=True, **data):
    return client.post(
        _url(deployment, "data_services", name),
        {"kind": "postgres", **data},
        **(HX if htmx else {}),
    )


def _created(deployment, actor, *, environment="staging", variable=None) -> DataService:
    return services.create_data_service(
        environment=deployment.environments.get(name=environment),
        kind="postgres",
        variable=variable,
        actor=actor,
    )


# Who may see and write


@pytest.mark.parametrize("role", ["outsider", *Role.values])
def test_every_member_sees_the_data_section(as_role, deployment, pg_server, role):
    response = as_role(role).get(_url(deployment, "data_services"), **HX)
    assert response.status_code == expected_status(role, Role.VIEWER)
    if response.status_code == 200:
        assert response.content.decode().lstrip().startswith('<section id="data"')


@pytest.mark.parametrize("role", ["outsider", *Role.values])
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_developers_add_outside_production_admins_everywhere(
    as_role, deployment, prefixed, pg_server, role, environment
):
    need = Role.ADMIN if environment == "production" else Role.DEVELOPER
    response = _add(as_role(role), deployment, name=environment)
    assert response.status_code == expected_status(role, need)
    made = DataService.objects.filter(environment__name=environment).count()
    assert made == (1 if response.status_code == 200 else 0)


def test_a_viewer_sees_the_services_without_their_buttons(
    as_role, deployment, prefixed, pg_server, owner_actor
):
    service = _created(deployment, owner_actor)
    html = as_role(Role.VIEWER).get(_url(deployment, "environment")).content.decode()
    assert service.name in html and "DATABASE_URL" in html
    assert 'aria-label="Add a data service"' not in html
    assert _url(deployment, "data_service_delete", pk=service.pk) not in html


def test_a_viewer_cannot_retry_destroy_or_detach(
    as_role, deployment, prefixed, pg_server, owner_actor
):
    service = _created(deployment, owner_actor)
    viewer = as_role(Role.VIEWER)
    assert viewer.post(_url(deployment, "data_service_retry", pk=service.pk)).status_code == 403
    delete = _url(deployment, "data_service_delete", pk=service.pk)
    assert viewer.get(delete).status_code == 403
    assert viewer.post(delete, {"mode": "destroy"}).status_code == 403
    assert DataService.objects.get().state == State.PROVISIONING


def test_wrong_methods_are_refused(developer, deployment, prefixed, pg_server, owner_actor):
    service = _created(deployment, owner_actor)
    assert developer.put(_url(deployment, "data_services")).status_code == 405
    assert developer.get(_url(deployment, "data_service_retry", pk=service.pk)).status_code == 405
    assert developer.post(_url(deployment, "data_service_row", pk=service.pk)).status_code == 405


def test_another_environments_service_is_not_found_here(
    developer, deployment, prefixed, pg_server, owner_actor
):
    service = _created(deployment, owner_actor, environment="production")
    row = _url(deployment, "data_service_row", pk=service.pk)
    assert developer.get(row, **HX).status_code == 404
    delete = _url(deployment, "data_service_delete", pk=service.pk)
    assert developer.post(delete, {"mode": "destroy"}).status_code == 404


# Without a data server


def test_without_a_server_the_section_says_what_to_register(developer, deployment):
    html = developer.get(_url(deployment, "environment")).content.decode()
    assert "No data server is available to shop" in html
    assert "manage.py add_data_server KIND NAME --url-file FILE" in html
    assert reverse("data_servers") not in html  # the page is a superuser's
    assert 'aria-label="Add a data service"' not in html


def test_without_a_server_a_superuser_is_sent_to_the_data_servers_page(
    client, make_user, deployment
):
    client.force_login(make_user("boss", superuser=True))
    html = client.get(_url(deployment, "environment")).content.decode()
    assert f'href="{reverse("data_servers")}"' in html


def test_a_server_for_other_deployments_only_is_not_offered(
    developer, deployment, pg_admin, superuser_actor, owner_actor
):
    other = services.create_deployment(name="elsewhere", actor=owner_actor)
    services.add_data_server(
        kind="postgres", name="pg", admin_url=pg_admin, actor=superuser_actor, deployments=[other]
    )
    html = developer.get(_url(deployment, "environment")).content.decode()
    assert "No data server is available to shop" in html


# Add, provision, poll


def test_without_javascript_add_redirects_to_the_section(
    developer, deployment, prefixed, pg_server
):
    response = _add(developer, deployment, htmx=False, variable="MAIN_DB")
    assert response.status_code == 302
    assert response["Location"].endswith("#data")
    service = DataService.objects.get()
    assert (service.state, service.variable) == (State.PROVISIONING, "MAIN_DB")
    html = developer.get(response["Location"]).content.decode()
    assert "Creating" in html and "MAIN_DB" in html


def test_add_answers_in_place_and_the_row_polls_its_state(
    developer, deployment, prefixed, pg_server
):
    response = _add(developer, deployment)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="data"')
    service = DataService.objects.get()
    row = _url(deployment, "data_service_row", pk=service.pk)
    assert f'href="{row}"' in html and 'hx-trigger="every 2s"' in html
    assert "provisioning" in html


def test_the_polled_row_settles_once_the_worker_is_done(
    developer, deployment, prefixed, pg_server, worker
):
    worker(_add, client=developer, deployment=deployment)
    service = DataService.objects.get()
    row = _url(deployment, "data_service_row", pk=service.pk)
    polled = developer.get(row, **HX)
    assert 'hx-trigger="every 2s"' in polled.content.decode()
    assert "HX-Trigger" not in polled

    assert worker.run() == ["ready"]
    settled = developer.get(row, **HX)
    html = settled.content.decode()
    assert html.lstrip().startswith(f'<tr id="data-service-{service.pk}"')
    assert "ready" in html and "every 2s" not in html
    assert "data-settled" in settled["HX-Trigger"]  # the bindings section reloads


def test_the_polled_row_without_javascript_is_the_page(developer, deployment, pg_server, prefixed):
    _add(developer, deployment)
    service = DataService.objects.get()
    response = developer.get(_url(deployment, "data_service_row", pk=service.pk))
    assert response.status_code == 302 and response["Location"].endswith("#data")


def test_a_ready_service_shows_its_managed_binding_masked_and_not_editable(
    developer, as_role, deployment, prefixed, pg_server, worker
):
    worker(_add, client=developer, deployment=deployment)
    worker.run()
    service = DataService.objects.get()
    binding = Binding.objects.get(data_service=service)
    admin = as_role(Role.ADMIN)
    for html in (
        admin.get(_url(deployment, "environment")).content.decode(),
        admin.get(_url(deployment, "bindings"), **HX).content.decode(),
    ):
        assert 'data-testid="managed"' in html
        assert _url(deployment, "binding_edit", pk=binding.pk) not in html
        assert "postgres://" in html and ":••••@" in html
        assert service.credential() not in html
        assert ADMIN_CANARY not in html
    edit = admin.post(_url(deployment, "binding_edit", pk=binding.pk), {"url": "postgres://x"})
    assert edit.status_code == 409
    remove = admin.post(_url(deployment, "binding_delete", pk=binding.pk), **HX)
    assert remove.status_code == 409
    assert Binding.objects.filter(pk=binding.pk).exists()


def test_a_refused_add_is_shown_on_the_form(developer, deployment, prefixed, pg_server):
    services.set_variable(
        environment=deployment.environments.get(name="staging"),
        key="DATABASE_URL",
        value="x",
        is_secret=False,
        actor=Actor.system("tests"),
    )
    response = _add(developer, deployment)
    assert response.status_code == 409
    assert "already injects DATABASE_URL" in response.content.decode()
    response = _add(developer, deployment, variable="not a name")
    assert response.status_code == 400


def test_the_copy_source_never_offers_production(developer, deployment, prefixed, pg_server):
    qa = services.create_environment(deployment=deployment, name="qa", actor=Actor.system("t"))
    html = developer.get(_url(deployment, "environment", qa.name)).content.decode()
    copy_from = html.split('id="data-copy-from"', 1)[1].split("</select>", 1)[0]
    assert 'value="staging"' in copy_from and 'value="production"' not in copy_from


# Failure, retry, destroy, detach


def test_a_failed_service_shows_its_error_in_place_and_retries(
    developer, deployment, prefixed, pg_server, owner_actor
):
    service = _created(deployment, owner_actor)
    DataService.objects.filter(pk=service.pk).update(
        state=State.FAILED, error="create database failed: InsufficientPrivilege"
    )
    html = developer.get(_url(deployment, "data_services"), **HX).content.decode()
    assert "create database failed: InsufficientPrivilege" in html
    retry = _url(deployment, "data_service_retry", pk=service.pk)
    assert f'action="{retry}"' in html
    response = developer.post(retry, **HX)
    assert response.status_code == 200 and "Retrying" in response.content.decode()
    assert DataService.objects.get().state == State.PROVISIONING
    again = developer.post(retry, **HX)
    assert again.status_code == 409 and "only a failed data service" in again.content.decode()


def test_destroy_asks_in_place_saying_what_goes_then_the_worker_removes_it(
    developer, deployment, prefixed, pg_server, worker
):
    worker(_add, client=developer, deployment=deployment)
    worker.run()
    service = DataService.objects.get()
    delete = _url(deployment, "data_service_delete", pk=service.pk)
    asked = developer.get(delete + "?mode=destroy", **HX).content.decode()
    assert "its database with every table and row, and its login roles" in asked
    assert f"Destroy {service.name}</button>" in asked
    assert DataService.objects.get().state == State.READY

    response = worker(developer.post, path=delete, data={"mode": "destroy"}, **HX)
    assert response.status_code == 200
    assert DataService.objects.get().state == State.DESTROYING
    assert not Binding.objects.exists()
    worker.run()
    assert not DataService.objects.exists()
    gone = developer.get(_url(deployment, "data_service_row", pk=service.pk), **HX)
    assert gone.content == b"" and "data-settled" in gone["HX-Trigger"]


def test_destroy_without_javascript_confirms_on_the_page(
    developer, deployment, prefixed, pg_server, owner_actor
):
    service = _created(deployment, owner_actor)
    delete = _url(deployment, "data_service_delete", pk=service.pk)
    html = developer.get(delete + "?mode=destroy").content.decode()
    assert "<html" in html and f'action="{delete}"' in html
    response = developer.post(delete, {"mode": "destroy"})
    assert response.status_code == 302
    assert DataService.objects.get().state == State.DESTROYING


def test_detach_keeps_the_resource_and_says_so(developer, deployment, prefixed, pg_server, worker):
    worker(_add, client=developer, deployment=deployment)
    worker.run()
    service = DataService.objects.get()
    delete = _url(deployment, "data_service_delete", pk=service.pk)
    asked = developer.get(delete + "?mode=detach", **HX).content.decode()
    assert "listed there as detached" in asked
    response = developer.post(delete, {"mode": "detach"}, **HX)
    assert "Detached" in response.content.decode()
    assert DataService.objects.get().state == State.DETACHED
    assert not Binding.objects.exists()
    worker.run()  # nothing to destroy


# Secrets and query counts


def test_no_page_shows_a_password(
    client, make_user, developer, deployment, prefixed, pg_server, worker
):
    worker(_add, client=developer, deployment=deployment)
    worker.run()
    password = DataService.objects.get().credential()
    client.force_login(make_user("boss", superuser=True))
    for url in (
        _url(deployment, "environment"),
        _url(deployment, "bindings"),
        _url(deployment, "data_services"),
        reverse("data_servers"),
        reverse("environment_delete", kwargs={"deployment_id": deployment.pk, "name": "staging"}),
    ):
        html = client.get(url).content.decode()
        assert password not in html, url
        assert ADMIN_CANARY not in html, url


def _grow(deployment, actor, count: int) -> None:
    for i in range(DataService.objects.count(), count):
        _created(deployment, actor, variable=f"DB_{i}_URL")


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "section"])
def test_query_counts_do_not_grow_with_the_services(
    developer, deployment, prefixed, pg_server, owner_actor, htmx
):
    url = _url(deployment, "environment" if not htmx else "data_services")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert developer.get(url, **(HX if htmx else {})).status_code == 200
        return len(queries)

    _grow(deployment, owner_actor, 1)
    one = count()
    _grow(deployment, owner_actor, 20)
    assert count() == one


# Deleting and creating environments


def test_the_delete_confirmation_lists_the_services_it_destroys(
    developer, deployment, prefixed, pg_server, owner_actor
):
    qa = services.create_environment(deployment=deployment, name="qa", actor=owner_actor)
    service = services.create_data_service(
        environment=qa, kind="postgres", name="qa-db", actor=owner_actor
    )
    url = reverse("environment_delete", kwargs={"deployment_id": deployment.pk, "name": "qa"})
    html = developer.get(url).content.decode()
    assert 'data-testid="doomed-services"' in html
    assert "qa-db" in html and "its database with every table and row" in html
    developer.post(url, {"confirm_name": "qa"})
    assert DataService.objects.get(pk=service.pk).state == State.DESTROYING


def test_the_delete_confirmation_without_services_says_nothing_of_them(developer, deployment):
    services.create_environment(deployment=deployment, name="qa", actor=Actor.system("t"))
    url = reverse("environment_delete", kwargs={"deployment_id": deployment.pk, "name": "qa"})
    assert 'data-testid="doomed-services"' not in developer.get(url).content.decode()


@pytest.mark.parametrize(
    ("name", "data", "made"),
    [("preview/pr-1", "", 1), ("qa", "", 0), ("qa", "empty", 1), ("preview/pr-2", "none", 0)],
)
def test_create_with_a_copy_source_offers_data(
    developer, deployment, prefixed, pg_server, worker, owner_actor, name, data, made
):
    worker(_created, deployment=deployment, actor=owner_actor)
    worker.run()
    url = reverse("environment_create", kwargs={"deployment_id": deployment.pk})
    assert 'name="data"' in developer.get(url).content.decode()
    form = {"name": name, "copy_from": "staging", "promotes_to": "", "data": data}
    response = developer.post(url, form)
    assert response.status_code == 302, response.content.decode()
    assert DataService.objects.filter(environment__name=name).count() == made


def test_production_data_is_never_copied(as_role, deployment, prefixed, pg_server):
    url = reverse("environment_create", kwargs={"deployment_id": deployment.pk})
    form = {"name": "preview/pr-9", "copy_from": "production", "promotes_to": "", "data": "copy"}
    response = as_role(Role.ADMIN).post(url, form)
    assert response.status_code == 409
    assert "Production is never a data source" in response.content.decode()
