"""`miosa` in CI without a long-lived token (SPEC §16): inside GitHub Actions with
MIOSA_OIDC_AUDIENCE set, it requests an ID token from ACTIONS_ID_TOKEN_REQUEST_URL (here a fake
on 127.0.0.1, signing with the test's issuer) and exchanges it before each CI command; with
MIOSA_OIDC_TOKEN, it exchanges that one once and reuses the minted token."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from environments.models import AuditEvent, Environment, OidcToken
from tests.oidc_issuer import AUDIENCE, SUBJECT

pytest_plugins = ["tests.oidc_issuer"]

REQUEST_TOKEN = "gha-request-token-for-tests"


@pytest.fixture
def github(issuer) -> Iterator[dict]:
    """A fake of GitHub Actions' ID token endpoint: GET ?audience= with the request token as a
    bearer answers {"value": <ID token for that audience>}."""
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            requests.append({"query": query, "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != f"Bearer {REQUEST_TOKEN}":
                self.send_response(401)
                self.end_headers()
                return
            token = issuer.token(aud=query["audience"][0], environment=None)
            body = json.dumps({"count": 1, "value": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/_apis/token?api-version=2.0"
    try:
        yield {"url": url, "requests": requests}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def trusted(deployment, trust):
    return trust(deployment, environments=["staging", "production"], role="admin")


def actions_env(github) -> dict[str, str]:
    return {
        "MIOSA_OIDC_AUDIENCE": AUDIENCE,
        "ACTIONS_ID_TOKEN_REQUEST_URL": github["url"],
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
    }


def test_inside_github_actions_each_ci_command_exchanges_first(
    miosa, github, trusted, shipped, deployment, staging, production, tmp_path
):
    env = actions_env(github)
    created = miosa("versions", "create", "--deployment", "shop", "--label", "sha2", env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout == "2\n"
    assert "exchanged the CI provider's ID token for a admin token" in created.stderr
    assert github["requests"][0]["query"]["audience"] == [AUDIENCE]
    assert github["requests"][0]["query"]["api-version"] == ["2.0"]

    steps = [
        ("deploy", "--deployment", "shop", "--environment", "staging", "--version", "2"),
        ("promote", "--deployment", "shop", "--from", "staging"),
        ("rollback", "--deployment", "shop", "--environment", "production", "--release", "1"),
        ("apply", "--deployment", "shop", "--environment", "production"),
    ]
    for step in steps:
        result = miosa(*step, env=env)
        # apply: the rollback left nothing pending (409), which is the server's answer.
        expected = 1 if step[0] == "apply" else 0
        assert result.returncode == expected, (step, result.stderr)
    dotenv = tmp_path / "staging.env"
    dotenv.write_text("FEATURE=on\n")
    imported = miosa(
        "env", "import", str(dotenv), "--deployment", "shop", "--environment", "staging", env=env
    )
    assert imported.returncode == 0, imported.stderr

    assert len(github["requests"]) == 6 == OidcToken.objects.count()
    production = Environment.objects.get(pk=production.pk)
    assert production.live_release.kind == "rollback"
    done = set(
        AuditEvent.objects.filter(actor_label=f"oidc {SUBJECT}").values_list("action", flat=True)
    )
    assert {"oidc.exchange", "version.create", "version.deploy", "version.promote"} <= done
    assert {"variable.import"} <= done and len(done) >= 6


def test_a_given_id_token_is_exchanged_once_for_the_commands_of_a_job(
    miosa, issuer, trusted, shipped, client_cache_directory
):
    env = {"MIOSA_OIDC_TOKEN": issuer.token(environment=None)}
    for label in ("a", "b"):
        result = miosa("versions", "create", "--deployment", "shop", "--label", label, env=env)
        assert result.returncode == 0, result.stderr
    assert OidcToken.objects.count() == 1
    kept = list(Path(client_cache_directory).glob("oidc-*.json"))
    assert kept and all(path.stat().st_mode & 0o077 == 0 for path in kept)
    assert env["MIOSA_OIDC_TOKEN"] not in "".join(path.read_text() for path in kept)


def test_a_refused_exchange_says_why_and_does_nothing(miosa, issuer, trusted, shipped, deployment):
    env = {"MIOSA_OIDC_TOKEN": issuer.token(sub="repo:evil/shop:ref:refs/heads/main")}
    result = miosa("versions", "create", "--deployment", "shop", env=env)
    assert result.returncode == 1
    assert "subject (sub) matches no trust policy" in result.stderr
    assert "invalid_oidc_token" in result.stderr
    assert env["MIOSA_OIDC_TOKEN"] not in result.stderr + result.stdout
    assert deployment.versions.count() == 1


def test_the_audience_outside_github_actions_is_a_usage_error(miosa, trusted):
    result = miosa("deploy", "--deployment", "shop", "--environment", "staging", "--version", "1",
                   env={"MIOSA_OIDC_AUDIENCE": AUDIENCE})  # fmt: skip
    assert result.returncode == 2
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" in result.stderr


def test_a_wrong_request_token_is_refused_by_github(miosa, github, trusted):
    env = actions_env(github) | {"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}
    result = miosa("versions", "create", "--deployment", "shop", env=env)
    assert result.returncode == 1
    assert "did not give an ID token (HTTP 401)" in result.stderr


def test_without_oidc_settings_the_personal_token_is_used(miosa, shipped, personal_token):
    result = miosa("versions", "create", "--deployment", "shop", token=personal_token)
    assert result.returncode == 0 and "exchanged" not in result.stderr
