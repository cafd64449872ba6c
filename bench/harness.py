"""What the load benchmarks share: the tools they need, the bench database, gunicorn servers,
wrk, and a boot storm client. No Django import here (the servers are other processes)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The server PostgreSQL runs on; the bench database is created there and dropped afterwards.
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DB", "miosa_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

INSTALL = {
    "wrk": "apt-get install -y wrk  (or build https://github.com/wg/wrk)",
    "haproxy": "apt-get install -y haproxy",
    "pgbouncer": "apt-get install -y pgbouncer",
    "postgresql": "apt-get install -y postgresql && service postgresql start "
    "(or point BENCH_POSTGRES_URL at a server where you may create databases)",
}


def db_url(name: str = DB_NAME) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def missing_tools() -> list[str]:
    """What `make bench` needs and does not find, each with how to install it."""
    missing = [
        f"{tool}: {INSTALL[tool]}" for tool in ("wrk", "haproxy", "pgbouncer") if not which(tool)
    ]
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        missing.append(
            f"postgresql at {urlsplit(ADMIN_URL).hostname}: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}\n"
            f"    {INSTALL['postgresql']}"
        )
    return missing


def which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/usr/bin/{tool}") if os.access(p, os.X_OK)), None
    )


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        print("make bench needs wrk, HAProxy, PgBouncer and PostgreSQL on this machine. Missing:")
        for line in missing:
            print(f"  - {line}")
        sys.exit(2)


def flush_redis() -> None:
    """The bench's own Redis database, emptied: no rate-limit count left from an earlier run."""
    redis_cli = which("redis-cli")
    if redis_cli:
        database = urlsplit(REDIS_URL).path.lstrip("/") or "0"
        subprocess.run([redis_cli, "-n", database, "flushdb"], check=False, capture_output=True)


def create_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def app_environment() -> dict[str, str]:
    """Production settings (DEBUG off) with generated keys, on loopback over plain HTTP: the
    transport settings (HTTPS redirect, secure cookies, HSTS) are off, nothing else."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ENCRYPTION_KEYS": f"bench:{key}",
        "DATABASE_URL": db_url(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",  # testserver: in-process measures
        "CSRF_TRUSTED_ORIGINS": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_HSTS_PRELOAD": "false",
        "LOG_LEVEL": "WARNING",
        # Rate limits on, never reached, where this checkout has them (shared through Redis);
        # a checkout without them ignores these.
        "REDIS_URL": REDIS_URL,
        "API_RATE_LIMIT_PER_MINUTE": "1000000",
        "RUNTIME_RATE_LIMIT_PER_MINUTE": "1000000",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A process serving HTTP on 127.0.0.1:port (gunicorn or HAProxy)."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_until_up(server: Server, probe: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: see {server.log}\n{_tail(server.log)}")
        try:
            urllib.request.urlopen(server.url + probe, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s: see {server.log}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def gunicorn(
    name: str,
    app: str,
    env: dict[str, str],
    logdir: Path,
    *,
    workers: int | None = None,
    port: int | None = None,
    extra: tuple[str, ...] = (),
    probe: str = "/api/v1/runtime/env",
):
    """gunicorn with the repository's gunicorn.conf.py (the production settings), on loopback;
    `workers` overrides the configuration's."""
    port = port or free_port()
    log = logdir / f"{name}.log"
    args = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app]
    args += ["--bind", f"127.0.0.1:{port}", "--no-control-socket", *extra]
    if workers is not None:
        args += ["--workers", str(workers)]
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, port, process, log)
    try:
        wait_until_up(server, probe)
        yield server
    finally:
        server.stop()


