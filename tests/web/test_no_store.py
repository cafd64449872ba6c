"""Every page answers `Cache-Control: no-store`: they show previews, roles, names and tokens."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings
from django.urls import URLPattern, URLResolver, reverse
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from environments import services
from environments.actors import Actor
from environments.models import Deployment, Role
from environments.services import webhooks as webhook_services
from environments.web import urls
from tests.conftest import create_user


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


@pytest.fixture(scope="module")
def _rows(module_rows, pg_run, pg_admin):
    """One of every object a page shows, made once for the module (tests.conftest.module_rows;
    each test sees them as made), with the settings the tests ran under while it lasts:
    (owner pk, deployment pk, {object: pk})."""
    from tests.data_services_support import QueueRunner  # a plugin: imported once registered

    prefixed = override_settings(DATA_SERVICE_NAME_PREFIX=pg_run)
    prefixed.enable()
    private_webhooks = override_settings(WEBHOOK_ALLOW_PRIVATE=True)
    try:
        with module_rows():
            owner = create_user("olivia")
            actor = Actor(user=owner, label=owner.get_username())
            deployment = services.create_deployment(name="shop", actor=actor)
            production = deployment.environments.get(name="production")
            root = create_user("root", superuser=True, password="pw-for-tests")
            pg_server = services.add_data_server(
                kind="postgres",
                name="pg",
                admin_url=pg_admin,
                actor=Actor(user=root, label="root"),
            )
            made = _objects(
                deployment,
                production,
                owner,
                actor,
                pg_server,
                QueueRunner(TestCase.captureOnCommitCallbacks),
                private_webhooks,
            )
        yield owner.pk, deployment.pk, made
    finally:
        private_webhooks.disable()
        prefixed.disable()


@pytest.fixture
def owner(db, _rows):
    return get_user_model().objects.get(pk=_rows[0])


@pytest.fixture
def deployment(db, _rows):
    return Deployment.objects.get(pk=_rows[1])


@pytest.fixture
def objects(db, _rows):
    return dict(_rows[2])


def _objects(deployment, production, owner, actor, pg_server, worker, private_webhooks):
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
    viewer = create_user(f"{Role.VIEWER}-user")
    services.set_member(deployment=deployment, user=viewer, role=Role.VIEWER, actor=actor)
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
    key = ECKey.generate_key("P-256", parameters={"kid": "k"})
    policy = services.create_oidc_policy(
        deployment=deployment,
        issuer="https://issuer.example",
        audience="miosa",
        subject="repo:acme/shop:ref:refs/heads/main",
        environments=["production"],
        role="developer",
        jwks=KeySet([key]).as_dict(private=False),
        actor=actor,
    )
    claims = {"iss": policy.issuer, "aud": "miosa", "sub": policy.subject, "jti": "j1"}
    id_token = jwt.encode({"alg": "ES256", "kid": "k"}, claims | {"exp": time.time() + 60}, key)
    minted = services.exchange_oidc_token(deployment=deployment, id_token=id_token, actor=actor)
    # A change request: production is protected, so deploying v1 there asks (SPEC §15).
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(
        environment=deployment.environments.get(name="staging"), version=version, actor=actor
    )
    services.set_protection(environment=production, required_approvals=1, actor=actor)
    change_request = services.deploy_version(environment=production, version=version, actor=actor)
    private_webhooks.enable()
    webhook = webhook_services.create_webhook(
        deployment=deployment, url="http://127.0.0.1:9/h", events=["release.created"], actor=actor
    ).endpoint
    ping = webhook_services.ping_webhook(endpoint=webhook, actor=actor)
    return {
        "oidc_policy": policy.pk,
        "oidc_token": minted.token.pk,
        "change_request": change_request.pk,
        "webhook": webhook.pk,
        "delivery": ping.pk,
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
        {"deployment_id": deployment.pk, "pk": pk, "delivery_id": objects.get("delivery")},
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
