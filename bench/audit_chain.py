"""What the tamper-evident audit chain and the runtime rate limit cost (SPEC §12): the
runtime fetch (which writes one audit event) through Django's test client, in four variants
measured in the same run, alternating blocks of each so drift hits all alike:

    plain       the event as before the chain: one plain INSERT (on PostgreSQL with the
                instance upsert riding in it), no rate limit
    +chain      audit.append: the hash chain (on PostgreSQL one statement)
    +rate limit plain, with RUNTIME_RATE_LIMIT_PER_MINUTE set high enough never to refuse,
                counted in Redis (RedisCache on 127.0.0.1:6379 DB 14, flushed first)
    +both       the chain and the rate limit

For each: the median of N sequential fetches, and (PostgreSQL) the throughput of 8 threads
fetching at once; each as a ratio to plain. Then verify_audit's and the export's rate.

    .venv/bin/python bench/audit_chain.py [N]          # throwaway SQLite
    DATABASE_URL=postgres://… .venv/bin/python bench/audit_chain.py [N]
"""

from __future__ import annotations

import io
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="miosa-bench-audit-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DEBUG"] = "false"
os.environ["ALLOWED_HOSTS"] = "testserver"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from environments import audit, services  # noqa: E402
from environments.actors import Actor  # noqa: E402
from environments.models import AuditEvent  # noqa: E402
from environments.services import VariableInput  # noqa: E402

CHAINED = audit.append
_plain_seq = itertools.count(10**12)  # far above any real seq: no clash with the chain's rows


def plain_insert(*, also: audit.Cte | None = None, **fields) -> AuditEvent:
    """The event as it was written before the chain: one INSERT, no lock, no hashes; on
    PostgreSQL the caller's `also` step (the runtime fetch's instance upsert) rides in it, as
    it did then (a CTE of the INSERT)."""
    values = {**fields, "seq": next(_plain_seq), "prev_hash": "", "content_hash": "", "hash": ""}
    if also is None:
        return AuditEvent.objects.create(**values)
    prefix = f'INSERT INTO "{AuditEvent._meta.db_table}" '

    def with_also(execute, sql, params, many, context):
        if many or not sql.startswith(prefix):
            return execute(sql, params, many, context)
        wrapped = f"WITH {also.sql}, event AS ({sql}) SELECT * FROM event"
        return execute(wrapped, [*also.params, *params], many, context)

    with connection.execute_wrapper(with_also):
        return AuditEvent.objects.create(**values)


class CountQueries:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def fetch_times(client: Client, headers: dict, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get("/api/v1/runtime/env", headers=headers)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return times


def queries_per_fetch(client: Client, headers: dict) -> int:
    counter = CountQueries()
    with connection.execute_wrapper(counter):
        client.get("/api/v1/runtime/env", headers=headers)
    return counter.count


NEVER_REFUSED = 10**9  # requests per minute: the limit is counted, never reached
REDIS = "redis://127.0.0.1:6379/14"
VARIANTS = [  # name, append, rate limit per minute
    ("plain", plain_insert, 0),
    ("+chain", CHAINED, 0),
    ("+rate limit", plain_insert, NEVER_REFUSED),
    ("+both", CHAINED, NEVER_REFUSED),
]


@contextmanager
def variant(append, limit: int):
    audit.append = append
    try:
        with override_settings(RUNTIME_RATE_LIMIT_PER_MINUTE=limit):
            yield
    finally:
        audit.append = CHAINED


def throughput(headers: dict, *, threads: int, each: int) -> float:
    """Fetches per second of `threads` threads fetching one environment at once (a fleet
    booting), each on its own connection."""
    from django.db import connections

    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            fetch_times(Client(), headers, each)
        except BaseException as error:  # reported below, not swallowed
            failures.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    if failures:
        raise failures[0]
    return threads * each / wall


def four_variants(client: Client, headers: dict, n: int, *, threads: int, each: int) -> None:
    times: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    block = 25
    for _ in range(max(1, n // block)):
        for name, append, limit in VARIANTS:
            with variant(append, limit):
                times[name] += fetch_times(client, headers, block)
    queries = {}
    for name, append, limit in VARIANTS:
        with variant(append, limit):
            queries[name] = queries_per_fetch(client, headers)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{connection.vendor}: runtime fetch, {len(times['plain'])} sequential fetches each")
    for name, _, _ in VARIANTS:
        print(
            f"  {name:12} median {medians[name] * 1000:6.2f} ms,"
            f" {queries[name]} statements, ratio to plain {medians[name] / medians['plain']:.3f}"
        )
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers: a thread count would measure its lock
    rates = {}
    for name, append, limit in VARIANTS:  # twice, interleaved, keeping each one's best
        with variant(append, limit):
            rates[name] = throughput(headers, threads=threads, each=each)
    for name, append, limit in reversed(VARIANTS):
        with variant(append, limit):
            rates[name] = max(rates[name], throughput(headers, threads=threads, each=each))
    print(f"{threads} threads x {each} fetches (best of 2)")
    for name, _, _ in VARIANTS:
        print(
            f"  {name:12} {rates[name]:7.0f} fetches/s,"
            f" ratio to plain {rates[name] / rates['plain']:.3f}"
        )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", password="bench-pw")
    actor = Actor(user=user, label=user.get_username())
    deployment = services.create_deployment(name="bench-audit", actor=actor)
    small = services.create_environment(deployment=deployment, name="small", actor=actor)
    services.set_variables(
        environment=small,
        items=[VariableInput(f"KEY_{i}", f"value-{i}", False) for i in range(5)],
        actor=actor,
    )
    _, token = services.create_runtime_token(environment=small, name="bench", actor=actor)
    headers = {"Authorization": f"Bearer {token}"}
    client = Client()
    fetch_times(client, headers, 20)  # warm up

    import redis

    redis.Redis.from_url(REDIS).flushdb()
    cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS}
    try:
        with override_settings(CACHES={"default": cache}):
            four_variants(client, headers, n, threads=8, each=40)
    finally:
        audit.append = CHAINED
        # The plain rows are not part of the chain: take them out before verifying it.
        AuditEvent.objects.filter(seq__gte=10**12).delete()

    # verify_audit and the export over a longer chain.
    target = 20000
    have = AuditEvent.objects.filter(chain=deployment.pk).count()
    system = Actor.system("bench")
    for _ in range(target - have):
        audit.record("bench.event", actor=system, deployment=deployment, detail={"n": 1})
    start = time.perf_counter()
    out = io.StringIO()
    call_command("verify_audit", "--deployment", "bench-audit", stdout=out)
    took = time.perf_counter() - start
    events = AuditEvent.objects.filter(chain=deployment.pk).count()
    print(f"verify_audit: {events} events in {took:.2f} s ({events / took:,.0f} events/s)")
    print(f"  {out.getvalue().strip().splitlines()[0]}")  # OK chain … or the first break
    client.force_login(user)
    for fmt in ("csv", "jsonl"):
        start = time.perf_counter()
        response = client.get(f"/deployments/{deployment.pk}/audit/export.{fmt}")
        size = sum(len(chunk) for chunk in response.streaming_content)
        took = time.perf_counter() - start
        print(f"export {fmt}: {events} events, {size / 1e6:.1f} MB in {took:.2f} s")


if __name__ == "__main__":
    main()
