"""The CI trust (OIDC) page under a deployment's settings (SPEC §16): admins list, add and
delete trust policies and revoke the live tokens they minted; others cannot."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, OidcPolicy, OidcToken, Role
from tests.oidc_issuer import AUDIENCE, ISSUER, SUBJECT

from .conftest import HX

pytest_plugins = ["tests.oidc_issuer"]


def _url(deployment, view="oidc_policies", **kw):
    return reverse(view, kwargs={"deployment_id": deployment.pk, **kw})


@pytest.fixture
def form(issuer) -> dict:
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "subject": SUBJECT,
        "claims": "repository_id=123456789\r\nrepository_owner_id = 42\r\n",
        "environments": ["production", "staging"],
        "role": "admin",
        "ttl_seconds": "600",
        "jwks_url": issuer.url,
        "jwks": json.dumps(issuer.jwks(issuer.ec)),
    }


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("outsider", 404), (Role.VIEWER, 403), (Role.DEVELOPER, 403)],
)
def test_only_admins_see_the_page(as_role, deployment, role, status):
    assert as_role(role).get(_url(deployment)).status_code == status


def test_an_admin_adds_a_policy_without_javascript(as_role, deployment, form):
    client = as_role(Role.ADMIN)
    page = client.get(_url(deployment))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "CI trust (OIDC)" in html and "No CI trust policy" in html
    assert 'name="environments" value="production"' in html
    response = client.post(_url(deployment), form)
    assert response.status_code == 302
    policy = OidcPolicy.objects.get()
    assert policy.claims == {"repository_id": "123456789", "repository_owner_id": "42"}
    assert sorted(policy.environments) == ["production", "staging"]
    assert policy.jwks["keys"][0]["kid"] == "ec-1" and policy.jwks_url == form["jwks_url"]
    listed = client.get(_url(deployment)).content.decode()
    assert SUBJECT in listed and "repository_id = 123456789" in listed
    assert AuditEvent.objects.filter(action="oidc.policy_create").count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subject": "*", "claims": ""}, "trusts repositories of anyone"),
        ({"claims": "no equals sign"}, "Line 1 is not name=value."),
        ({"jwks": "{not json", "jwks_url": ""}, "This is not JSON"),
        ({"jwks": "", "jwks_url": ""}, "Give the issuer&#x27;s keys"),
        ({"jwks_url": "http://keys.example.com/jwks"}, "jwks_url must be https://"),
        ({"ttl_seconds": "7200"}, "less than or equal to 3600"),
    ],
)
def test_a_refused_policy_is_shown_on_the_form(as_role, deployment, form, change, message):
    response = as_role(Role.ADMIN).post(_url(deployment), form | change)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not OidcPolicy.objects.exists()


def test_delete_is_asked_in_place_then_done(as_role, deployment, trust):
    policy = trust(deployment)
    client = as_role(Role.ADMIN)
    asked = client.get(_url(deployment) + f"?delete={policy.pk}", **HX).content.decode()
    assert "Stop trusting" in asked and 'class="confirming"' in asked
    assert "<html" not in asked  # the region alone
    url = _url(deployment, "oidc_policy_delete", pk=policy.pk)
    assert "Stop trusting" in client.post(url).content.decode()  # no JavaScript: asks first
    assert OidcPolicy.objects.exists()
    assert client.post(url, {"confirmed": "yes"}).status_code == 302
    assert not OidcPolicy.objects.exists()


def test_live_tokens_are_listed_with_their_subject_and_revocable(
    as_role, deployment, trust, issuer, client
):
    trust(deployment)
    minted = client.post(
        "/api/v1/oidc/token",
        {"deployment": "shop", "token": issuer.token()},
        content_type="application/json",
    ).json()
    admin = as_role(Role.ADMIN)
    html = admin.get(_url(deployment)).content.decode()
    token = OidcToken.objects.get()
    assert "Live CI tokens" in html and f"mio_oidc_{token.hint}…" in html
    assert minted["token"] not in html
    url = _url(deployment, "oidc_token_revoke", pk=token.pk)
    assert admin.post(url, {"confirmed": "yes"}).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert f"mio_oidc_{token.hint}" not in admin.get(_url(deployment)).content.decode()


def test_a_developer_cannot_delete_or_revoke(as_role, deployment, trust, actor):
    policy = trust(deployment)
    client = as_role(Role.DEVELOPER)
    assert client.post(_url(deployment, "oidc_policy_delete", pk=policy.pk)).status_code == 403
    services.delete_oidc_policy(policy=policy, actor=actor)


def test_the_settings_page_links_to_it_for_admins(as_role, deployment):
    link = _url(deployment)
    assert link in as_role(Role.ADMIN).get(_url(deployment, "deployment_settings")).content.decode()


def test_the_settings_page_has_no_link_for_developers(as_role, deployment):
    html = as_role(Role.DEVELOPER).get(_url(deployment, "deployment_settings")).content.decode()
    assert _url(deployment) not in html
