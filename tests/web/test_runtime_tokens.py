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
