"""Every page answers `Cache-Control: no-store`: they show previews, roles, names and tokens."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, reverse

from environments import services
from environments.models import Role
from environments.web import urls


def _names(patterns) -> list[str]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _names(entry.url_patterns)
        elif isinstance(entry, URLPattern) and entry.name not in (None, "login", "logout"):
            found.append(entry.name)
    return found


ROUTES = _names(urls.urlpatterns)


# A registered data server (the real PostgreSQL) for the data service and data server pages.
pytest_plugins = ["tests.data_services_support"]


@pytest.fixture
def objects(deployment, production, owner, actor, member, pg_server, prefixed, worker):
    services.set_variable(environment=production, key="K", value="v", is_secret=None, actor=actor)
    common = services.create_group(deployment=deployment, name="common", actor=actor)
    services.set_group_variables(
        group=common, items=[services.VariableInput("K", "v")], actor=actor
    )
    binding = services.create_binding(
        environment=production,
        kind="postgres",
        name="db",
        url="postgres://app:pw@db.internal:5432/shop",
        actor=actor,
    )
    domain = services.add_domain(environment=production, hostname="x.example.com", actor=actor)
    runtime, _ = services.create_runtime_token(environment=production, name="rt", actor=actor)
    api, _ = services.create_api_token(user=owner, name="ci", actor=actor)
    viewer = member(Role.VIEWER)
    data_service = worker(
        services.create_data_service,
        environment=production,
        kind="postgres",
        variable="APP_DATABASE_URL",
        actor=actor,
    )
    worker.run()
    rotation = services.start_rotation(service=data_service, actor=actor)
    invitation = services.invite_member(
        deployment=deployment,
        email="new@example.com",
        role=Role.VIEWER,
        actor=actor,
        accept_url=lambda raw: f"http://testserver/invitations/{raw}/",
    ).invitation
    return {
        "invitation": invitation.pk,
        "data_service": data_service.pk,
        "data_server": pg_server.pk,
        "binding": binding.pk,
        "domain": domain.pk,
        "runtime_token": runtime.pk,
        "api_token": api.pk,
        "user_id": viewer.pk,
        "rotation": rotation.pk,
    }


def _url(name: str, deployment, objects) -> str:
    pk = next((v for k, v in objects.items() if name.startswith(k)), None)
    candidates = [
        {},
        {"deployment_id": deployment.pk},
        {"deployment_id": deployment.pk, "user_id": objects["user_id"]},
        # staging: production promotes nowhere, so its promote page is a 404
        {"deployment_id": deployment.pk, "name": "staging" if name == "promote" else "production"},
        {"deployment_id": deployment.pk, "name": "production", "key": "K"},
        {"deployment_id": deployment.pk, "group": "common"},
        {"deployment_id": deployment.pk, "group": "common", "key": "K"},
        {"deployment_id": deployment.pk, "name": "production", "pk": pk},
        {
            "deployment_id": deployment.pk,
            "name": "production",
            "pk": objects["data_service"],
            "rotation_id": objects["rotation"],
        },
        {"pk": pk},
        {"deployment_id": deployment.pk, "pk": pk},
        {"token": "mio_inv_unknown"},
    ]
    for kwargs in candidates:
        try:
            return reverse(name, kwargs=kwargs)
        except Exception:
            continue
    raise AssertionError(f"cannot reverse {name}")


def test_every_route_is_checked():
    assert len(ROUTES) > 25 and "environment" in ROUTES and "compare" in ROUTES


@pytest.mark.parametrize("name", ROUTES)
def test_every_page_says_no_store(client, owner, deployment, objects, name):
    client.force_login(owner)
    url = _url(name, deployment, objects)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    assert response.status_code < 500
    assert "no-store" in response.get("Cache-Control", ""), (url, response.status_code)


def test_an_htmx_partial_says_no_store(client, owner, deployment, objects):
    client.force_login(owner)
    url = reverse("variables", kwargs={"deployment_id": deployment.pk, "name": "production"})
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
