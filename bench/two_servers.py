"""Two app servers behind HAProxy (docs/haproxy.cfg), one PostgreSQL.

Measures the runtime fetch through HAProxy with one server and with two (wrk -t2 -c16, each
server as gunicorn.conf.py configures it), runs the boot storm through HAProxy, and checks
that a login session works on both servers, that concurrent deploys and promotions sent through
both keep the release history whole, and, when this checkout has API_RATE_LIMIT_PER_MINUTE
(with REDIS_URL), that the limit is shared by the two servers.

Run by bench/load.py (`make bench`); alone: `python bench/two_servers.py [--quick]`.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

CONFIG = harness.ROOT / "docs" / "haproxy.cfg"


@contextmanager
def haproxy(app_ports: tuple[int, int], logdir: Path, maxconn: int):
    """HAProxy on a free loopback port in front of the two ports (twice the same port: one
    server behind the same configuration)."""
    port = harness.free_port()
    env = os.environ | {
        "HAPROXY_PORT": str(port),
        "APP1_PORT": str(app_ports[0]),
        "APP2_PORT": str(app_ports[1]),
        "APP_MAXCONN": str(maxconn),
    }
    haproxy_bin = harness.which("haproxy") or "haproxy"
    subprocess.run([haproxy_bin, "-c", "-q", "-f", str(CONFIG)], env=env, check=True)
    log = logdir / f"haproxy-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [haproxy_bin, "-db", "-f", str(CONFIG)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = harness.Server("haproxy", port, process, log)
    try:
        harness.wait_until_up(server, "/api/v1/runtime/env")
        yield server
    finally:
        server.stop()


def _workers(env: dict[str, str]) -> int:
    """How many workers gunicorn.conf.py gives each server (its maxconn behind HAProxy)."""
    namespace: dict = {}
    exec(
        compile(harness.ROOT.joinpath("gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
        namespace,
    )
    return int(namespace["workers"]) * int(namespace.get("threads", 1))


def run(env: dict[str, str], seeded: dict, logdir: Path, *, duration: int = 10) -> str:
    """Every measure and check; returns the throughput figure for the summary table."""
    env = env | {"TRUSTED_PROXY_HOPS": "1"}
    print("\n-- two app servers behind HAProxy (docs/haproxy.cfg), one PostgreSQL")
    token = seeded["token"]
    maxconn = _workers(env)
    with ExitStack() as stack:
        app1 = stack.enter_context(harness.gunicorn("app1", "project.wsgi", env, logdir))
        app2 = stack.enter_context(harness.gunicorn("app2", "project.wsgi", env, logdir))
        rates = {}
        for label, ports in (
            ("one server", (app1.port, app1.port)),
            ("two servers", (app1.port, app2.port)),
        ):
            with haproxy(ports, logdir, maxconn) as proxy:
                harness.wrk(proxy.url, token, duration=2)
                rates[label] = harness.wrk(proxy.url, token, duration=duration)
            print(
                f"{label:<12} through HAProxy: {rates[label].rps:7.1f} req/s  p99 "
                f"{rates[label].p99_ms:6.1f} ms  errors {rates[label].errors}"
            )
        with haproxy((app1.port, app2.port), logdir, maxconn) as proxy:
            from bench.load import app_audit_count

            harness.warm(proxy.url, token)
            before = app_audit_count()
            burst = harness.storm(proxy.port, token, 1000)
            time.sleep(0.5)
            events = app_audit_count() - before
            print(
                f"storm through HAProxy, 1000 at once: p50 {burst.p50_ms:.0f} ms  p99 "
                f"{burst.p99_ms:.0f} ms  errors {burst.errors} {burst.statuses}  audit events "
                f"{events} for {burst.ok} answered (lost: {burst.ok - events})"
            )
            check_session(proxy.url, seeded)
            check_releases(proxy.url, seeded)
    check_rate_limits(env, seeded, logdir, maxconn)
    one, two = rates["one server"].rps, rates["two servers"].rps
    return f"{two:.0f} ÷ {one:.0f} req/s = {two / one:.2f} (2 cores for both)"


class Browser:
    """A cookie-keeping HTTP client, recording which server answered each request."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        self.served_by: list[str] = []

    def request(self, method: str, path: str, data: bytes | None = None, headers=None):
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers or {}
        )
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            response = exc
        self.served_by.append(response.headers.get("X-Served-By", "?"))
        return response.status, response.headers, response.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def check_session(base: str, seeded: dict) -> None:
    """Log in through HAProxy once; the session then works on whichever server answers."""
    from urllib.parse import urlencode

    browser = Browser(base)
    _, _, html = browser.request("GET", "/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = urlencode(
        {
            "username": seeded["username"],
            "password": seeded["password"],
            "csrfmiddlewaretoken": csrf,
        }
    ).encode()
    status, _, _ = browser.request(
        "POST",
        "/login/",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Referer": base + "/login/"},
    )
    assert status == 302, f"login answered {status}"
    pages = [browser.request("GET", f"/deployments/{seeded['deployment_id']}/") for _ in range(8)]
    served = browser.served_by[-8:]
    ok = all(status == 200 for status, _, _ in pages) and len(set(served)) == 2
    print(
        f"login session across servers: {'ok' if ok else 'FAILED'} (8 pages after one login, "
        f"answered by {', '.join(f'{s} {served.count(s)}' for s in sorted(set(served)))}; "
        f"statuses {sorted({s for s, _, _ in pages})})"
    )


