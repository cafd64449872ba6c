"""A new preview/* environment may be given an expiry from the form."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from environments.models import Role


def _url(deployment):
    return reverse("environment_create", args=[deployment.pk])


def test_a_preview_gets_its_expiry(as_role, deployment):
    response = as_role(Role.DEVELOPER).post(
        _url(deployment), {"name": "preview/pr-43", "expires_in_days": "7"}
    )
    assert response.status_code == 302
    env = deployment.environments.get(name="preview/pr-43")
    expected = timezone.now() + timedelta(days=7)
    assert abs((env.expires_at - expected).total_seconds()) < 60


def test_never_is_the_default(as_role, deployment):
    client = as_role(Role.DEVELOPER)
    html = client.get(_url(deployment)).content.decode()
    assert 'name="expires_in_days"' in html
    client.post(_url(deployment), {"name": "preview/pr-44"})
    assert deployment.environments.get(name="preview/pr-44").expires_at is None


def test_only_a_preview_may_expire(as_role, deployment):
    response = as_role(Role.DEVELOPER).post(
        _url(deployment), {"name": "qa", "expires_in_days": "3"}
    )
    assert response.status_code == 400
    assert "Only preview/* environments expire" in response.content.decode()
    assert not deployment.environments.filter(name="qa").exists()


def test_a_bad_expiry_is_refused(as_role, deployment):
    response = as_role(Role.DEVELOPER).post(
        _url(deployment), {"name": "preview/x", "expires_in_days": "9999"}
    )
    assert response.status_code == 400
    assert not deployment.environments.filter(name="preview/x").exists()
