"""The runtime path's load figures, each against its floor measured in the same run (`make bench`).

On PostgreSQL (a database of its own, created and dropped here), with the production settings
(DEBUG off, generated keys) under gunicorn.conf.py, wrk for throughput, and a boot storm client:

- runtime fetch req/s vs the audited floor and the bare floor (bench/floors/), wrk -t2 -c16,
  2 workers, 50 variables of which 20 are secrets, live release, audit and instance upserts on;
- 1,000 simultaneous runtime fetches against the README's production setup (gunicorn.conf.py),
  p99, errors, and audit events counted in the database before and after (none lost);
- the environment page at 500 variables vs an empty environment, server time (in process);
- runtime fetch p50 with 10^6 stored values vs 10^3 (--quick: 10^5);
- SQL statements and round trips per runtime fetch (in process);
- one app server vs two behind HAProxy (bench/two_servers.py), with its checks.

    python bench/load.py [--quick] [--keep] [--duration SECONDS] [--skip-two-servers]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

VARIABLES, SECRETS = 50, 20
PAGE_VARIABLES = 500
FILL_VALUE = "filler-value-" + "f" * 40  # every value fill() stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^5 stored values, shorter runs")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--duration", type=int, default=None, help="seconds per wrk run")
    parser.add_argument("--skip-two-servers", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=None, help="throughput rounds (best of; default 2, quick 1)"
    )
    parser.add_argument("--two-servers-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        choices=["throughput", "spread", "pgbouncer", "capacity"],
        help="only the req/s of the fetch and its floors, one deployment's storm vs ten (with "
        "the chain's ceiling in pgbench), or the fetch and product floor through PgBouncer",
    )
    parser.add_argument(
        "--tune", action="store_true", help="also measure gunicorn settings (docs/performance.md)"
    )
    args = parser.parse_args()
    duration = args.duration or (5 if args.quick else 10)
    args.rounds = args.rounds or (1 if args.quick else 2)
    harness.require_tools()
    logdir = Path(tempfile.mkdtemp(prefix="miosa-bench-"))
    env = harness.app_environment()
    os.environ.update(env)
    harness.create_database()
    harness.flush_redis()
    try:
        run(args, env, logdir, duration)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            harness.drop_database()
    print(f"\nServer logs: {logdir}")


def run(args, env: dict[str, str], logdir: Path, duration: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    seeded = seed_app()
    floor_env = seed_floors(seeded, logdir)
    connection.close()  # the servers take over; this process reconnects when it needs to
    print(machine())
    figures: dict[str, str] = {}
    if args.two_servers_only:
        from bench import two_servers

        two_servers.run(env, seeded, logdir, duration=duration)
        return

    # 1. Throughput: the runtime fetch and its floors, one at a time, 2 workers each; in
    # rounds, alternating, the best round of each (the machine may be shared).
    if args.only in (None, "throughput"):
        figures |= throughput(env, floor_env, seeded, logdir, duration=duration, rounds=args.rounds)
    if args.only in (None, "pgbouncer"):
        figures["pgbouncer"] = through_pgbouncer(
            env, floor_env, seeded, logdir, duration=duration, rounds=args.rounds
        )
    if args.only in (None, "capacity"):
        figures |= capacity(env, seeded, logdir, duration=duration)
    if args.only in (None, "spread"):
        figures["spread"] = one_vs_ten(env, seeded, logdir, rounds=args.rounds)
        figures["chain"] = chain_ceiling(duration=duration)
    if args.only:
        print("\n".join(f"{name}: {figure}" for name, figure in figures.items()))
        return

    # 2. Boot storm: 1,000 fetches at once against the production setup, audit events counted.
    storms = {}
    for name, app, extra_env, count in (
        ("audited floor", "bench.floors.audited:application", floor_env, floor_audit_count),
        ("runtime fetch", "project.wsgi", {}, app_audit_count),
    ):
        with harness.gunicorn(f"storm-{name.replace(' ', '-')}", app, env | extra_env, logdir) as s:
            harness.warm(s.url, seeded["token"])
            before = count()
            result = harness.storm(s.port, seeded["token"], 1000)
            time.sleep(0.5)
            after = count()
        storms[name] = result
        result.lost = lost = result.ok - (after - before)
        print(
            f"storm {name:<16} 1000 at once: p50 {result.p50_ms:6.0f} ms  p99 "
            f"{result.p99_ms:6.0f} ms  max {result.max_ms:6.0f} ms  all done in "
            f"{result.seconds:.2f} s  errors {result.errors} {result.statuses}  audit events "
            f"{after - before} for {result.ok} answered (lost: {lost})"
        )
    app_storm, floor_storm = storms["runtime fetch"], storms["audited floor"]
    figures["storm"] = (
        f"p99 {app_storm.p99_ms / 1e3:.2f} s (audited floor {floor_storm.p99_ms / 1e3:.2f} s: "
        f"{app_storm.p99_ms / floor_storm.p99_ms:.2f}x), {app_storm.errors} errors, "
        f"{app_storm.lost} lost audit events"
    )

    # 3. SQL per runtime fetch, in process.
    statements, round_trips = fetch_queries(seeded["token"])
    figures["queries"] = f"{statements} statements, {round_trips} round trips"
    print(f"runtime fetch: {figures['queries']}")

    # 4. The environment page, 500 variables vs empty, server time in process.
    empty, full = page_times(seeded)
    figures["page"] = f"{full:.1f} ms ÷ {empty:.1f} ms = {full / empty:.2f}x"
    print(f"environment page: {figures['page']}")

    # 5. One server vs two behind HAProxy.
    if not args.skip_two_servers:
        from bench import two_servers

        figures["two_servers"] = two_servers.run(env, seeded, logdir, duration=duration)

    # 6. Fetch p50 with 10^6 stored values vs 10^3 (the same environment and token).
    if args.tune:
        tune(env, seeded, logdir, duration)
    # The two measures are minutes apart: the audited floor's p50, measured alongside each
    # (its tables do not grow), tells how much the machine's load moved in between.
    small = stored_values()
    p50_small, floor_small = fetch_p50(env, floor_env, seeded, logdir, duration)
    target = 10**5 if args.quick else 10**6
    started = time.perf_counter()
    fill(target - small)
    print(f"seeded {target - small:,} values in {time.perf_counter() - started:.0f} s")
    large = stored_values()
    p50_large, floor_large = fetch_p50(env, floor_env, seeded, logdir, duration)
    drift = floor_large / floor_small
    figures["scale"] = (
        f"p50 {p50_large:.2f} ms at {large:,} values ÷ {p50_small:.2f} ms at {small:,} = "
        f"{p50_large / p50_small:.2f} (the audited floor's p50 meanwhile: {floor_small:.2f} → "
        f"{floor_large:.2f} ms, {drift:.2f}x: the machine's drift)"
    )
    print(f"runtime fetch: {figures['scale']}")

    print("\n| Measure | This run | Target |\n|---|---|---|")
    rows = [
        ("Runtime fetch ÷ product floor, req/s", figures["fetch_vs_product"], "≥ 0.90"),
        ("Conditional fetch (304) ÷ product floor's", figures["fetch_304_vs_product"], "≥ 0.90"),
        ("Runtime fetch ÷ audited floor, req/s", figures["fetch_vs_audited"], "—"),
        ("1,000 simultaneous fetches (gunicorn.conf.py)", figures["storm"], "p99 ≤ 1.5 s, 0, 0"),
        ("Environment page, 500 variables ÷ empty", figures["page"], "≤ 3x"),
        (f"Fetch p50, 10^{len(str(target)) - 1} values ÷ 10^3", figures["scale"], "≤ 1.2"),
        ("SQL per runtime fetch", figures["queries"], "≤ 2 round trips"),
    ]
    rows += [
        ("Fetch ÷ product floor through PgBouncer (transaction mode)", figures["pgbouncer"], "—"),
        ("1,000 at once: one deployment's p99 ÷ ten deployments'", figures["spread"], "≤ 1.5"),
        ("The fetch's write in PostgreSQL alone (pgbench -c16)", figures["chain"], "—"),
        ("CPU per fetch (docs/capacity.md)", figures["cpu"], "—"),
        ("Audit growth per fetch", figures["audit_bytes"], "—"),
    ]
    if "two_servers" in figures:
        rows.append(("Two servers ÷ one, req/s (HAProxy)", figures["two_servers"], "—"))
    for row in rows:
        print("| " + " | ".join(row) + " |")


# What each throughput run serves: name, WSGI application, environment, conditional (a 304).
# The runtime fetch runs as production does by default (RUNTIME_RATE_LIMIT_PER_MINUTE 0: no
# limit); "rate limited" counts every fetch in Redis against a limit never reached.
NO_RATE_LIMIT = {"RUNTIME_RATE_LIMIT_PER_MINUTE": "0"}


def throughput(
    env: dict, floor_env: dict, seeded: dict, logdir: Path, *, duration: int, rounds: int
) -> dict[str, str]:
    """req/s of the runtime fetch and of each floor (wrk -t2 -c16, 2 workers), and of their
    conditional fetches (If-None-Match: 304s): the best of `rounds` rounds, alternated."""
    rps = measure(
        (
            ("bare floor", "bench.floors.bare:application", floor_env, False),
            ("audited floor", "bench.floors.audited:application", floor_env, False),
            ("product floor", "bench.floors.product:application", floor_env, False),
            ("runtime fetch", "project.wsgi", NO_RATE_LIMIT, False),
            ("rate limited", "project.wsgi", {}, False),
            ("product floor 304", "bench.floors.product:application", floor_env, True),
            ("runtime fetch 304", "project.wsgi", NO_RATE_LIMIT, True),
        ),
        env,
        seeded,
        logdir,
        duration=duration,
        rounds=rounds,
    )
    fetch, product = rps["runtime fetch"], rps["product floor"]
    return {
        "fetch_vs_product": (
            f"{fetch:.0f} ÷ {product:.0f} req/s = **{fetch / product:.2f}** (rate limited, "
            f"through Redis: {rps['rate limited']:.0f} req/s, {rps['rate limited'] / product:.2f})"
        ),
        "fetch_304_vs_product": (
            f"{rps['runtime fetch 304']:.0f} ÷ {rps['product floor 304']:.0f} req/s = "
            f"**{rps['runtime fetch 304'] / rps['product floor 304']:.2f}**"
        ),
        "fetch_vs_audited": (
            f"{fetch:.0f} ÷ {rps['audited floor']:.0f} req/s = {fetch / rps['audited floor']:.2f} "
            f"(÷ bare floor {rps['bare floor']:.0f} req/s = {fetch / rps['bare floor']:.2f}; "
            f"the product floor ÷ the audited floor: {product / rps['audited floor']:.2f})"
        ),
    }


def through_pgbouncer(
    env: dict, floor_env: dict, seeded: dict, logdir: Path, *, duration: int, rounds: int
) -> str:
    """The runtime fetch and the product floor, each through the same PgBouncer in transaction
    mode (as the README's production setup), as in `throughput`."""
    with harness.pgbouncer() as url:
        if url is None:
            return "skipped (see above)"
        behind = {"DATABASE_BEHIND_PGBOUNCER": "true"}
        rps = measure(
            (
                (
                    "product floor, PgBouncer",
                    "bench.floors.product:application",
                    floor_env | behind | {"BENCH_FLOOR_DATABASE_URL": url},
                    False,
                ),
                (
                    "runtime fetch, PgBouncer",
                    "project.wsgi",
                    NO_RATE_LIMIT | behind | {"DATABASE_URL": url},
                    False,
                ),
            ),
            env,
            seeded,
            logdir,
            duration=duration,
            rounds=rounds,
        )
    fetch, floor = rps["runtime fetch, PgBouncer"], rps["product floor, PgBouncer"]
    return f"{fetch:.0f} ÷ {floor:.0f} req/s = **{fetch / floor:.2f}**"


def measure(
    runs, env: dict, seeded: dict, logdir: Path, *, duration: int, rounds: int
) -> dict[str, float]:
    """Each run (name, WSGI application, its environment, conditional) under gunicorn.conf.py
    with 2 workers, checked first (the product floor and the fetch answer the same JSON; a
    conditional run's ETag gets a 304), then wrk -t2 -c16; the best req/s of `rounds` rounds."""
    rates: dict[str, harness.WrkResult] = {}
    for _ in range(rounds):
        for name, app, extra_env, conditional in runs:
            server = name.replace(" ", "-").replace(",", "")
            with harness.gunicorn(server, app, env | extra_env, logdir, workers=2) as s:
                status, headers, body = harness.fetch(s.url, seeded["token"])
                assert status == 200, (name, status, body[:200])
                if name.startswith(("product floor", "runtime fetch")):
                    # The product floor serves what the product serves, byte for byte.
                    assert json.loads(body) == seeded["answer"], (name, body[:200])
                etag = headers.get("ETag", "") if conditional else ""
                if conditional:
                    assert harness.fetch(s.url, seeded["token"], etag)[0] == 304, name
                harness.wrk(s.url, seeded["token"], duration=2, etag=etag)  # warm up
                result = harness.wrk(s.url, seeded["token"], duration=duration, etag=etag)
            print(
                f"{name:<26} {result.rps:8.1f} req/s  p50 {result.p50_ms:6.1f} ms  "
                f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
            )
            if name not in rates or result.rps > rates[name].rps:
                rates[name] = result
    return {name: result.rps for name, result in rates.items()}


def capacity(env: dict, seeded: dict, logdir: Path, *, duration: int) -> dict[str, str]:
    """What a fetch costs each part (docs/capacity.md): the CPU time of the app's processes
    (gunicorn's workers) and of PostgreSQL's (the bench database's backends and the server's
    background writers) over a wrk run, per answered fetch; the audit table's growth per event
    (rows and indexes); then the same events pruned (audit.prune, as `prune_audit` does): the
    prune's rate and a tombstone's size."""
    import django

    django.setup()
    from django.db import connection

    from bench.floors import FLOOR_CHAIN
    from environments import audit
    from environments.actors import Actor

    def table_bytes(*tables: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t",
                [list(tables)],
            )
            return int(cursor.fetchone()[0])

    def postgres_pids() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE (datname = current_database()"
                " AND pid <> pg_backend_pid()) OR backend_type IN ('walwriter',"
                " 'background writer', 'checkpointer', 'autovacuum launcher')"
            )
            return [row[0] for row in cursor.fetchall()]

    events = ("environments_auditevent",)
    tombstones = ("environments_audittombstone",)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE environments_auditevent")
    with harness.gunicorn("capacity", "project.wsgi", env | NO_RATE_LIMIT, logdir, workers=2) as s:
        harness.wrk(s.url, seeded["token"], duration=2)  # warm: every thread has connected
        app_pids = harness.children(s.process.pid)
        pg_pids = postgres_pids()
        connection.close()  # not counted as the bench's own backend
        count_before, bytes_before = app_audit_count(), table_bytes(*events)
        app_before, pg_before = harness.cpu_seconds(app_pids), harness.cpu_seconds(pg_pids)
        result = harness.wrk(s.url, seeded["token"], duration=duration)
        app_cpu = harness.cpu_seconds(app_pids) - app_before
        pg_cpu = harness.cpu_seconds(pg_pids) - pg_before
    written = app_audit_count() - count_before
    event_bytes = (table_bytes(*events) - bytes_before) / written
    with connection.cursor() as cursor:
        # The product floor's events (their content hashes are its own, not the product's):
        # not the product's to prune.
        cursor.execute("DELETE FROM environments_auditevent WHERE chain >= %s", [FLOOR_CHAIN])
    began, tombstone_bytes = time.perf_counter(), table_bytes(*tombstones)
    pruned = audit.prune(
        action="runtime.fetch",
        before=audit.now() + dt.timedelta(seconds=1),
        actor=Actor.system("bench"),
    )
    prune_seconds = time.perf_counter() - began
    tombstone_bytes = (table_bytes(*tombstones) - tombstone_bytes) / pruned
    connection.close()
    per_fetch = {"app": app_cpu / result.requests * 1e3, "pg": pg_cpu / result.requests * 1e3}
    print(
        f"capacity: {result.rps:.0f} fetches/s on {os.cpu_count()} cores; CPU per fetch: app "
        f"{per_fetch['app']:.2f} ms, PostgreSQL {per_fetch['pg']:.2f} ms; audit "
        f"{event_bytes:.0f} bytes per event ({written:,} events), {tombstone_bytes:.0f} per "
        f"tombstone; prune {pruned / prune_seconds:,.0f} events/s"
    )
    return {
        "cpu": (
            f"app {per_fetch['app']:.2f} ms, PostgreSQL {per_fetch['pg']:.2f} ms of CPU per "
            f"fetch ({result.rps:.0f} fetches/s on {os.cpu_count()} cores, wrk -c16)"
        ),
        "audit_bytes": (
            f"{event_bytes:.0f} bytes per runtime.fetch event with its indexes; "
            f"{tombstone_bytes:.0f} per tombstone; prune_audit {pruned / prune_seconds:,.0f} "
            "events/s"
        ),
    }


CHAINS = 10


def chain_ceiling(*, duration: int) -> str:
    """What one chain can take, PostgreSQL alone: pgbench, 16 clients, each transaction the
    fetch's own write (bench/floors/product.py's statement: lock and move a chain's head,
    insert the event, upsert an instance), on one chain, then spread over ten."""
    from bench.floors import FLOOR_CHAIN

    tool = harness.pgbench()
    if tool is None:
        return "skipped (no pgbench)"
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO environments_auditchainhead (chain, seq, hash)"
            " SELECT %s + i, 0, %s FROM generate_series(1, %s) AS i ON CONFLICT DO NOTHING",
            [FLOOR_CHAIN, "0" * 64, CHAINS],
        )
        cursor.execute("SELECT id FROM environments_environment WHERE name = 'fetch' LIMIT 1")
        environment_id = cursor.fetchone()[0]
    connection.close()
    script = Path(tempfile.mkdtemp(prefix="miosa-pgbench-")) / "append.sql"
    script.write_text(
        f"\\set c random(1, :chains)\n\\set i random(1, 1000)\n{PGBENCH_APPEND}".replace(
            "ENVIRONMENT", str(environment_id)
        ).replace("FLOOR_CHAIN", str(FLOOR_CHAIN))
    )
    rates = {}
    for chains in (1, CHAINS):
        options = ["-n", "-c16", "-j2", f"-T{duration}", "-D", f"chains={chains}"]
        out = subprocess.run(
            [tool, *options, "-f", str(script), harness.db_url()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rates[chains] = float(re.search(r"tps = ([\d.]+)", out).group(1))
        print(f"pgbench, the fetch's write on {chains} chain(s): {rates[chains]:.0f} per second")
    return (
        f"{rates[1]:.0f} per second on one chain, {rates[CHAINS]:.0f} spread over {CHAINS} "
        f"({rates[CHAINS] / rates[1]:.2f}x)"
    )


# The product floor's write (bench/floors/product.py) with literal values: pgbench's script.
PGBENCH_APPEND = """WITH old AS (SELECT seq, hash FROM environments_auditchainhead
  WHERE chain = FLOOR_CHAIN + :c FOR UPDATE),
head AS (UPDATE environments_auditchainhead AS h SET seq = old.seq + 1,
  hash = encode(sha256(convert_to(old.hash || md5(random()::text), 'UTF8')), 'hex')
  FROM old WHERE h.chain = FLOOR_CHAIN + :c RETURNING h.seq, h.hash, old.hash AS prev_hash),
seen AS (INSERT INTO environments_runtimeinstance AS s (environment_id, instance, token_name,
  release_number, version_number, config_revision, first_seen_at, last_seen_at)
  VALUES (ENVIRONMENT, 'pgbench-' || :i, 'bench', 1, 1, 2, now(), now())
  ON CONFLICT (environment_id, instance) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at)
INSERT INTO environments_auditevent (created_at, actor_id, actor_label, action, deployment_id,
  deployment_name, environment_name, target, ip, user_agent, outcome, detail, chain,
  content_hash, content_version, count, coalesce_key, coalesce_until, seq, prev_hash, hash)
SELECT now(), NULL, 'token bench', 'runtime.fetch', NULL, 'bench', 'fetch', '', '127.0.0.1',
  '', 'success', '{"format": "json", "release": 1}', FLOOR_CHAIN + :c, md5(random()::text),
  2, 1, '', NULL, head.seq, head.prev_hash, head.hash FROM head;
"""


def one_vs_ten(env: dict, seeded: dict, logdir: Path, *, rounds: int) -> str:
    """1,000 fetches at once against one deployment's environment, and spread over ten
    deployments' (100 each, the same 50 variables): every fetch of a deployment appends to its
    chain and so takes its chain head's row lock, which ten deployments have ten of. Under
    gunicorn.conf.py; in rounds, alternated; audit events counted (none lost)."""
    import django

    django.setup()
    from django.db import connection

    tokens = [seeded["token"]] + [seed_fetch(f"spread-{i}")[1] for i in range(1, 10)]
    connection.close()
    results: dict[str, list[harness.StormResult]] = {"one": [], "ten": []}
    with harness.gunicorn("spread", "project.wsgi", env, logdir) as server:
        for token in tokens:
            harness.warm(server.url, token, n=4)
        for _ in range(rounds):
            for name, fleet in (("one", tokens[0]), ("ten", tokens)):
                before = app_audit_count()
                result = harness.storm(server.port, fleet, 1000)
                time.sleep(0.5)
                result.lost = result.ok - (app_audit_count() - before)
                results[name].append(result)
                print(
                    f"storm, {name} deployment{'s' if name == 'ten' else ''}: p50 "
                    f"{result.p50_ms:6.0f} ms  p99 {result.p99_ms:6.0f} ms  all done in "
                    f"{result.seconds:.2f} s  errors {result.errors}  lost {result.lost}"
                )
    one = min(results["one"], key=lambda r: r.p99_ms)
    ten = min(results["ten"], key=lambda r: r.p99_ms)
    lost = sum(r.lost for rs in results.values() for r in rs)
    errors = sum(r.errors for rs in results.values() for r in rs)
    return (
        f"p99 {one.p99_ms / 1e3:.2f} s (one) ÷ {ten.p99_ms / 1e3:.2f} s (ten) = "
        f"**{one.p99_ms / ten.p99_ms:.2f}**; all done in {one.seconds:.2f} s ÷ "
        f"{ten.seconds:.2f} s = {one.seconds / ten.seconds:.2f}; {errors} errors, {lost} lost"
    )


def machine() -> str:
    from django.db import connection

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    from django.conf import settings

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    limits = (
        "rate limits on (Redis)"
        if hasattr(settings, "RUNTIME_RATE_LIMIT_PER_MINUTE")
        else "no rate limits in this checkout"
    )
    return (
        f"nproc {os.cpu_count()}, CPU {cpu}, PostgreSQL {version}, Python "
        f"{sys.version.split()[0]}, {limits}, load average {load}\n"
    )


# Seeding -------------------------------------------------------------------------------------


def seed_app() -> dict:
    """A deployment `bench`: `fetch` (50 variables, 20 secrets, a live release, a runtime token),
    `empty` and `full` (500 variables) for the page, a superuser and a personal API token."""
    from django.contrib.auth import get_user_model

    from environments import services
    from environments.actors import Actor
    from environments.services import VariableInput

    user = get_user_model().objects.create_superuser("bench", password="bench-password-0")
    actor = Actor(user=user, label="bench")
    deployment, token = seed_fetch("bench", actor)
    services.create_environment(deployment=deployment, name="empty", actor=actor)
    full = services.create_environment(deployment=deployment, name="full", actor=actor)
    services.set_variables(
        environment=full,
        items=[
            VariableInput(f"PAGE_{i:03d}", f"page-value-{i}-" + "p" * 30, i % 5 == 0)
            for i in range(PAGE_VARIABLES)
        ],
        actor=actor,
    )
    _, pat = services.create_api_token(user=user, name="bench", actor=actor)
    return {
        "user_id": user.pk,
        "username": "bench",
        "password": "bench-password-0",
        "deployment_id": deployment.pk,
        "token": token,
        "pat": pat,
        "values": FETCH_VALUES,
    }


FETCH_VALUES = {f"KEY_{i:02d}": f"value-{i}-" + "v" * 40 for i in range(VARIABLES)}


def seed_fetch(name: str, actor=None):
    """A deployment `name` whose environment `fetch` has the 50 variables (20 secrets) live in
    a release, and a runtime token for it: (deployment, raw token)."""
    from environments import services
    from environments.actors import Actor
    from environments.services import VariableInput

    actor = actor or Actor.system("bench")
    deployment = services.create_deployment(name=name, actor=actor)
    fetch = services.create_environment(deployment=deployment, name="fetch", actor=actor)
    services.set_variables(
        environment=fetch,
        items=[VariableInput(k, v, i < SECRETS) for i, (k, v) in enumerate(FETCH_VALUES.items())],
        actor=actor,
    )
    version = services.create_version(deployment=deployment, label="bench", actor=actor)
    services.deploy_version(environment=fetch, version=version, actor=actor)
    _, token = services.create_runtime_token(environment=fetch, name="bench", actor=actor)
    return deployment, token


def seed_floors(seeded: dict, logdir: Path) -> dict[str, str]:
    """The floors' own tables in the same database: the token's SHA-256, the same 50 values
    encrypted under a key of their own, and an audit table. Returns the floors' environment."""
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from django.db import connection

    key = os.urandom(32)
    aead = ChaCha20Poly1305(key)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_floor_token (token_hash text PRIMARY KEY, environment_id int,"
            " deployment text, environment text, version int, release int, revision int)"
        )
        cursor.execute(
            "CREATE TABLE bench_floor_value (environment_id int, key text, ciphertext bytea,"
            " PRIMARY KEY (environment_id, key))"
        )
        cursor.execute(
            "CREATE TABLE bench_floor_audit (id bigserial PRIMARY KEY, created_at timestamptz"
            " NOT NULL, environment_id int NOT NULL, action text NOT NULL, ip inet)"
        )
        cursor.execute(
            "INSERT INTO bench_floor_token VALUES (%s, 1, 'bench', 'fetch', 1, 1, 2)",
            [hashlib.sha256(seeded["token"].encode()).hexdigest()],
        )
        # The product floor's chain (bench/floors/product.py), beside the deployments'.
        from bench.floors import FLOOR_CHAIN

        cursor.execute(
            "INSERT INTO environments_auditchainhead (chain, seq, hash) VALUES (%s, 0, %s)",
            [FLOOR_CHAIN, "0" * 64],
        )
        for name, value in seeded["values"].items():
            nonce = os.urandom(12)
            cursor.execute(
                "INSERT INTO bench_floor_value VALUES (1, %s, %s)",
                [name, nonce + aead.encrypt(nonce, value.encode(), name.encode())],
            )
    # The bare floor serves what the runtime endpoint answers (read from it, in process).
    seeded["answer"] = runtime_answer(seeded["token"])
    payload = logdir / "payload.json"
    payload.write_text(json.dumps(seeded["answer"]))
    return {
        "BENCH_FLOOR_DATABASE_URL": harness.db_url(),
        "BENCH_FLOOR_KEY": base64.b64encode(key).decode(),
        "BENCH_FLOOR_PAYLOAD": str(payload),
    }


def runtime_answer(token: str) -> dict:
    from django.test import Client

    response = Client().get("/api/v1/runtime/env", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    return response.json()


def app_audit_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM environments_auditevent")
        return cursor.fetchone()[0]


def floor_audit_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_floor_audit")
        return cursor.fetchone()[0]


def stored_values() -> int:
    """Values stored: variables and bindings now, and every value in their history."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM environments_variable)"
            " + (SELECT count(*) FROM environments_binding)"
            " + (SELECT count(*) FROM environments_configentry WHERE kind <> 'domain')"
        )
        return cursor.fetchone()[0]


def fill(count: int, per_environment: int = 500) -> None:
    """`count` more stored values, fast: environments in deployments of 200 (bulk_create), then
    500 variables each with their live config entries and one replaced entry per 5 keys (the
    history), encrypted here under their real associated data and sent with COPY."""
    from django.db import connection

    from environments import crypto, services
    from environments.actors import Actor
    from environments.models import Environment

    # A variable is stored twice (its row and its live entry); 1 in 5 has an older value too.
    per_variable = 2.2
    environments_needed = max(1, round(count / (per_environment * per_variable)))
    keyring = crypto.get_keyring()
    actor = Actor.system("bench")
    now = dt.datetime.now(dt.UTC)
    environments: list[Environment] = []
    for d in range(0, environments_needed, 200):
        deployment = services.create_deployment(name=f"fill-{d // 200}", actor=actor)
        environments += Environment.objects.bulk_create(
            Environment(deployment=deployment, name=f"env-{i}", config_revision=3)
            for i in range(min(200, environments_needed - d))
        )
    value = FILL_VALUE
    variable_columns = (
        "environment_id, key, is_secret, size, ciphertext, fingerprint, created_at, updated_at,"
        " updated_by_label"
    )
    entry_columns = (
        "environment_id, kind, key, is_secret, ciphertext, fingerprint, size, binding_kind,"
        " binding_name, origin, cause, set_revision, set_at, set_by_label, end_revision, ended,"
        " ended_at, ended_by_label"
    )
    fingerprint = crypto.fingerprint(value, scope="bench-fill", keyring=keyring)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY environments_variable ({variable_columns}) FROM STDIN") as copy:
            for environment in environments:
                for i in range(per_environment):
                    key = f"FILL_{i:03d}"
                    context = crypto.variable_context(
                        environment.deployment_id, environment.pk, key
                    )
                    copy.write_row(
                        (
                            environment.pk,
                            key,
                            i % 5 == 0,
                            len(value),
                            crypto.encrypt(value, context=context, keyring=keyring),
                            fingerprint,
                            now,
                            now,
                            "bench",
                        )
                    )
        with raw.copy(f"COPY environments_configentry ({entry_columns}) FROM STDIN") as copy:
            for environment in environments:
                for i in range(per_environment):
                    key = f"FILL_{i:03d}"
                    spans = [(2, None)] if i % 5 else [(1, 2), (2, None)]
                    for set_revision, end_revision in spans:
                        context = crypto.entry_context(
                            environment.deployment_id, environment.pk, "variable", key, set_revision
                        )
                        copy.write_row(
                            (
                                environment.pk,
                                "variable",
                                key,
                                i % 5 == 0,
                                crypto.encrypt(value, context=context, keyring=keyring),
                                fingerprint,
                                len(value),
                                "",
                                "",
                                "",
                                "",
                                set_revision,
                                now,
                                "bench",
                                end_revision,
                                "replaced" if end_revision else "",
                                now if end_revision else None,
                                "bench" if end_revision else "",
                            )
                        )
        cursor.execute("ANALYZE")


# Measures in process -------------------------------------------------------------------------


def fetch_queries(token: str) -> tuple[int, int]:
    """SQL statements per runtime fetch (execute_wrapper), and round trips: statements, plus
    BEGIN and COMMIT of each transaction, plus the connection health check when it runs."""
    from django.db import close_old_connections, connection
    from django.test import Client

    client = Client()
    headers = {"Authorization": f"Bearer {token}", "X-Miosa-Instance": "bench-queries"}
    client.get("/api/v1/runtime/env", headers=headers)  # warm: a connection, a live instance
    counts = {"statements": 0, "commits": 0, "checks": 0}

    def count_statement(execute, sql, params, many, context):
        counts["statements"] += 1
        return execute(sql, params, many, context)

    real_commit, real_usable = connection._commit, connection.is_usable

    def commit():
        counts["commits"] += 1
        return real_commit()

    def is_usable():
        counts["checks"] += 1
        return real_usable()

    connection._commit, connection.is_usable = commit, is_usable
    try:
        with connection.execute_wrapper(count_statement):
            # What the request_started signal does under gunicorn (the test client skips it):
            # the next query on a kept connection runs its health check first.
            close_old_connections()
            if connection.connection is None:  # it was closed (too old): a kept one, as a
                connection.ensure_connection()  # worker has from its second request on
                connection.health_check_done = False
            response = client.get("/api/v1/runtime/env", headers=headers)
    finally:
        del connection._commit, connection.is_usable
    assert response.status_code == 200, response.status_code
    print(
        f"runtime fetch SQL: {counts['statements']} statements, {counts['commits']} "
        f"transaction(s) (BEGIN and COMMIT each), {counts['checks']} connection health check(s)"
    )
    return counts["statements"], counts["statements"] + 2 * counts["commits"] + counts["checks"]


def page_times(seeded: dict, rounds: int = 15) -> tuple[float, float]:
    """Median server time (ms) of the environment page, empty and with 500 variables: the
    Django test client on the bench database, the two pages alternated."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=seeded["user_id"]))
    base = f"/deployments/{seeded['deployment_id']}/env/"
    samples: dict[str, list[float]] = {"empty": [], "full": []}
    for n in range(rounds + 2):
        for name in samples:
            began = time.perf_counter()
            response = client.get(base + name + "/")
            elapsed = time.perf_counter() - began
            assert response.status_code == 200, response.status_code
            if n >= 2:  # the first two rounds warm caches (templates, connection)
                samples[name].append(elapsed * 1e3)
    return statistics.median(samples["empty"]), statistics.median(samples["full"])


# Measures over HTTP --------------------------------------------------------------------------


def fetch_p50(
    env: dict, floor_env: dict, seeded: dict, logdir: Path, duration: int
) -> tuple[float, float]:
    """Median latency (ms) of one runtime fetch at a time (wrk -t1 -c1), 2 workers, and the
    audited floor's beside it: the lowest of three runs each, the two servers alternated."""
    runs: dict[str, list[float]] = {"app": [], "floor": []}
    with (
        harness.gunicorn("p50", "project.wsgi", env, logdir, workers=2) as app,
        harness.gunicorn(
            "p50-floor", "bench.floors.audited:application", env | floor_env, logdir, workers=2
        ) as floor,
    ):
        for server in (app, floor):
            harness.wrk(server.url, seeded["token"], duration=1, threads=1, connections=1)
        for _ in range(3):
            for name, server in (("app", app), ("floor", floor)):
                result = harness.wrk(
                    server.url,
                    seeded["token"],
                    duration=max(2, duration // 2),
                    threads=1,
                    connections=1,
                )
                runs[name].append(result.p50_ms)
    return min(runs["app"]), min(runs["floor"])


def tune(env: dict, seeded: dict, logdir: Path, duration: int) -> None:
    """The runtime fetch under other gunicorn settings: what chose gunicorn.conf.py's."""
    print("\n-- gunicorn settings: runtime fetch, wrk -t2 -c16, then 1,000 at once")
    for label, extra in 2 * (
        ("sync, 2 workers", ("--workers", "2")),
        ("sync, 4 workers", ("--workers", "4")),
        ("sync, 8 workers", ("--workers", "8")),
        ("gthread, 2 workers x 4 threads", ("--workers", "2", "--threads", "4")),
        ("gthread, 4 workers x 2 threads", ("--workers", "4", "--threads", "2")),
    ):
        with harness.gunicorn("tune", "project.wsgi", env, logdir, extra=extra) as server:
            harness.wrk(server.url, seeded["token"], duration=1)
            result = harness.wrk(server.url, seeded["token"], duration=duration)
            burst = harness.storm(server.port, seeded["token"], 1000)
        print(
            f"{label:<32} {result.rps:7.1f} req/s  p99 {result.p99_ms:6.1f} ms | storm p99 "
            f"{burst.p99_ms:6.0f} ms errors {burst.errors}"
        )
    print()


if __name__ == "__main__":
    main()
