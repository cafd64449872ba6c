"""GET/POST /api/v1/tokens and DELETE /api/v1/tokens/{id}: the caller's own personal API
tokens, and token expiry on every endpoint (SPEC §12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from environments import services
from environments.actors import Actor
from environments.errors import ServiceError
from environments.models import ApiToken, AuditEvent, RuntimeToken
from tests.api import endpoints
from tests.concurrently import run_concurrently, skip_unless_postgres

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


# Creating: from a signed-in session only (the API tokens page, or manage.py create_api_token).
# A token minting tokens would outlive and outnumber its parent: a 1-day token could make
# permanent ones, each with its own rate budget, that survive the parent's revocation.


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "child"},
        {"expires_in_days": None},
        {"name": "forever", "expires_in_days": None},
        {"expires_in_days": 365},
    ],
)
def test_a_token_cannot_create_a_token(api, owner, body):
    parent = services.create_api_token(
        user=owner, name="short", expires_in_days=1, actor=Actor.system()
    )[1]
    created = AuditEvent.objects.filter(action="api_token.create").count()
    response = api.post(URL, body, token=parent)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "session_required"
    assert "/account/tokens/" in error["message"]
    assert "token" not in response.json()
    assert ApiToken.objects.count() == 1
    assert AuditEvent.objects.filter(action="api_token.create").count() == created


# Whatever the body (the contract was a 400 naming the field; no body is read now).
@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_days": 0},
        {"expires_in_days": 366},
        {"expires_in_days": -5},
        {"expires_in_days": "90"},
        {"expires_in_days": 9.5},
        {"expires_in_days": True},
        {"name": 5},
        {"name": "x" * 101},
        {"name": "ok", "scope": "all"},
    ],
)
def test_any_create_body_with_a_token_is_403_and_creates_nothing(api, owner, token_for, body):
    raw = token_for(owner)
    response = api.post(URL, body, token=raw)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "session_required"
    assert ApiToken.objects.count() == 1


def test_a_created_token_answers_once_and_works(api, owner):
    # What the API's create answered before, now from the service the web page calls.
    created, raw = services.create_api_token(user=owner, name="CI deploys", actor=Actor.system())
    assert raw.startswith("mio_pat_")
    assert api.get("/api/v1/deployments", token=raw).status_code == 200
    stored = ApiToken.objects.get(pk=created.pk)
    assert stored.name == "CI deploys" and stored.user == owner
    assert raw not in api.get(URL, token=raw).content.decode()
    event = AuditEvent.objects.filter(action="api_token.create").latest("id")
    assert "CI deploys" in event.target and raw not in event.target


def test_a_new_token_expires_in_90_days_unless_told_otherwise(owner):
    now = timezone.now()

    def expiry(**lifetime):
        created, _ = services.create_api_token(
            user=owner, name="t", actor=Actor.system(), **lifetime
        )
        return created.expires_at

    assert abs(expiry() - (now + timedelta(days=90))) < timedelta(minutes=1)
    assert abs(expiry(expires_in_days=7) - (now + timedelta(days=7))) < timedelta(minutes=1)
    assert abs(expiry(expires_in_days=365) - (now + timedelta(days=365))) < timedelta(minutes=1)
    assert expiry(expires_in_days=None) is None


@pytest.mark.parametrize("days", [0, 366, -5, "90", 9.5, True])
def test_a_bad_lifetime_is_refused_naming_the_field(owner, days):
    with pytest.raises(ServiceError) as refused:
        services.create_api_token(user=owner, name="t", expires_in_days=days, actor=Actor.system())
    assert refused.value.field == "expires_in_days"
    assert not ApiToken.objects.exists()


# At most 50 live personal tokens per user.


def _fill(user, count: int) -> list[ApiToken]:
    return [
        services.create_api_token(user=user, name=f"t{n}", actor=Actor.system())[0]
        for n in range(count)
    ]


def test_the_51st_live_token_is_refused_with_409_too_many_tokens(owner, make_user):
    assert ApiToken.MAX_LIVE_PER_USER == 50
    tokens = _fill(owner, 50)
    with pytest.raises(ServiceError) as refused:
        services.create_api_token(user=owner, name="one more", actor=Actor.system())
    assert refused.value.status == 409 and refused.value.code == "too_many_tokens"
    assert "50" in refused.value.message and "revoke" in refused.value.message.lower()
    assert ApiToken.objects.filter(user=owner).count() == 50
    assert not AuditEvent.objects.filter(target__contains="one more").exists()
    # Another user has a count of their own.
    services.create_api_token(user=make_user("someone-else"), name="x", actor=Actor.system())
    # A revoked token, or an expired one, no longer counts.
    services.revoke_api_token(token=tokens[0], actor=Actor.system())
    services.create_api_token(user=owner, name="after revoke", actor=Actor.system())
    ApiToken.objects.filter(pk=tokens[1].pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.create_api_token(user=owner, name="after expiry", actor=Actor.system())
    with pytest.raises(ServiceError):
        services.create_api_token(user=owner, name="still too many", actor=Actor.system())


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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_creates_never_pass_the_limit(make_user):
    skip_unless_postgres()
    user = make_user("racer")
    _fill(user, ApiToken.MAX_LIVE_PER_USER - 2)

    def create(n: int):
        return lambda: services.create_api_token(user=user, name=f"race {n}", actor=Actor.system())

    results = run_concurrently([create(n) for n in range(8)])
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(refused) == 6 and {r.code for r in refused} == {"too_many_tokens"}
    assert ApiToken.objects.filter(user=user).count() == ApiToken.MAX_LIVE_PER_USER
