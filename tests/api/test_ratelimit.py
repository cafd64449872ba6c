"""API rate limits per token (SPEC §12; environments/api/ratelimit.py), counted in the cache:
local memory here (tests/settings.py), Redis in the tests marked so."""

from __future__ import annotations

import logging
import os
import statistics
import time
import uuid

import pytest
import redis
from django.core.cache import caches

from environments.api import ratelimit
from environments.api.errors import ApiError
from environments.models import AuditEvent, RuntimeToken

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
START = 1_800_000_000.0  # the start of a minute


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI=true but {REDIS_URL} answered {exc!r}")
        pytest.skip(f"needs Redis at {REDIS_URL} ({type(exc).__name__})")


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves: `clock.now` seconds since the epoch."""

    class Clock:
        now = START + 10.0

    monkeypatch.setattr(ratelimit, "clock", lambda: Clock.now)
    return Clock


@pytest.fixture
def redis_cache(settings):
    """The default cache is Redis (a database and key prefix of this test's own), emptied
    of this test's keys afterwards."""
    redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield caches["default"]
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_the_defaults_limit_personal_tokens_and_not_runtime_ones():
    from django.conf import settings

    assert settings.API_RATE_LIMIT_PER_MINUTE == 1200
    assert settings.RUNTIME_RATE_LIMIT_PER_MINUTE == 0


def test_a_personal_token_past_its_limit_is_429_until_the_minute_ends(
    api, owner, token_for, settings, clock
):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    raw, other = token_for(owner), token_for(owner, "other")
    for _ in range(3):
        assert api.get("/api/v1/deployments", token=raw).status_code == 200
    clock.now = START + 45.2
    refused = api.get("/api/v1/deployments", token=raw)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused["Retry-After"] == "15"  # 14.8 seconds to the minute's end, rounded up
    assert refused["Cache-Control"] == "no-store"
    # Another token of the same user has a count of its own.
    assert api.get("/api/v1/deployments", token=other).status_code == 200
    clock.now = START + 60.0
    assert api.get("/api/v1/deployments", token=raw).status_code == 200


def test_the_default_per_user_budget_is_twice_a_tokens():
    from django.conf import settings

    assert settings.API_RATE_LIMIT_PER_USER_PER_MINUTE == 2 * settings.API_RATE_LIMIT_PER_MINUTE


def test_the_tokens_of_one_user_share_a_per_user_budget(
    api, owner, make_user, token_for, settings, clock
):
    # A user cannot multiply their budget by holding many tokens.
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    settings.API_RATE_LIMIT_PER_USER_PER_MINUTE = 4
    first, second = token_for(owner, "first"), token_for(owner, "second")
    stranger = token_for(make_user("someone-else"), "theirs")
    statuses = [
        api.get("/api/v1/deployments", token=raw).status_code
        for raw in (first, second, first, second)
    ]
    assert statuses == [200, 200, 200, 200]  # each token under its own 3
    clock.now = START + 45.2
    for raw in (first, second):
        refused = api.get("/api/v1/deployments", token=raw)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limited" and "tokens together" in error["message"]
        assert refused["Retry-After"] == "15"
    # Another user's budget is their own.
    assert api.get("/api/v1/deployments", token=stranger).status_code == 200
    clock.now = START + 60.0
    assert api.get("/api/v1/deployments", token=first).status_code == 200


def test_a_per_user_budget_of_0_means_only_the_per_token_limit(
    api, owner, token_for, settings, clock
):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    settings.API_RATE_LIMIT_PER_USER_PER_MINUTE = 0
    raws = [token_for(owner, f"t{n}") for n in range(3)]
    for raw in raws:
        for _ in range(2):
            assert api.get("/api/v1/deployments", token=raw).status_code == 200
    assert api.get("/api/v1/deployments", token=raws[0]).status_code == 429
    assert caches["default"].get(f"ratelimit:user:{owner.pk}:{int(START // 60)}") is None


def test_runtime_tokens_have_no_per_user_budget(
    api, owner, production, runtime_token, token_for, settings, clock
):
    # Runtime tokens belong to an environment, not a user: the fleet's fetches never count
    # toward the budget of whoever made the token, nor are they limited by it.
    settings.API_RATE_LIMIT_PER_USER_PER_MINUTE = 1
    raw = runtime_token(production)
    for _ in range(5):
        assert api.get("/api/v1/runtime/env", token=raw).status_code == 200
    assert api.get("/api/v1/deployments", token=token_for(owner)).status_code == 200
    assert caches["default"].get(f"ratelimit:user:{owner.pk}:{int(START // 60)}") == 1


def test_a_refused_request_does_nothing(api, owner, deployment, token_for, settings, clock):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    raw = token_for(owner)
    api.get("/api/v1/deployments", token=raw)
    body = {"environment": "staging", "key": "A", "value": "1"}
    response = api.post(f"/api/v1/deployments/{deployment.pk}/env", body, token=raw)
    assert response.status_code == 429
    assert not AuditEvent.objects.filter(action__startswith="variable").exists()


def test_runtime_tokens_have_no_limit_by_default(api, production, runtime_token, clock):
    raw = runtime_token(production)
    for _ in range(30):
        assert api.get("/api/v1/runtime/env", token=raw).status_code == 200
    # Nothing was counted: no limit costs no cache access.
    token = RuntimeToken.objects.get()
    assert caches["default"].get(f"ratelimit:runtime:{token.pk}:{int(START // 60)}") is None


def test_a_runtime_limit_set_by_the_setting_holds_for_get_and_head(
    api, production, runtime_token, settings, clock
):
    settings.RUNTIME_RATE_LIMIT_PER_MINUTE = 2
    raw = runtime_token(production)
    assert api.get("/api/v1/runtime/env", token=raw).status_code == 200
    assert api.request("HEAD", "/api/v1/runtime/env", token=raw).status_code == 200
    fetched = AuditEvent.objects.filter(action="runtime.fetch").count()
    refused = api.request("HEAD", "/api/v1/runtime/env", token=raw)
    assert refused.status_code == 429 and refused.content == b""
    assert refused["Retry-After"] == "50"
    refused = api.get("/api/v1/runtime/env", token=raw)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    # Refused before anything was fetched or decrypted.
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == fetched


def test_the_limit_counts_each_token_kind_apart():
    ratelimit.enforce("api", 7, 1, now=START)
    ratelimit.enforce("runtime", 7, 1, now=START)  # the same id, another kind
    with pytest.raises(ApiError) as refused:
        ratelimit.enforce("api", 7, 1, now=START + 59.9)
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}


