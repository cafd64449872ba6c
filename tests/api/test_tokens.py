"""GET/POST /api/v1/tokens and DELETE /api/v1/tokens/{id}: the caller's own personal API
tokens, and token expiry on every endpoint (SPEC §12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from environments import services
from environments.actors import Actor
from environments.models import ApiToken, AuditEvent, RuntimeToken
from tests.api import endpoints

URL = "/api/v1/tokens"


def _expire(model, raw: str) -> None:
    model.objects.filter(token_hash=services.hash_token(raw)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_the_list_shows_the_users_own_tokens_and_never_a_hash(
    api, owner, make_user, token_for, django_assert_num_queries
):
    raw = token_for(owner, "first")
    for n in range(5):
        token_for(owner, f"more-{n}")
    token_for(make_user("someone-else"), "not-mine")
    # Authentication (1) and last_used_at (1), then the list (1), however many tokens.
    with django_assert_num_queries(3):
        response = api.get(URL, token=raw)
    assert response.status_code == 200
    tokens = response.json()["tokens"]
    assert len(tokens) == 6 and "not-mine" not in {t["name"] for t in tokens}
    first = next(t for t in tokens if t["name"] == "first")
    stored = ApiToken.objects.get(name="first")
    assert first["hint"] == f"mio_pat_{stored.hint}…"
    assert first["expires_at"] is not None and first["revoked_at"] is None
    assert stored.token_hash not in response.content.decode()
    assert raw not in response.content.decode()


def test_create_answers_the_token_once_and_it_works(api, owner, token_for):
    response = api.post(URL, {"name": "CI deploys"}, token=token_for(owner))
    assert response.status_code == 201
    body = response.json()
    raw = body.pop("token")
    assert raw.startswith("mio_pat_")
    assert api.get("/api/v1/deployments", token=raw).status_code == 200
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.name == "CI deploys" and stored.user == owner
    assert raw not in api.get(URL, token=raw).content.decode()
    event = AuditEvent.objects.filter(action="api_token.create").latest("id")
    assert "CI deploys" in event.target and raw not in event.target


def test_a_new_token_expires_in_90_days_unless_told_otherwise(api, owner, token_for):
    raw = token_for(owner)
    now = timezone.now()

    def expiry(body):
        created = api.post(URL, body, token=raw).json()["id"]
        return ApiToken.objects.get(pk=created).expires_at

    assert abs(expiry({}) - (now + timedelta(days=90))) < timedelta(minutes=1)
    assert abs(expiry({"expires_in_days": 7}) - (now + timedelta(days=7))) < timedelta(minutes=1)
    assert abs(expiry({"expires_in_days": 365}) - (now + timedelta(days=365))) < timedelta(
        minutes=1
    )
    assert expiry({"expires_in_days": None}) is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": -5}, "expires_in_days"),
        ({"expires_in_days": "90"}, "expires_in_days"),
        ({"expires_in_days": 9.5}, "expires_in_days"),
        ({"expires_in_days": True}, "expires_in_days"),
        ({"name": 5}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "scope": "all"}, "scope"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(
    api, owner, token_for, body, field
):
    raw = token_for(owner)
    response = api.post(URL, body, token=raw)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert ApiToken.objects.count() == 1


def test_revoke_own_token_and_it_stops_working(api, owner, token_for):
    raw, other = token_for(owner, "main"), token_for(owner, "old")
    old = ApiToken.objects.get(name="old")
    response = api.delete(f"{URL}/{old.pk}", token=raw)
    assert response.status_code == 204
    assert api.get("/api/v1/deployments", token=other).status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke", target="old").count() == 1
    # Again: still 204, and no second event.
    assert api.delete(f"{URL}/{old.pk}", token=raw).status_code == 204
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1


def test_another_users_token_is_a_404_and_stays_valid(api, owner, make_user, token_for):
    raw = token_for(owner)
    theirs = token_for(make_user("someone-else"), "theirs")
    pk = ApiToken.objects.get(name="theirs").pk
    for target in (pk, 999999, 2**70):
        response = api.delete(f"{URL}/{target}", token=raw)
        assert response.status_code == 404
    assert api.get("/api/v1/deployments", token=theirs).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("GET", URL), ("POST", URL), ("DELETE", f"{URL}/1")])
def test_a_runtime_token_cannot_manage_personal_tokens(
    api, production, runtime_token, method, path
):
    response = api.request(method, path, token=runtime_token(production), json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wrong_token_kind"


# Every endpoint a personal token opens (the runtime endpoint's tokens are tested below).
PERSONAL_ENDPOINTS = [(op.method, op.path()) for op in endpoints.PERSONAL]


@pytest.mark.parametrize(("method", "path"), PERSONAL_ENDPOINTS)
def test_an_expired_personal_token_is_401_token_expired_everywhere(
    api, deployment, owner, token_for, method, path
):
    raw = token_for(owner)
    _expire(ApiToken, raw)
    response = api.request(method, path.format(id=deployment.pk), token=raw, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_expired_runtime_token_is_401_and_nothing_is_fetched(
    api, production, runtime_token, method
):
    raw = runtime_token(production)
    _expire(RuntimeToken, raw)
    response = api.request(method, "/api/v1/runtime/env", token=raw)
    assert response.status_code == 401
    if method == "GET":
        assert response.json()["error"]["code"] == "token_expired"
    assert not AuditEvent.objects.filter(action="runtime.fetch").exists()
    assert RuntimeToken.objects.get().last_used_at is None


def test_a_token_works_until_its_expiry(api, owner, production, runtime_token, actor):
    _, raw = services.create_api_token(
        user=owner, name="short", expires_in_days=1, actor=Actor.system()
    )
    assert api.get("/api/v1/deployments", token=raw).status_code == 200
    _, rt = services.create_runtime_token(
        environment=production, name="rt", expires_in_days=1, actor=actor
    )
    assert api.get("/api/v1/runtime/env", token=rt).status_code == 200
