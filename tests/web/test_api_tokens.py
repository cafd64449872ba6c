"""Personal API tokens: listed, created (the raw token shown once), revoked by their owner."""

import re

import pytest
from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.models import ApiToken, AuditEvent

from .conftest import HX

URL = "/account/tokens/"


@pytest.fixture
def user(make_user):
    return make_user("tess")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def _revoke_url(token):
    return reverse("api_token_revoke", args=[token.pk])


def test_the_url_and_the_top_bar_link(logged_in):
    assert reverse("api_tokens") == URL
    html = logged_in.get(reverse("deployment_list")).content.decode()
    assert f'href="{URL}"' in html


def test_anonymous_users_are_sent_to_log_in(client, user):
    token, _ = services.create_api_token(
        user=user, name="ci", actor=Actor(user=user, label=user.get_username())
    )
    for response in (client.get(URL), client.post(URL), client.post(_revoke_url(token))):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    token.refresh_from_db()
    assert token.revoked_at is None


def test_lists_own_tokens_only(logged_in, user, make_user):
    mine, _ = services.create_api_token(
        user=user, name="ci-deploys", actor=Actor(user=user, label=user.get_username())
    )
    services.revoke_api_token(
        token=services.create_api_token(
            user=user, name="old", actor=Actor(user=user, label=user.get_username())
        )[0],
        actor=Actor(user=user, label=user.get_username()),
    )
    other = make_user("other")
    services.create_api_token(
        user=other, name="not-yours", actor=Actor(user=other, label=other.get_username())
    )
    html = logged_in.get(URL).content.decode()
    assert "ci-deploys" in html and f"mio_pat_{mine.hint}…" in html
    assert "never used" in html and "revoked" in html
    assert "not-yours" not in html


def test_create_shows_the_token_once(logged_in, user):
    response = logged_in.post(URL, {"name": "ci"}, **HX)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="tokens"')
    raw = re.search(r"mio_pat_[A-Za-z0-9_-]{20,}", html).group(0)
    token = ApiToken.objects.get()
    assert token.user == user and token.name == "ci"
    assert services.hash_token(raw) == token.token_hash
    assert AuditEvent.objects.filter(action="api_token.create").exists()
    later = logged_in.get(URL)
    assert raw not in later.content.decode() and "ci" in later.content.decode()
    assert raw not in logged_in.get(URL, **HX).content.decode()


def test_create_without_javascript_renders_the_token(logged_in):
    response = logged_in.post(URL, {"name": ""})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "<html" in html and "it is shown only once" in html
    assert ApiToken.objects.get().name == "API token"


def test_a_too_long_name_is_a_field_error(logged_in):
    response = logged_in.post(URL, {"name": "x" * 101}, **HX)
    assert response.status_code == 400
    assert 'id="api-token-name-error"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_with_htmx(logged_in, user):
    token, _ = services.create_api_token(
        user=user, name="ci", actor=Actor(user=user, label=user.get_username())
    )
    response = logged_in.post(_revoke_url(token), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Revoked ci." in html and 'class="badge danger">revoked' in html
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoke").exists()


def test_revoke_without_javascript_asks_first(logged_in, user):
    token, _ = services.create_api_token(
        user=user, name="ci", actor=Actor(user=user, label=user.get_username())
    )
    asked = logged_in.post(_revoke_url(token))
    assert asked.status_code == 200 and "Revoke ci?" in asked.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    response = logged_in.post(_revoke_url(token), {"confirmed": "yes"})
    assert response.status_code == 302 and response["Location"] == URL
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_another_users_token_is_404(logged_in, make_user):
    other = make_user("other")
    token, _ = services.create_api_token(
        user=other, name="theirs", actor=Actor(user=other, label=other.get_username())
    )
    for headers in ({}, HX):
        response = logged_in.post(_revoke_url(token), {"confirmed": "yes"}, **headers)
        assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_refuses_get(logged_in, user):
    token, _ = services.create_api_token(
        user=user, name="ci", actor=Actor(user=user, label=user.get_username())
    )
    assert logged_in.get(_revoke_url(token)).status_code == 405


@pytest.mark.parametrize("n", [1, 30])
def test_query_count_is_fixed(logged_in, user, django_assert_num_queries, n):
    for i in range(n):
        services.create_api_token(
            user=user, name=f"t{i}", actor=Actor(user=user, label=user.get_username())
        )
    # session, user, tokens
    with django_assert_num_queries(3):
        response = logged_in.get(URL)
    assert response.content.decode().count('<code class="faint">mio_pat_') == n


def test_the_51st_live_token_is_refused_on_the_page_with_a_message(logged_in, user):
    for n in range(ApiToken.MAX_LIVE_PER_USER):
        services.create_api_token(user=user, name=f"t{n}", actor=Actor.system())
    for headers in ({}, HX):
        response = logged_in.post(URL, {"name": "one more"}, **headers)
        assert response.status_code == 409
        html = response.content.decode()
        assert "50 live personal tokens" in html and "one more" in html  # the form kept
        assert not re.search(r"mio_pat_[A-Za-z0-9_-]{20,}", html)
    assert ApiToken.objects.filter(user=user).count() == 50


def test_revoke_is_asked_in_place(logged_in, user, make_user):
    token, _ = services.create_api_token(
        user=user, name="ci", actor=Actor(user=user, label=user.get_username())
    )
    page = logged_in.get(URL).content.decode()
    assert "hx-confirm" not in page and f"?revoke={token.pk}" in page
    asked = logged_in.get(URL, {"revoke": token.pk}, **HX)
    html = asked.content.decode()
    assert "Revoke ci? Scripts and CI jobs using it can no longer call the API." in html
    assert html.count("data-escape") == 1 and 'name="confirmed" value="yes"' in html
    token.refresh_from_db()
    assert token.revoked_at is None
    other = make_user("other")
    theirs, _ = services.create_api_token(
        user=other, name="theirs", actor=Actor(user=other, label=other.get_username())
    )
    assert logged_in.get(URL, {"revoke": theirs.pk}, **HX).status_code == 404
