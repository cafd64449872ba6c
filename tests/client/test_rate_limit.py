"""miosa and the API's rate limits (SPEC §12): a GET answered 429 is retried after the
server's Retry-After (bounded); a write is not retried and the server's message is printed."""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time

import pytest

from environments.api import ratelimit

from .test_usage import run_client


class Limited(http.server.BaseHTTPRequestHandler):
    """429 with `retry_after` for the first `refusals` requests, then the runtime answer."""

    refusals = 2
    retry_after = "1"
    seen: list = []

    def _answer(self):
        type(self).seen.append((self.command, time.monotonic()))
        if len(type(self).seen) <= type(self).refusals:
            body = json.dumps(
                {"error": {"code": "rate_limited", "message": "Slow down, please."}}
            ).encode()
            self.send_response(429)
            self.send_header("Retry-After", type(self).retry_after)
        else:
            body = json.dumps(
                {
                    "deployment": "shop",
                    "environment": "production",
                    "version": None,
                    "release": None,
                    "config_revision": 1,
                    "env": {"A": "1", "MIOSA_DEPLOYMENT": "shop"},
                }
            ).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def limited():
    Limited.seen = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Limited)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_a_rate_limited_fetch_waits_and_retries(limited, monkeypatch, tmp_path):
    monkeypatch.setattr(Limited, "refusals", 2)
    monkeypatch.setattr(Limited, "retry_after", "1")
    out = tmp_path / "env.json"
    result = run_client("env", "pull", "--format", "json", "-o", str(out), url=limited)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["env"]["A"] == "1"
    assert result.stderr.count("miosa: rate limited by the server; retrying in 1 s") == 2
    times = [t for _, t in Limited.seen]
    assert len(times) == 3 and all(b - a >= 0.95 for a, b in itertools.pairwise(times))


def test_it_gives_up_after_three_retries_with_the_servers_message(limited, monkeypatch):
    monkeypatch.setattr(Limited, "refusals", 10)
    monkeypatch.setattr(Limited, "retry_after", "0")
    result = run_client("env", "pull", url=limited)
    assert result.returncode == 1
    assert len(Limited.seen) == 4
    assert result.stderr.endswith("miosa: Slow down, please. (rate_limited, HTTP 429)\n")


@pytest.mark.parametrize("retry_after", ["3600", "Wed, 21 Oct 2026 07:28:00 GMT", ""])
def test_a_wait_too_long_or_unreadable_is_not_waited_for(limited, monkeypatch, retry_after):
    monkeypatch.setattr(Limited, "retry_after", retry_after)
    started = time.monotonic()
    result = run_client("env", "pull", url=limited)
    assert time.monotonic() - started < 10
    assert result.returncode == 1 and "(rate_limited, HTTP 429)" in result.stderr
    assert len(Limited.seen) == 1


def test_a_write_is_not_retried(limited, monkeypatch):
    monkeypatch.setattr(Limited, "retry_after", "0")
    result = run_client("versions", "create", "--deployment", "1", url=limited, token="mio_pat_x")
    assert result.returncode == 1
    assert "Slow down, please. (rate_limited, HTTP 429)" in result.stderr
    assert [method for method, _ in Limited.seen] == ["POST"]


def test_against_the_server_a_refused_write_prints_its_message(
    miosa, shipped, deployment, personal_token, settings, monkeypatch
):
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_800_000_030.0)  # 30 s into a minute
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    create = ("versions", "create", "--deployment", str(deployment.pk))
    first = miosa(*create, token=personal_token)
    assert first.returncode == 0, first.stderr
    second = miosa(*create, token=personal_token)
    assert second.returncode == 1
    assert second.stderr == (
        "miosa: This token has used its 1 requests for this minute; retry in 30 seconds. "
        "(rate_limited, HTTP 429)\n"
    )