def _api(base: str, pat: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"{base}/api/v1/deployments{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {pat}", "Content-Type": "application/json"},
    )
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as exc:
        response = exc
    return response.status, response.headers.get("X-Served-By", "?"), json.loads(response.read())


def _whole(releases: list[dict]) -> bool:
    numbers = sorted(r["number"] for r in releases)
    return numbers == list(range(1, len(numbers) + 1))


def check_releases(base: str, seeded: dict) -> None:
    """Ten deploys to staging at once, then ten promotions of it to production at once, each
    expecting production's version as it was: every deploy is a release, exactly one
    promotion wins (the others are 409 stale), and both histories number 1, 2, 3… with no gap
    or duplicate."""
    pat, d = seeded["pat"], f"/{seeded['deployment_id']}"
    versions = [
        _api(base, pat, "POST", f"{d}/versions", {"label": f"two-servers-{i}"})[2]["number"]
        for i in range(10)
    ]
    with ThreadPoolExecutor(10) as pool:
        deploys = list(
            pool.map(
                lambda v: _api(
                    base, pat, "POST", f"{d}/deploy", {"environment": "staging", "version": v}
                ),
                versions,
            )
        )
    _, _, before = _api(base, pat, "GET", f"{d}/releases?environment=production")
    live = before["releases"][0]["version"] if before["releases"] else None
    with ThreadPoolExecutor(10) as pool:
        promotions = list(
            pool.map(
                lambda _: _api(
                    base, pat, "POST", f"{d}/promote", {"from": "staging", "expected_version": live}
                ),
                range(10),
            )
        )
    staging = _api(base, pat, "GET", f"{d}/releases?environment=staging&limit=100")[2]["releases"]
    production = _api(base, pat, "GET", f"{d}/releases?environment=production&limit=100")[2][
        "releases"
    ]
    deploy_statuses = sorted(s for s, _, _ in deploys)
    promote_statuses = sorted(s for s, _, _ in promotions)
    servers = sorted({by for _, by, _ in deploys + promotions})
    ok = (
        deploy_statuses == [201] * 10
        and promote_statuses == [201] + [409] * 9
        and all(b["error"]["code"] == "stale" for s, _, b in promotions if s == 409)
        and _whole(staging)
        and len(staging) >= 10
        and _whole(production)
    )
    print(
        f"concurrent deploys and promotions through both servers ({', '.join(servers)}): "
        f"{'ok' if ok else 'FAILED'} (deploys {deploy_statuses}, promotions {promote_statuses}; "
        f"staging releases 1..{len(staging)}, production releases 1..{len(production)}, "
        "no gap, no duplicate)"
    )


def check_rate_limits(env: dict, seeded: dict, logdir: Path, maxconn: int) -> None:
    """With API_RATE_LIMIT_PER_MINUTE in this checkout's settings, a limit of 20 holds across
    both servers (Redis): 40 API calls alternating between them get 20 answers and 20 429s."""
    from django.conf import settings

    if not hasattr(settings, "API_RATE_LIMIT_PER_MINUTE"):
        print(
            "shared rate limits: skipped, this checkout has no API_RATE_LIMIT_PER_MINUTE setting "
            "(the rate limits are being built separately)"
        )
        return
    limited = env | {"API_RATE_LIMIT_PER_MINUTE": "20", "REDIS_URL": harness.REDIS_URL}
    harness.flush_redis()
    with ExitStack() as stack:
        app1 = stack.enter_context(harness.gunicorn("rl1", "project.wsgi", limited, logdir))
        app2 = stack.enter_context(harness.gunicorn("rl2", "project.wsgi", limited, logdir))
        proxy = stack.enter_context(haproxy((app1.port, app2.port), logdir, maxconn))
        answers = [_api(proxy.url, seeded["pat"], "GET", "") for _ in range(40)]
    statuses = [s for s, _, _ in answers]
    servers = sorted({by for _, by, _ in answers})
    accepted = statuses.count(200)
    print(
        f"shared rate limits (20 a minute, {', '.join(servers)}): "
        f"{'ok' if accepted <= 20 and statuses.count(429) >= 20 else 'FAILED'} "
        f"({accepted} answered, {statuses.count(429)} refused with 429)"
    )


if __name__ == "__main__":
    from bench import load

    sys.argv.append("--two-servers-only")
    load.main()
