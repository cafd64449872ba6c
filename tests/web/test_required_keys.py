"""Required keys on the deployment settings page (SPEC §9): admins edit them, every member
sees them; each key is validated; the change is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments.models import AuditEvent, Deployment, Role

from .conftest import HX


@pytest.fixture
def urls(deployment):
    return (
        reverse("deployment_settings", args=[deployment.pk]),
        reverse("required_keys", args=[deployment.pk]),
    )


def test_an_admin_sets_them_one_per_line_or_comma_separated(as_role, deployment, urls):
    _, post = urls
    client = as_role(Role.ADMIN)
    response = client.post(post, {"keys": "STRIPE_KEY\r\nAPI_URL, DATABASE_URL,\n\nAPI_URL"})
    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.required_keys == ["API_URL", "DATABASE_URL", "STRIPE_KEY"]
    html = client.get(response["Location"]).content.decode()
    assert "Every release must now define API_URL, DATABASE_URL, STRIPE_KEY." in html
    assert "API_URL\nDATABASE_URL\nSTRIPE_KEY</textarea>" in html
    event = AuditEvent.objects.get(action="required_keys.set")
    assert event.target == "API_URL,DATABASE_URL,STRIPE_KEY"


def test_with_htmx_the_section_is_swapped(as_role, deployment, urls):
    response = as_role(Role.ADMIN).post(urls[1], {"keys": "A"}, **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="required-keys"')
    assert "Every release must now define A." in html


def test_clearing_them_requires_none(as_role, deployment, urls, actor):
    from environments import services

    services.set_required_keys(deployment=deployment, keys=["A"], actor=actor)
    as_role(Role.ADMIN).post(urls[1], {"keys": "  "})
    deployment.refresh_from_db()
    assert deployment.required_keys == []


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("GOOD, 1BAD", "'1BAD': A key starts with a letter"),
        ("MIOSA_RELEASE", "'MIOSA_RELEASE': Keys starting with MIOSA_ are reserved"),
        ("has-dash", "'has-dash': A key starts"),
    ],
)
def test_an_invalid_key_is_a_clear_error_and_saves_nothing(
    as_role, deployment, urls, keys, message
):
    response = as_role(Role.ADMIN).post(urls[1], {"keys": keys}, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not a valid key" in html and message.replace("'", "&#x27;") in html
    assert Deployment.objects.get(pk=deployment.pk).required_keys == []
    assert not AuditEvent.objects.filter(action="required_keys.set").exists()


def test_a_viewer_sees_them_without_a_form(as_role, deployment, urls, actor):
    from environments import services

    services.set_required_keys(deployment=deployment, keys=["API_URL", "STRIPE_KEY"], actor=actor)
    client = as_role(Role.VIEWER)
    html = client.get(urls[0]).content.decode()
    listed = html.split('data-testid="required-keys"')[1].split("</ul>")[0]
    assert "API_URL" in listed and "STRIPE_KEY" in listed
    assert "Save required keys" not in html
    assert "Save apex domain" not in html  # the apex is for admins too
    assert client.post(urls[1], {"keys": "A"}).status_code == 403


def test_a_developer_may_not_set_the_apex(as_role, deployment, urls):
    assert as_role(Role.DEVELOPER).post(urls[0], {"apex_domain": "shop.test"}).status_code == 403
    deployment.refresh_from_db()
    assert deployment.apex_domain == ""


def test_a_deploy_from_the_version_form_names_the_missing_keys(as_role, deployment, actor):
    from environments import services

    services.set_required_keys(deployment=deployment, keys=["API_URL"], actor=actor)
    url = reverse("version_create", args=[deployment.pk])
    response = as_role(Role.DEVELOPER).post(url, {"label": "b1", "deploy_to": "staging"})
    assert response.status_code == 409
    assert "staging would go live without API_URL" in response.content.decode()
    assert not deployment.versions.exists()  # all or nothing
