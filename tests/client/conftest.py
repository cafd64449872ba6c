"""The `miosa` client, end to end: miosa.py runs as a subprocess of an isolated interpreter
(`-I -S`: no site-packages, so a third-party import would fail) against pytest-django's live
server, with MIOSA_URL and MIOSA_TOKEN in its environment (never on its command line)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from environments import services
from environments.actors import Actor

MIOSA = Path(__file__).resolve().parents[2] / "miosa.py"


def client_command(*args: str, python: str = sys.executable) -> list[str]:
    return [python, "-I", "-S", str(MIOSA), *args]


# Where the clients started by the tests keep their fallbacks (SPEC §18): never ~/.cache.
CACHE: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="session")
def client_cache_directory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("miosa-cache")
    CACHE["dir"] = str(path)
    return path


def client_environment(url: str | None, token: str | None, **extra: str) -> dict[str, str]:
    """A small environment of its own: nothing of the test process's leaks in."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if "dir" in CACHE:
        environ["MIOSA_CACHE_DIR"] = CACHE["dir"]
    if url is not None:
        environ["MIOSA_URL"] = url
    if token is not None:
        environ["MIOSA_TOKEN"] = token
    environ.update(extra)
    return environ


def wait_for(condition, *, timeout: float = 20.0, what: str = "the condition"):
    """Poll `condition` every 50 ms until it is truthy (and return it), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(transactional_db, live_server) -> str:
    return live_server.url


class Balancer:
    """A balancer on 127.0.0.1 in front of the live server, to stage an outage: it passes
    requests on; `fail(n)` answers the next n with an HTML 503 (as a balancer does while the
    app is down); `down()` closes its port (connections refused) and `up()` opens the same
    port again. `seen` holds the status of every answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = 0
        self.failing = 0
        self.seen: list[int] = []
        self.httpd: http.server.ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Forward)
        httpd.daemon_threads = True
        httpd.balancer = self  # type: ignore[attr-defined]
        self.port = httpd.server_port
        threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.httpd = httpd

    def down(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def fail(self, count: int) -> None:
        self.failing = count


class _Forward(http.server.BaseHTTPRequestHandler):
    FORWARDED = ("Authorization", "Accept", "User-Agent", "If-None-Match", "X-Miosa-Instance")

    def do_GET(self) -> None:
        balancer: Balancer = self.server.balancer  # type: ignore[attr-defined]
        if balancer.failing > 0:
            balancer.failing -= 1
            status, headers = 503, {"Content-Type": "text/html"}
            body = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        else:
            request = urllib.request.Request(balancer.upstream + self.path)
            for name in self.FORWARDED:
                if self.headers.get(name) is not None:
                    request.add_header(name, self.headers[name])
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, headers, body = answer.status, answer.headers, answer.read()
            except urllib.error.HTTPError as error:
                status, headers, body = error.code, error.headers, error.read()
        balancer.seen.append(status)
        self.send_response(status)
        for name in ("Content-Type", "ETag", "Retry-After"):
            if headers.get(name):
                self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def balancer(server):
    """A Balancer in front of the live server, stopped by the test."""
    front = Balancer(server)
    yield front
    front.down()


@pytest.fixture
def miosa(server, tmp_path):
    """miosa(*args, token=..., url=..., env={...}) -> the finished process (text output)."""

    def run(
        *args: str,
        token: str | None = None,
        url: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        stdin: str | None = None,
        python: str = sys.executable,
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            client_command(*args, python=python),
            env=client_environment(server if url is None else url, token, **(env or {})),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )

    return run


@pytest.fixture
def shipped(deployment, staging, production, actor):
    """v1 live in staging (immediate) and production (staged): release 1 of each."""
    version = services.create_version(deployment=deployment, label="sha1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    return version


@pytest.fixture
def runtime_token(actor):
    def make(environment, name: str = "") -> str:
        _, raw = services.create_runtime_token(environment=environment, name=name, actor=actor)
        return raw

    return make


@pytest.fixture
def personal_token(owner):
    _, raw = services.create_api_token(
        user=owner, name="ci", actor=Actor(user=owner, label=owner.get_username())
    )
    return raw


@pytest.fixture
def token_for_user():
    def make(user) -> str:
        _, raw = services.create_api_token(
            user=user, name="ci", actor=Actor(user=user, label=user.get_username())
        )
        return raw

    return make
