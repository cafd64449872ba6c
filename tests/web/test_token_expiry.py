"""Token expiry on the token pages (SPEC §12): chosen when a token is created, shown in the
lists, a token expiring within 7 days flagged, an expired one marked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from environments import services
from environments.actors import Actor
from environments.models import ApiToken, Role, RuntimeToken

from .conftest import HX

URL = "/account/tokens/"


@pytest.fixture
def logged_in(client, make_user):
    user = make_user("tess")
    client.force_login(user)
    client.user = user
    return client


def _days(token) -> float:
    return (token.expires_at - timezone.now()).total_seconds() / 86400


@pytest.mark.parametrize(
    "form, days",
    [
        ({}, 90),  # the default, as a script posting only a name gets it
        ({"expires": "30"}, 30),
        ({"expires": "60"}, 60),
        ({"expires": "365"}, 365),
        ({"expires": "90", "custom_days": "45"}, 45),  # a custom number wins
        ({"expires": "never", "custom_days": "365"}, 365),
    ],
)
def test_a_personal_token_expires_as_chosen(logged_in, form, days):
    response = logged_in.post(URL, {"name": "ci", **form}, **HX)
    assert response.status_code == 200
    assert round(_days(ApiToken.objects.get())) == days


def test_a_personal_token_may_never_expire(logged_in):
    logged_in.post(URL, {"name": "ci", "expires": "never"})
    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize(
    "form, message",
    [
        ({"custom_days": "366"}, "less than or equal to 365"),
        ({"custom_days": "0"}, "greater than or equal to 1"),
        ({"custom_days": "ten"}, "Enter a whole number"),
        ({"expires": "forever"}, "Select a valid choice"),
    ],
)
def test_a_bad_expiry_is_refused_next_to_its_field(logged_in, form, message):
    response = logged_in.post(URL, {"name": "ci", **form}, **HX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_form_offers_the_choices_with_90_days_selected(logged_in):
    html = logged_in.get(URL).content.decode()
    assert '<option value="90" selected>90 days</option>' in html
    for label in ("30 days", "60 days", "1 year", "No expiry"):
        assert f">{label}</option>" in html
    assert 'name="custom_days"' in html and 'max="365"' in html


def test_the_list_shows_each_tokens_expiry(logged_in):
    user, actor = logged_in.user, Actor.system()
    services.create_api_token(user=user, name="far", expires_in_days=200, actor=actor)
    services.create_api_token(user=user, name="soon", expires_in_days=3, actor=actor)
    services.create_api_token(user=user, name="forever", expires_in_days=None, actor=actor)
    gone, _ = services.create_api_token(user=user, name="gone", expires_in_days=1, actor=actor)
    ApiToken.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(days=1))
    html = logged_in.get(URL).content.decode()
    assert html.count('data-testid="token-expires-soon"') == 1
    assert (
        '<span class="badge warn"\n    data-testid="token-expires-soon">expires in 3 days</span>'
        in html
    )
    assert html.count('data-testid="token-expired">expired</span>') == 1
    assert "no expiry" in html
    far = (timezone.now() + timedelta(days=200)).date().isoformat()
    assert "expires <time" in html and far in html


def test_a_runtime_token_never_expires_unless_chosen(as_role, deployment):
    client = as_role(Role.ADMIN)
    url = reverse("runtime_tokens", kwargs={"deployment_id": deployment.pk, "name": "production"})
    html = client.get(url).content.decode()
    assert '<option value="never" selected>No expiry</option>' in html
    client.post(url, {"name": "web"}, **HX)
    client.post(url, {"name": "short", "expires": "30"}, **HX)
    response = client.post(url, {"name": "bad", "custom_days": "400"}, **HX)
    assert response.status_code == 400
    tokens = {t.name: t for t in RuntimeToken.objects.all()}
    assert set(tokens) == {"web", "short"}
    assert tokens["web"].expires_at is None and round(_days(tokens["short"])) == 30
    RuntimeToken.objects.filter(name="short").update(expires_at=timezone.now() + timedelta(days=2))
    html = client.get(url).content.decode()
    assert "expires in 2 days" in html and "no expiry" in html