def fetch(url: str, token: str, etag: str = "") -> tuple[int, dict[str, str], bytes]:
    """One runtime fetch: its status, headers and body."""
    headers = {"Authorization": f"Bearer {token}"} | ({"If-None-Match": etag} if etag else {})
    request = urllib.request.Request(url + "/api/v1/runtime/env", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:  # a 304 is one to urllib
        return exc.code, dict(exc.headers), exc.read()


@contextmanager
def pgbouncer():
    """PgBouncer in transaction mode on a free loopback port, in front of the bench's PostgreSQL
    (`.ci/pgbouncer`: its files in a temporary directory, run as `postgres`, so this needs
    root), letting the bench's role through; yields the bench database's URL through it, or
    None (with why) when it cannot start here."""
    parts = urlsplit(ADMIN_URL)
    port = free_port()
    env = os.environ | {
        "PGBOUNCER_PORT": str(port),
        "PGBOUNCER_USER": parts.username or "postgres",
        # Under trust authentication any password does; PgBouncer needs one in its list.
        "PGBOUNCER_PASSWORD": parts.password or "bench",
    }
    if os.geteuid() != 0:
        print("PgBouncer: skipped (.ci/pgbouncer starts it as `postgres`, which needs root)")
        yield None
        return
    started = subprocess.run(
        [str(ROOT / ".ci" / "pgbouncer")], env=env, capture_output=True, text=True
    )
    if started.returncode:
        print(f"PgBouncer: skipped, it did not start: {started.stderr.strip()[-500:]}")
        yield None
        return
    directory = started.stdout.strip().splitlines()[-1]
    user = env["PGBOUNCER_USER"]
    try:
        yield f"postgres://{user}:{env['PGBOUNCER_PASSWORD']}@127.0.0.1:{port}/{DB_NAME}"
    finally:
        subprocess.run([str(ROOT / ".ci" / "pgbouncer"), "stop", directory], check=False)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far (those gone count 0)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def pgbench() -> str | None:
    """PostgreSQL's pgbench (Debian keeps it beside the server, off PATH)."""
    found = which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def warm(url: str, token: str, n: int = 32) -> None:
    """`n` fetches one after the other, each answered before the next: the workers have
    connected and loaded everything, and no request is left in flight (audit counts)."""
    for _ in range(n):
        request = urllib.request.Request(
            url + "/api/v1/runtime/env", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors + non-2xx/3xx answers
    raw: str = field(repr=False, default="")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(
    url: str,
    token: str,
    *,
    connections: int = 16,
    threads: int = 2,
    duration: int = 10,
    timeout: int = 10,
    etag: str = "",
) -> WrkResult:
    """wrk with --latency against GET /api/v1/runtime/env, the token in the Authorization header
    (bench/wrk/runtime.lua); with `etag`, in If-None-Match too."""
    out = subprocess.run(
        [
            which("wrk") or "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            f"--timeout={timeout}s",
            "--latency",
            "-s",
            str(BENCH / "wrk" / "runtime.lua"),
            url + "/api/v1/runtime/env",
        ],
        env=os.environ | {"MIOSA_TOKEN": token, "MIOSA_ETAG": etag},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests, elapsed = re.search(r"(\d+) requests in ([\d.]+\w+),", out).groups()
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(
        requests=int(requests),
        seconds=_ms(elapsed) / 1e3,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        p99_ms=_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        errors=errors,
        raw=out,
    )


@dataclass
class StormResult:
    n: int
    ok: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int | str, int]
    lost: int = 0  # answered fetches without their audit event (counted by the caller)


def storm(
    port: int, token: str | list[str], n: int = 1000, *, path: str = "/api/v1/runtime/env"
) -> StormResult:
    """`n` runtime fetches started at the same moment, one connection each (instances booting
    together), each with its own X-Miosa-Instance. Latency from connect to the last byte. With
    a list of tokens, fetch i uses token i mod their number (fleets of several deployments)."""
    return asyncio.run(_storm(port, [token] if isinstance(token, str) else token, n, path))


async def _storm(port: int, tokens: list[str], n: int, path: str) -> StormResult:
    start_line = asyncio.Event()
    run = secrets.token_hex(3)

    async def one(i: int) -> tuple[float, int | str]:
        await start_line.wait()
        began = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
                    f"X-Miosa-Instance: storm-{run}-{i}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=60)
            writer.close()
            status: int | str = int(answer.split(b" ", 2)[1]) if answer else "empty"
        except (OSError, TimeoutError, ValueError, IndexError) as exc:
            status = type(exc).__name__
        return time.perf_counter() - began, status

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(0.05)
    began = time.perf_counter()
    start_line.set()
    results = await asyncio.gather(*tasks)
    seconds = time.perf_counter() - began
    latencies = sorted(r[0] * 1e3 for r in results)
    statuses: dict[int | str, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    ok = statuses.get(200, 0)
    return StormResult(
        n=n,
        ok=ok,
        errors=n - ok,
        seconds=seconds,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[max(0, round(0.99 * n) - 1)],
        max_ms=latencies[-1],
        statuses=statuses,
    )
