"""CACHES from REDIS_URL and the rate-limit settings (project/settings.py, SPEC §12)."""

from __future__ import annotations

import json

import pytest

from tests.test_settings import GOOD_KEY, start

PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": f"p1:{GOOD_KEY}"}
SHOW = (
    "import json; from django.conf import settings; print(json.dumps([settings.CACHES, "
    "settings.API_RATE_LIMIT_PER_MINUTE, settings.RUNTIME_RATE_LIMIT_PER_MINUTE]))"
)


def _settings(**env: str):
    result = start(SHOW, **PRODUCTION, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_redis_url_makes_the_cache_redis():
    caches, api, runtime = _settings(REDIS_URL="redis://127.0.0.1:6379/3")
    assert caches["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert caches["default"]["LOCATION"] == "redis://127.0.0.1:6379/3"
    assert (api, runtime) == (1200, 0)


def test_without_redis_url_the_cache_is_local_memory():
    caches, _, _ = _settings(REDIS_URL="")
    assert caches["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_the_limits_come_from_the_environment():
    _, api, runtime = _settings(API_RATE_LIMIT_PER_MINUTE="60", RUNTIME_RATE_LIMIT_PER_MINUTE="600")
    assert (api, runtime) == (60, 600)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"API_RATE_LIMIT_PER_MINUTE": "-1"}, "API_RATE_LIMIT_PER_MINUTE is a number"),
        ({"RUNTIME_RATE_LIMIT_PER_MINUTE": "lots"}, "RUNTIME_RATE_LIMIT_PER_MINUTE is not a whole"),
    ],
)
def test_a_bad_cache_or_limit_setting_stops_start_up(env, message):
    result = start(**PRODUCTION, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
