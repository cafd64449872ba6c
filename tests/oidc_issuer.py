"""A local OIDC issuer for the tests (SPEC §16): an RSA and an EC key generated per test, a
JWKS served on a 127.0.0.1 ephemeral port by a small http.server thread (stopped by the
fixture), and ID tokens signed by the test, as GitHub Actions would sign them.

Use with `pytest_plugins = ["tests.oidc_issuer"]`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from environments import services
from environments.models import OidcPolicy

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "miosa-tests"
SUBJECT = "repo:acme/shop:environment:production"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


@dataclass
class Issuer:
    """The keys, the JWKS server's address and what it has served."""

    rsa: RSAKey
    ec: ECKey
    url: str = ""
    hits: list[str] = field(default_factory=list)
    # What the server answers: (status, headers, body); tests swap keys in by replacing it.
    answer: tuple[int, dict[str, str], bytes] = (200, {}, b"")

    def jwks(self, *keys) -> dict[str, Any]:
        keys = keys or (self.rsa, self.ec)
        return KeySet(list(keys)).as_dict(private=False)

    def serve(self, document: dict[str, Any] | None = None) -> None:
        body = json.dumps(document if document is not None else self.jwks()).encode()
        self.answer = (200, {"Content-Type": "application/json"}, body)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": SUBJECT,
            "repository": "acme/shop",
            "repository_id": "123456789",
            "repository_owner_id": "42",
            "environment": "production",
            "ref": "refs/heads/main",
            "jti": str(uuid.uuid4()),
            "iat": now,
            "nbf": now - 5,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, key: str = "rsa", kid: str | None = None, **claims: Any) -> str:
        """An ID token signed with the RSA key (RS256) or the EC key (ES256)."""
        signer = self.rsa if key == "rsa" else self.ec
        alg = "RS256" if key == "rsa" else "ES256"
        header = {"alg": alg, "kid": kid or signer.kid}
        return jwt.encode(header, self.claims(**claims), signer, algorithms=[alg])

    def unsigned(self, **claims: Any) -> str:
        """alg none: no signature at all."""
        return f"{b64json({'alg': 'none', 'kid': self.rsa.kid})}.{b64json(self.claims(**claims))}."

    def hs256_with_public_key(self, **claims: Any) -> str:
        """The classic confusion: HMAC-SHA256 keyed with the issuer's public RSA key (PEM)."""
        signing_input = (
            f"{b64json({'alg': 'HS256', 'kid': self.rsa.kid})}.{b64json(self.claims(**claims))}"
        )
        secret = self.rsa.as_pem(private=False)
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"


@pytest.fixture
def issuer(settings) -> Iterator[Issuer]:
    """An issuer whose JWKS is served on 127.0.0.1 (OIDC_ALLOW_INSECURE_JWKS=true)."""
    settings.OIDC_ALLOW_INSECURE_JWKS = True
    found = Issuer(
        rsa=RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
        ec=ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
    )
    found.serve()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found.hits.append(self.path)
            status, headers, body = found.answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def trust(issuer, actor):
    """trust(deployment, **overrides) -> a policy for the issuer's tokens (its JWKS URL)."""

    def make(deployment, **overrides: Any) -> OidcPolicy:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "subject": SUBJECT,
            "environments": ["production"],
            "role": "admin",
            "ttl_seconds": 900,
            "jwks_url": issuer.url,
        }
        options.update(overrides)
        return services.create_oidc_policy(deployment=deployment, actor=actor, **options)

    return make
