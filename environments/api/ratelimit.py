"""API rate limits (SPEC §12), per token and per user, counted in Django's cache.

A fixed window per minute: the key `ratelimit:<kind>:<id>:<minute>` counts the requests in that
minute of one token (kind `api` or `runtime`) or of one user's personal tokens together (kind
`user`: holding many tokens does not multiply a user's budget), and expires soon after it. With
RedisCache every count a request needs is one EVAL of a short script (INCR each key, and EXPIRE
on the window's first request), so the check costs one round trip to Redis and every app server
shares the count. Any other cache (local memory without REDIS_URL) counts with add + incr in
the process itself: there, each process has its own count, so the effective limit is the
setting times the number of processes (README, "Rate limits").

A cache that cannot be reached does not take the API down: the request goes through and a
warning is logged (the limit protects the service; the runtime boot must never depend on it).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import weakref
from collections.abc import Sequence

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from .errors import ApiError

logger = logging.getLogger("environments.api")

WINDOW = 60  # seconds
# The key outlives its minute a little, so a clock slightly behind Redis's still finds it.
KEY_TTL = WINDOW + 30


# INCR each key, then give a new key its expiry: one command, so one round trip and no
# pipeline object, however many budgets a request counts against.
_INCR_WITH_EXPIRY = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = count
end
return counts
"""


@dataclasses.dataclass(frozen=True)
class Budget:
    """`limit` requests a minute for one token (kind `api`, `runtime`) or one user's personal
    tokens together (kind `user`); a limit of 0 (or less) is no limit."""

    kind: str
    owner_id: int
    limit: int

    def refusal(self, retry_after: int) -> str:
        if self.kind == "user":
            return (
                f"Your personal tokens together have used the {self.limit} requests a minute "
                f"a user may make; retry in {retry_after} seconds."
            )
        return (
            f"This token has used its {self.limit} requests for this minute; "
            f"retry in {retry_after} seconds."
        )


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
    return increment_all([key])[0]


def increment_all(keys: Sequence[str]) -> list[int]:
    """Add one to each window's count and answer the new counts: one round trip on Redis."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        names = [cache.make_and_validate_key(key) for key in keys]
        counts = _writer(cache, names[0]).eval(_INCR_WITH_EXPIRY, len(names), *names, KEY_TTL)
        return [int(count) for count in counts]
    if len(keys) > 1:
        return [increment(key) for key in keys]
    # Local memory (or another backend): incr raises ValueError while the key is missing.
    key = keys[0]
    if cache.add(key, 1, timeout=KEY_TTL):
        return [1]
    try:
        return [cache.incr(key)]
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=KEY_TTL)
        return [1]


def enforce(kind: str, owner_id: int, limit: int, *, now: float | None = None) -> None:
    """Count one request against one budget (see enforce_all)."""
    enforce_all([Budget(kind, owner_id, limit)], now=now)


def enforce_all(budgets: Sequence[Budget], *, now: float | None = None) -> None:
    """Count one request against each budget; raise a 429 `rate_limited` once one of them is
    over its limit in the current minute. Budgets without a limit cost nothing."""
    budgets = [budget for budget in budgets if budget.limit > 0]
    if not budgets:
        return
    now = clock() if now is None else now
    window = int(now // WINDOW)
    keys = [f"ratelimit:{b.kind}:{b.owner_id}:{window}" for b in budgets]
    try:
        counts = increment_all(keys)
    except Exception as exc:  # the cache is down: let the request through
        logger.warning("Rate limit not checked: the cache answered %s", type(exc).__name__)
        return
    for budget, count in zip(budgets, counts, strict=True):
        if count > budget.limit:
            retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
            raise ApiError(
                429,
                "rate_limited",
                budget.refusal(retry_after),
                headers={"Retry-After": str(retry_after)},
            )
