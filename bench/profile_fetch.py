"""Where a runtime fetch's time goes, in process: the product's WSGI application and the product
floor's (bench/floors/product.py), each called N times in a loop of its own process, on a bench
database of their own (issue 27: "profile first").

    python bench/profile_fetch.py [-n 3000] [--profile] [--304] [--rate-limit] [--keep]

For each it prints the CPU time of this process per fetch (Python: Django, the app, psycopg,
the AEAD), the wall time per fetch (that plus PostgreSQL's share and the round trips), and the
ratio between the two programs. With --profile, the product's top functions under cProfile.
The machine's load moves wall time; CPU time per fetch in one process barely moves with it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("BENCH_DB", "miosa_profile")

from bench import harness


def environ(token: str, n: int, etag: str = "") -> dict:
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/runtime/env",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_X_MIOSA_INSTANCE": f"profile-{n % 1000}",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if etag:
        env["HTTP_IF_NONE_MATCH"] = etag
    return env


def loop(application, token: str, n: int, *, conditional: bool, profile: bool) -> dict:
    """`n` fetches through `application`, after 50 to warm up; CPU and wall time per fetch."""
    statuses: dict[int, int] = {}
    etag = ""

    def call(i: int) -> None:
        nonlocal etag
        status_line: list[str] = []
        headers: list[tuple[str, str]] = []

        def start_response(status, response_headers, exc_info=None):
            status_line.append(status)
            headers.extend(response_headers)

        body = application(environ(token, i, etag if conditional else ""), start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()
        code = int(status_line[0].split()[0])
        statuses[code] = statuses.get(code, 0) + 1
        etag = etag or dict(headers).get("ETag", "")

    for i in range(50):
        call(i)
    statuses.clear()
    profiler = cProfile.Profile(time.process_time) if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(n):
        call(i)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = {"cpu_ms": cpu / n * 1e3, "wall_ms": wall / n * 1e3, "statuses": statuses}
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(90)
        result["profile"] = out.getvalue()
    return result


def child(which: str, token: str, n: int, conditional: bool, profile: bool) -> None:
    """One program's loop, in this process (a floor configures Django settings of its own)."""
    if which == "product":
        import django

        django.setup()
        from project.wsgi import application
    else:
        from bench.floors.product import application
    print(json.dumps(loop(application, token, n, conditional=conditional, profile=profile)))


def run_child(which: str, env: dict, args, token: str) -> dict:
    command = [sys.executable, __file__, "--child", which, "--token", token, "-n", str(args.n)]
    command += ["--304"] * args.conditional + ["--profile"] * (args.profile and which == "product")
    out = subprocess.run(command, env=os.environ | env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--304", dest="conditional", action="store_true", help="If-None-Match")
    parser.add_argument("--rate-limit", action="store_true", help="RUNTIME_RATE_LIMIT on")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", choices=["product", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.token, args.n, args.conditional, args.profile)
        return

    from bench import load

    env = harness.app_environment()
    if not args.rate_limit:
        env |= {"RUNTIME_RATE_LIMIT_PER_MINUTE": "0", "API_RATE_LIMIT_PER_MINUTE": "0"}
    os.environ.update(env)
    harness.create_database()
    harness.flush_redis()
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        seeded = load.seed_app()
        floor_env = load.seed_floors(seeded, Path(tempfile.mkdtemp(prefix="miosa-profile-")))
        connection.close()
        results: dict[str, list[dict]] = {"product": [], "floor": []}
        for _ in range(args.rounds):
            for which in ("floor", "product"):
                results[which].append(run_child(which, floor_env, args, seeded["token"]))
        best = {w: min(r, key=lambda x: x["wall_ms"]) for w, r in results.items()}
        cpu = {w: min(x["cpu_ms"] for x in r) for w, r in results.items()}
        for which in ("floor", "product"):
            print(
                f"{which:<8} CPU {cpu[which]:.3f} ms/fetch  wall {best[which]['wall_ms']:.3f} "
                f"ms/fetch  {best[which]['statuses']}"
            )
        print(
            f"product ÷ floor: CPU {cpu['product'] / cpu['floor']:.2f}x, wall "
            f"{best['product']['wall_ms'] / best['floor']['wall_ms']:.2f}x"
        )
        for r in results["product"]:
            if "profile" in r:
                print(r["profile"])
                break
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            harness.drop_database()


if __name__ == "__main__":
    main()
