"""The runtime fetch's framing headers (RFC 9110): a 304 carries no Content-Type, and every
answer with a body says its length, so GET is not chunked and agrees with HEAD, through the test
client and through a real app server (gunicorn on loopback)."""

from __future__ import annotations

import http.client
import subprocess
import sys

import pytest

from tests.api.test_ratelimit_servers import ROOT, _environ, _free_port, _manage, _wait_until_up

URL = "/api/v1/runtime/env"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_304_carries_no_content_type(api, production, runtime_token, method):
    raw = runtime_token(production)
    etag = api.get(URL, token=raw)["ETag"]
    response = api.request(method, URL, token=raw, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert "Content-Type" not in response
    assert response.content == b""
    assert response["ETag"] == etag and response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("fmt", ["json", "dotenv", "shell"])
def test_get_says_its_length_and_head_says_the_same(api, production, runtime_token, actor, fmt):
    from environments import services

    services.set_variable(
        environment=production, key="GREETING", value="héllo", is_secret=False, actor=actor
    )
    raw = runtime_token(production)
    got = api.get(URL, token=raw, params={"format": fmt})
    head = api.request("HEAD", URL, token=raw, params={"format": fmt})
    assert got.status_code == head.status_code == 200
    assert int(got["Content-Length"]) == len(got.content) > 0
    assert head["Content-Length"] == got["Content-Length"]
    assert head["Content-Type"] == got["Content-Type"]


def test_a_refusal_says_its_length_too(api, production):
    response = api.get(URL, token="mio_rt_" + "x" * 43)
    assert response.status_code == 401
    assert int(response["Content-Length"]) == len(response.content) > 0


# Through a real server: gunicorn chunks a body whose length it is not told.

_SEED = (
    "from environments import services; from environments.actors import Actor; "
    "services.create_deployment(name='headers', actor=Actor.system())"
)


@pytest.fixture
def server(tmp_path):
    environ = _environ(tmp_path)
    environ.pop("REDIS_URL")
    _manage(environ, "migrate", "--noinput", "-v", "0")
    _manage(environ, "shell", "-c", _SEED)
    token = _manage(environ, "create_runtime_token", "headers", "production")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "project.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/api/v1/openapi.json", process)
        yield port, token
    finally:
        process.terminate()
        process.wait(timeout=10)


def _exchange(port: int, method: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, URL, headers=headers)
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_through_a_real_server_get_is_not_chunked_and_a_304_has_no_content_type(server):
    port, token = server
    auth = {"Authorization": f"Bearer {token}"}
    got = _exchange(port, "GET", auth)
    head = _exchange(port, "HEAD", auth)
    assert got.status == head.status == 200
    assert got.getheader("Transfer-Encoding") is None
    assert int(got.getheader("Content-Length")) == len(got.body) > 0
    assert head.getheader("Content-Length") == got.getheader("Content-Length")
    refused = _exchange(port, "GET", {"Authorization": "Bearer mio_rt_" + "x" * 43})
    assert refused.status == 401 and refused.getheader("Transfer-Encoding") is None
    assert int(refused.getheader("Content-Length")) == len(refused.body)
    for method in ("GET", "HEAD"):
        unchanged = _exchange(port, method, {**auth, "If-None-Match": got.getheader("ETag")})
        assert unchanged.status == 304
        assert unchanged.getheader("Content-Type") is None
        assert unchanged.getheader("Transfer-Encoding") is None
        assert unchanged.body == b""
