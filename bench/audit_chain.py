"""What the tamper-evident audit chain costs (SPEC §12): the median time of a runtime fetch
(which writes one audit event) through Django's test client, with the chain (lock the chain's
head, insert the event, move the head) vs a plain insert of the event, in the same run,
alternating blocks of each so drift hits both alike. Also verify_audit's and the export's rate.

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
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from environments import audit, services  # noqa: E402
from environments.audit import Actor  # noqa: E402
from environments.models import AuditEvent  # noqa: E402
from environments.services import VariableInput  # noqa: E402

CHAINED = audit.append
_plain_seq = itertools.count(10**12)  # far above any real seq: no clash with the chain's rows


def plain_insert(**fields) -> AuditEvent:
    """The event as it was written before the chain: one INSERT, no lock, no hashes."""
    return AuditEvent.objects.create(
        **fields, seq=next(_plain_seq), prev_hash="", content_hash="", hash=""
    )


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


def concurrent(headers: dict, *, threads: int, each: int) -> None:
    """Fetches of one environment from several threads at once (a fleet booting): the chain's
    head lock makes their transactions take turns for the rest of the fetch."""
    from django.db import connections

    def run(results: list[float]) -> None:
        barrier.wait()
        results += fetch_times(Client(), headers, each)
        connections.close_all()

    from environments.services import disclosure

    original = disclosure._disclose

    def record_last(read, *, record, undecryptable):
        """What the fetch would cost with its event written after the read, in the same
        transaction (still before anything leaves): the head lock then covers less."""
        with transaction.atomic(durable=True):
            result = read()
            record("success")
            return result

    walls = {}
    variants = [
        ("plain insert", plain_insert, original),
        ("hash chain", CHAINED, original),
        ("hash chain, event after the read", CHAINED, record_last),
    ]
    for name, append, disclose in variants:
        audit.append = append
        disclosure._disclose = disclose
        barrier = threading.Barrier(threads + 1)
        results: list[float] = []
        workers = [threading.Thread(target=run, args=(results,)) for _ in range(threads)]
        for w in workers:
            w.start()
        barrier.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        walls[name] = time.perf_counter() - start
        rate = threads * each / walls[name]
        print(
            f"{threads} threads x {each} fetches, {name}: {rate:.0f} fetches/s,"
            f" median {statistics.median(results) * 1000:.1f} ms"
        )
    audit.append = CHAINED
    disclosure._disclose = original
    AuditEvent.objects.filter(seq__gte=10**12).delete()
    for name in walls:
        print(f"throughput ratio {name} / plain: {walls['plain insert'] / walls[name]:.3f}")


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

    chained: list[float] = []
    plain: list[float] = []
    block = 50
    try:
        for _ in range(max(1, n // block)):
            audit.append = CHAINED
            chained += fetch_times(client, headers, block)
            audit.append = plain_insert
            plain += fetch_times(client, headers, block)
        audit.append = plain_insert
        plain_queries = queries_per_fetch(client, headers)
    finally:
        audit.append = CHAINED
    chained_queries = queries_per_fetch(client, headers)
    # The plain rows are not part of the chain: take them out before verifying it.
    AuditEvent.objects.filter(seq__gte=10**12).delete()

    med_c, med_p = statistics.median(chained), statistics.median(plain)
    print(f"{connection.vendor}: {len(chained)} + {len(plain)} sequential runtime fetches")
    print(f"runtime fetch, plain insert: median {med_p * 1000:.2f} ms, {plain_queries} queries")
    print(f"runtime fetch, hash chain:   median {med_c * 1000:.2f} ms, {chained_queries} queries")
    print(f"ratio chain / plain: {med_c / med_p:.3f}")

    if connection.vendor == "postgresql":
        concurrent(headers, threads=8, each=40)

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
    client.force_login(user)
    for fmt in ("csv", "jsonl"):
        start = time.perf_counter()
        response = client.get(f"/deployments/{deployment.pk}/audit/export.{fmt}")
        size = sum(len(chunk) for chunk in response.streaming_content)
        took = time.perf_counter() - start
        print(f"export {fmt}: {events} events, {size / 1e6:.1f} MB in {took:.2f} s")


if __name__ == "__main__":
    main()
