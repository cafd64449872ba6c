"""Per-token API rate limits (SPEC §12), counted in Django's cache.

A fixed window per token and minute: the key `ratelimit:<kind>:<token id>:<minute>` counts the
token's requests in that minute and expires soon after it. With RedisCache the count is one
EVAL of a three-line script (INCR, and EXPIRE on the window's first request), so the check costs
one round trip to Redis and every app server shares the count. Any other cache (local memory
without REDIS_URL) counts with add + incr in the process itself: there, each process has its
own count, so the effective limit is the setting times the number of processes (README, "Rate
limits").

A cache that cannot be reached does not take the API down: the request goes through and a
warning is logged (the limit protects the service; the runtime boot must never depend on it).
"""

from __future__ import annotations

import logging
import math
import time
import weakref

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from .errors import ApiError

logger = logging.getLogger("environments.api")

WINDOW = 60  # seconds
# The key outlives its minute a little, so a clock slightly behind Redis's still finds it.
KEY_TTL = WINDOW + 30


# INCR, then give a new key its expiry: one command, so one round trip and no pipeline object.
_INCR_WITH_EXPIRY = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

# Django's RedisCache builds a new redis.Redis client (and its table of ~170 response callbacks)
# on every get_client(): a quarter of a millisecond per request, more than the round trip
# itself. The client is only a handle on the cache's connection pool, so one per
# cache client is kept. Each thread has its own cache client (django.core.cache.caches), hence
# its own entry; the entry goes with it.
_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def clock() -> float:
    return time.time()


def _writer(cache: RedisCache, name: str):
    cache_client = cache._cache
    writer = _writers.get(cache_client)
    if writer is None:
        writer = _writers[cache_client] = cache_client.get_client(name, write=True)
    return writer


def increment(key: str) -> int:
    """Add one to the window's count and answer the new count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        name = cache.make_and_validate_key(key)
        return int(_writer(cache, name).eval(_INCR_WITH_EXPIRY, 1, name, KEY_TTL))  # one trip
    # Local memory (or another backend): incr raises ValueError while the key is missing.
    if cache.add(key, 1, timeout=KEY_TTL):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=KEY_TTL)
        return 1


def enforce(kind: str, token_id: int, limit: int, *, now: float | None = None) -> None:
    """Count one request of the token; raise a 429 `rate_limited` once it is over `limit`
    requests in the current minute. `limit` 0 (or less) means no limit, and costs nothing."""
    if limit <= 0:
        return
    now = clock() if now is None else now
    window = int(now // WINDOW)
    try:
        count = increment(f"ratelimit:{kind}:{token_id}:{window}")
    except Exception as exc:  # the cache is down: let the request through
        logger.warning("Rate limit not checked: the cache answered %s", type(exc).__name__)
        return
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
        raise ApiError(
            429,
            "rate_limited",
            f"This token has used its {limit} requests for this minute; "
            f"retry in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
