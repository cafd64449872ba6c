"""Runtime tokens: the raw token is shown once, in the creating response only."""

import re

from django.urls import reverse

from environments import services
from environments.models import Role, RuntimeToken

from .conftest import HX


def _url(deployment, view, **kw):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": "production", **kw})


def test_create_shows_the_token_once(as_role, deployment):
    client = as_role(Role.ADMIN)
    response = client.post(_url(deployment, "runtime_tokens"), {"name": "web"}, **HX)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = re.search(r"mio_rt_[A-Za-z0-9_-]{20,}", response.content.decode()).group(0)
    assert services.hash_token(raw) == RuntimeToken.objects.get().token_hash
    again = client.get(_url(deployment, "environment")).content.decode()
    assert raw not in again and "web" in again


def test_create_without_javascript_renders_the_token(as_role, deployment):
    response = as_role(Role.ADMIN).post(_url(deployment, "runtime_tokens"), {"name": ""})
    assert response.status_code == 200
    assert "it is shown only once" in response.content.decode()
    assert RuntimeToken.objects.get().name == "production runtime"


def test_revoke(as_role, deployment, production, actor):
    token, _ = services.create_runtime_token(environment=production, name="old", actor=actor)
    response = as_role(Role.ADMIN).post(_url(deployment, "runtime_token_revoke", pk=token.pk), **HX)
    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoke_without_javascript_asks_first(as_role, deployment, production, actor):
    token, _ = services.create_runtime_token(environment=production, name="old", actor=actor)
    client = as_role(Role.ADMIN)
    url = _url(deployment, "runtime_token_revoke", pk=token.pk)
    asked = client.post(url)
    assert "Revoke old?" in asked.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    response = client.post(url, {"confirmed": "yes"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_new_token_comes_with_the_commands_that_use_it(as_role, deployment):
    response = as_role(Role.ADMIN).post(_url(deployment, "runtime_tokens"), {"name": "web"}, **HX)
    html = response.content.decode()
    raw = re.search(r"mio_rt_[A-Za-z0-9_-]{20,}", html).group(0)
    assert f'curl -H "Authorization: Bearer {raw}" http://testserver/api/v1/runtime/env' in html
    # miosa.py's own names: MIOSA_URL and MIOSA_TOKEN, `run -- CMD`.
    assert f"MIOSA_URL=http://testserver MIOSA_TOKEN={raw} miosa run -- ./server" in html


def test_the_default_expiry_is_explained_next_to_the_form(as_role, deployment):
    html = as_role(Role.ADMIN).get(_url(deployment, "environment")).content.decode()
    assert "No expiry by default, unlike personal API tokens (90 days)" in html


def test_revoke_is_asked_in_place(as_role, deployment, production, actor):
    """The row's Revoke (htmx) gets the section back with the question in the row's place;
    nothing is revoked until it is answered. No browser confirm()."""
    token, _ = services.create_runtime_token(environment=production, name="old", actor=actor)
    client = as_role(Role.ADMIN)
    section = client.get(_url(deployment, "runtime_tokens"), {"revoke": token.pk}, **HX)
    html = section.content.decode()
    assert "Revoke old? Instances using it can no longer fetch" in html
    assert html.count("data-escape") == 1 and "hx-confirm" not in html
    assert 'name="confirmed" value="yes"' in html
    token.refresh_from_db()
    assert token.revoked_at is None
    page = client.get(_url(deployment, "environment")).content.decode()
    tokens = page[page.index('id="tokens"') : page.index('id="instances"')]
    assert "hx-confirm" not in tokens and "?revoke=" in tokens
    # Without JavaScript the link asks on a page of its own; a viewer is not asked at all.
    assert (
        "Revoke old?"
        in client.get(_url(deployment, "runtime_tokens"), {"revoke": token.pk}).content.decode()
    )
    viewer = as_role(Role.VIEWER).get(
        _url(deployment, "runtime_tokens"), {"revoke": token.pk}, **HX
    )
    assert "Revoke old?" not in viewer.content.decode()
