"""Reveal a plain variable's whole value (admins and owners), audited before it is decrypted."""

import pytest
from django.test import Client
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Role, Variable
from tests.refuse_audit import refuse_audit_writes

from .conftest import HX, expected_status

VALUE = "https://api.example.com/v1?plain=revealed"
SECRET = "sk_live_never_revealed_98765"


@pytest.fixture
def filled(production, actor):
    services.set_variable(
        environment=production, key="API_URL", value=VALUE, is_secret=False, actor=actor
    )
    services.set_variable(
        environment=production, key="STRIPE_KEY", value=SECRET, is_secret=True, actor=actor
    )
    services.create_binding(
        environment=production,
        kind="postgres",
        name="db",
        url="postgres://app:hunter2pw@db.internal:5432/shop",
        actor=actor,
    )


def _url(deployment, key="API_URL", name="production"):
    return reverse(
        "variable_reveal", kwargs={"deployment_id": deployment.pk, "name": name, "key": key}
    )


def _page(deployment, name="production"):
    return reverse("environment", kwargs={"deployment_id": deployment.pk, "name": name})


@pytest.mark.parametrize("name", ["production", "staging"])
@pytest.mark.parametrize("role", ["outsider", Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER])
def test_only_admins_and_owners_may_reveal(as_role, deployment, staging, actor, filled, role, name):
    services.set_variable(
        environment=staging, key="API_URL", value=VALUE, is_secret=False, actor=actor
    )
    response = as_role(role).post(_url(deployment, name=name), **HX)
    assert response.status_code == expected_status(role, Role.ADMIN)
    assert (VALUE in response.content.decode()) == (response.status_code == 200)
    revealed = AuditEvent.objects.filter(action="variable.reveal").exists()
    assert revealed == (response.status_code == 200)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_lower_roles_see_no_reveal_button(as_role, deployment, filled, staging, actor, role):
    services.set_variable(environment=staging, key="P", value="p", is_secret=False, actor=actor)
    client = as_role(role)
    for name in ("production", "staging"):
        assert ">Reveal<" not in client.get(_page(deployment, name)).content.decode()


def test_admins_see_reveal_on_plain_variables_only(as_role, deployment, filled):
    html = as_role(Role.ADMIN).get(_page(deployment)).content.decode()
    assert html.count(">Reveal<") == 1
    assert 'aria-label="Reveal API_URL"' in html
    assert "Reveal STRIPE_KEY" not in html and "Reveal DATABASE_URL" not in html


def test_htmx_gets_the_row_with_the_whole_value(as_role, deployment, filled, owner):
    client = as_role(Role.ADMIN)
    response = client.post(_url(deployment), **HX)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert html.lstrip().startswith('<tr id="var-API_URL">')
    assert VALUE in html
    assert SECRET not in html and "hunter2pw" not in html
    event = AuditEvent.objects.get(action="variable.reveal")
    assert event.target == "API_URL" and event.environment_name == "production"
    assert event.actor_label == "admin-user"
    assert VALUE not in str(event.detail)


def test_without_javascript_the_page_shows_the_value(as_role, deployment, filled):
    response = as_role(Role.OWNER).post(_url(deployment))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "<html" in html and VALUE in html and 'data-testid="revealed-value"' in html
    assert SECRET not in html
    # The next plain GET is back to previews.
    assert VALUE not in as_role(Role.OWNER).get(_page(deployment)).content.decode()


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_secret_is_refused_with_a_clear_message(as_role, deployment, filled, headers):
    response = as_role(Role.OWNER).post(_url(deployment, "STRIPE_KEY"), **headers)
    assert response.status_code == 409
    html = response.content.decode()
    assert "STRIPE_KEY is a secret: its value is write-only" in html
    assert SECRET not in html
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()
    if headers:
        assert response["HX-Retarget"] == "#variables"


def test_a_binding_or_unknown_key_is_404(as_role, deployment, filled):
    client = as_role(Role.OWNER)
    assert client.post(_url(deployment, "DATABASE_URL")).status_code == 404
    assert client.post(_url(deployment, "NOPE")).status_code == 404
    assert not AuditEvent.objects.filter(action="variable.reveal").exists()


def test_an_undecryptable_value_says_so(as_role, deployment, filled, production):
    Variable.objects.filter(environment=production, key="API_URL").update(
        ciphertext=b"\x01\x02xx" + b"\x00" * 40
    )
    response = as_role(Role.ADMIN).post(_url(deployment), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cannot be decrypted with the configured keys" in html
    assert 'data-testid="revealed-value"' not in html
    event = AuditEvent.objects.get(action="variable.reveal")
    assert event.outcome == "failure" and event.target == "API_URL"


def test_no_value_leaves_when_the_audit_event_cannot_be_written(
    deployment, filled, member, monkeypatch
):
    def refuse(*args, **kwargs):
        raise RuntimeError("audit storage is down")

    client = Client(raise_request_exception=False)
    client.force_login(member(Role.ADMIN))
    refuse_audit_writes(monkeypatch, refuse)
    for headers in ({}, HX):
        response = client.post(_url(deployment), **headers)
        assert response.status_code == 500
        assert VALUE not in response.content.decode()


def test_reveal_needs_the_csrf_token(deployment, filled, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(Role.ADMIN))
    response = client.post(_url(deployment), **HX)
    assert response.status_code == 403
    assert VALUE not in response.content.decode()