def test_a_cache_that_is_down_lets_requests_through_and_says_so(
    api, owner, token_for, settings, monkeypatch, caplog
):
    settings.API_RATE_LIMIT_PER_MINUTE = 1

    def down(key):
        raise ConnectionError("cache at 10.0.0.9:6379 refused")

    monkeypatch.setattr(ratelimit, "increment", down)
    raw = token_for(owner)
    with caplog.at_level(logging.WARNING, logger="environments.api"):
        for _ in range(3):
            assert api.get("/api/v1/deployments", token=raw).status_code == 200
    assert "Rate limit not checked: the cache answered ConnectionError" in caplog.text
    assert "10.0.0.9" not in caplog.text


# Redis -------------------------------------------------------------------------------------


class RoundTrips:
    """Counts the commands sent to Redis: one send per round trip (a pipeline is one send)."""

    def __init__(self, monkeypatch) -> None:
        self.sends = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            self.sends += 1
            return original(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def test_with_redis_the_check_is_one_round_trip(redis_cache, monkeypatch, capsys):
    redis_cache.get("warm-up")  # the pooled connection's handshake (HELLO, SELECT) is done once
    trips = RoundTrips(monkeypatch)
    ratelimit.enforce("api", 1, 5, now=START)  # the first request of a window too
    assert trips.sends == 1
    for n in range(2, 6):
        ratelimit.enforce("api", 1, 5, now=START + n)
    assert trips.sends == 5
    with pytest.raises(ApiError):
        ratelimit.enforce("api", 1, 5, now=START + 30)
    assert trips.sends == 6
    # The key expires by itself, shortly after its minute.
    client = redis.Redis.from_url(REDIS_URL)
    key = redis_cache.make_and_validate_key(f"ratelimit:api:1:{int(START // 60)}")
    assert int(client.get(key)) == 6 and 60 < client.ttl(key) <= ratelimit.KEY_TTL
    # For comparison, Django's own cache.incr: EXISTS then INCR, two round trips.
    trips.sends = 0
    redis_cache.incr(f"ratelimit:api:1:{int(START // 60)}")
    with capsys.disabled():
        print(f"\nrate limit check: 1 round trip to Redis (Django's cache.incr: {trips.sends})")
    assert trips.sends == 2


def test_with_redis_a_token_and_its_users_budget_are_one_round_trip(redis_cache, monkeypatch):
    redis_cache.get("warm-up")
    trips = RoundTrips(monkeypatch)
    budgets = [ratelimit.Budget("api", 1, 5), ratelimit.Budget("user", 9, 3)]
    for n in range(3):
        ratelimit.enforce_all(budgets, now=START + n)
    assert trips.sends == 3
    with pytest.raises(ApiError) as refused:
        ratelimit.enforce_all(budgets, now=START + 4)
    assert "tokens together" in refused.value.message
    assert trips.sends == 4
    client = redis.Redis.from_url(REDIS_URL)
    for key, count in (
        (f"ratelimit:api:1:{int(START // 60)}", 4),
        (f"ratelimit:user:9:{int(START // 60)}", 4),
    ):
        name = redis_cache.make_and_validate_key(key)
        assert int(client.get(name)) == count and 60 < client.ttl(name) <= ratelimit.KEY_TTL


def test_with_redis_a_personal_token_is_refused_past_its_limit(
    api, owner, token_for, settings, redis_cache, clock
):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    raw = token_for(owner)
    statuses = [api.get("/api/v1/deployments", token=raw).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]


def _fetch_seconds(api, raw: str) -> float:
    started = time.perf_counter()
    response = api.get("/api/v1/runtime/env", token=raw)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    return elapsed


@pytest.mark.parametrize("backend", ["locmem", "redis"])
def test_the_cost_of_a_runtime_limit_on_a_fetch(
    api, production, runtime_token, settings, backend, request, capsys
):
    """Median of N sequential runtime fetches with no limit and with a (high) limit set,
    alternating request by request so that a busy machine weighs on both alike."""
    if backend == "redis":
        request.getfixturevalue("redis_cache")
    raw = runtime_token(production)
    for _ in range(20):  # warm up
        _fetch_seconds(api, raw)
    without, with_limit = [], []
    for _ in range(300):
        settings.RUNTIME_RATE_LIMIT_PER_MINUTE = 0
        without.append(_fetch_seconds(api, raw))
        settings.RUNTIME_RATE_LIMIT_PER_MINUTE = 1_000_000
        with_limit.append(_fetch_seconds(api, raw))
    off, on = statistics.median(without) * 1000, statistics.median(with_limit) * 1000
    with capsys.disabled():
        print(
            f"\nruntime fetch, {backend}: median {off:.3f} ms without a limit, "
            f"{on:.3f} ms with one (ratio {on / off:.3f}, N=300 each)"
        )
    assert on / off < 1.5
