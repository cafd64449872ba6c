"""Two app servers (gunicorn processes on loopback ports, one database) share each token's
count through Redis (SPEC §12): requests spread across both are refused with 429 once their
sum passes the limit, not each server's share of it."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.api.test_ratelimit import REDIS_URL, redis_or_skip

ROOT = Path(__file__).resolve().parent.parent.parent
LIMIT = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environ(tmp_path: Path) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    }
    key = base64.b64encode(b"r" * 32).decode()
    return environ | {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "false",
        "SECRET_KEY": "rate-limit-servers-" + "x" * 40,
        "ENCRYPTION_KEYS": f"r1:{key}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": REDIS_URL,
        "API_RATE_LIMIT_PER_MINUTE": str(LIMIT),
    }


def _manage(environ: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            body = json.loads(exc.read())
            assert body["error"]["code"] == "rate_limited"
            assert 1 <= int(exc.headers["Retry-After"]) <= 60
        return exc.code


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode()
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)  # a server process starting: nothing to wait on but the port
    pytest.fail(f"{url} did not come up")


def _clean(client: redis.Redis) -> None:
    for key in client.scan_iter("miosa:*:ratelimit:*"):
        client.delete(key)


@pytest.fixture
def two_servers(tmp_path):
    redis_or_skip()
    client = redis.Redis.from_url(REDIS_URL)
    _clean(client)
    environ = _environ(tmp_path)
    _manage(environ, "migrate", "--noinput", "-v", "0")
    servers, urls = [], []
    try:
        for _ in range(2):
            port = _free_port()
            servers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "project.wsgi",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "1",
                    ],
                    cwd=ROOT,
                    env=environ,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            urls.append(f"http://127.0.0.1:{port}/api/v1")
        for url, server in zip(urls, servers, strict=True):
            _wait_until_up(f"{url}/openapi.json", server)
        yield environ, urls
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        _clean(client)


def test_two_app_servers_share_a_tokens_count_through_redis(two_servers):
    environ, (first, second) = two_servers
    _manage(environ, "shell", "-c", _CREATE_USER)
    for attempt in range(2):
        token = _manage(environ, "create_api_token", "limits", "--name", f"try {attempt}")
        minute = int(time.time() // 60)
        # Alternate between the servers: each sees only half of the requests.
        statuses = [
            _status(f"{(first, second)[n % 2]}/deployments", token) for n in range(LIMIT + 3)
        ]
        if int(time.time() // 60) == minute:  # else a new minute began midway: try again
            break
    assert statuses == [200] * LIMIT + [429] * 3
    # Both servers refused: the count is one, shared.
    assert _status(f"{first}/deployments", token) == 429
    assert _status(f"{second}/deployments", token) == 429


_CREATE_USER = (
    "from django.contrib.auth import get_user_model; "
    "get_user_model().objects.create_user('limits', password=None)"
)
