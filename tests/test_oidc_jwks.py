"""The JWKS of a trust policy's URL (SPEC §16): fetched once and cached, refetched on an unknown
kid at most once a minute (the first fetch does not count), no redirect followed, a bounded
size, https:// only except loopback with OIDC_ALLOW_INSECURE_JWKS=true; RSA and EC public keys
only."""

from __future__ import annotations

import json
import time

import pytest
from django.core.exceptions import ValidationError

from environments import oidc_jwks


def test_the_first_fetch_is_cached(issuer):
    assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="rsa-1").kid == "rsa-1"
    assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="ec-1").kid == "ec-1"
    assert len(issuer.hits) == 1


def test_an_unknown_kid_refetches_at_most_once_a_minute(issuer, monkeypatch):
    issuer.serve(issuer.jwks(issuer.rsa))
    assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="rsa-1") is not None
    # The issuer rotates in its EC key: the first unknown kid refetches at once (the first
    # fetch did not count toward the minute).
    issuer.serve(issuer.jwks(issuer.rsa, issuer.ec))
    assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="ec-1").kid == "ec-1"
    assert len(issuer.hits) == 2
    # Unknown kids within the minute of that refetch fetch nothing more.
    for _ in range(3):
        assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="nope") is None
    assert len(issuer.hits) == 2
    # A minute later (the cache's clock), one more, and then none again.
    later = time.time() + 61
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: later)
    assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="nope") is None
    assert oidc_jwks.key_for(pinned=None, url=issuer.url, kid="nope") is None
    assert len(issuer.hits) == 3


def test_pinned_keys_come_first_and_the_url_fills_in(issuer):
    pinned = issuer.jwks(issuer.rsa)
    assert oidc_jwks.key_for(pinned=pinned, url=issuer.url, kid="rsa-1").kid == "rsa-1"
    assert issuer.hits == []
    assert oidc_jwks.key_for(pinned=pinned, url=issuer.url, kid="ec-1").kid == "ec-1"
    assert len(issuer.hits) == 1
    assert oidc_jwks.key_for(pinned=pinned, url="", kid="ec-1") is None


def test_a_redirect_is_not_followed(issuer):
    issuer.answer = (302, {"Location": issuer.url + "?elsewhere"}, b"")
    with pytest.raises(oidc_jwks.JwksError, match="redirect"):
        oidc_jwks.fetch(issuer.url)
    assert len(issuer.hits) == 1


def test_a_document_over_the_limit_is_refused(issuer):
    big = json.dumps({"keys": issuer.jwks()["keys"], "pad": "x" * oidc_jwks.MAX_JWKS_BYTES})
    issuer.answer = (200, {"Content-Type": "application/json"}, big.encode())
    with pytest.raises(oidc_jwks.JwksError, match="larger than 64 KiB"):
        oidc_jwks.fetch(issuer.url)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"keys": []}', b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'],
)
def test_what_is_not_a_jwks_of_rsa_or_ec_keys_is_refused(issuer, body):
    issuer.answer = (200, {}, body)
    with pytest.raises(oidc_jwks.JwksError, match="JWKS document"):
        oidc_jwks.fetch(issuer.url)


def test_an_error_status_is_refused(issuer):
    issuer.answer = (500, {}, b"oops")
    with pytest.raises(oidc_jwks.JwksError, match="HTTP 500"):
        oidc_jwks.fetch(issuer.url)


def test_private_members_are_dropped_or_refused(issuer):
    with pytest.raises(ValidationError, match="private"):
        oidc_jwks.public_document({"keys": [issuer.ec.as_dict(private=True)]})
    stored = oidc_jwks.public_document(issuer.jwks())
    assert all("d" not in key for key in stored["keys"])


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("https://token.actions.githubusercontent.com/.well-known/jwks", False, True),
        ("http://127.0.0.1:8080/jwks", True, True),
        ("http://[::1]:8080/jwks", True, True),
        ("http://localhost:8080/jwks", True, True),
        ("http://127.0.0.1:8080/jwks", False, False),
        ("http://keys.example.com/jwks", True, False),
        ("http://10.0.0.1/jwks", True, False),
        ("https://user:pw@keys.example.com/jwks", False, False),
        ("file:///etc/passwd", True, False),
        ("https:///jwks", False, False),
    ],
)
def test_only_https_or_allowed_loopback(settings, url, allowed, ok):
    settings.OIDC_ALLOW_INSECURE_JWKS = allowed
    if ok:
        assert oidc_jwks.validate_jwks_url(url) == url
    else:
        with pytest.raises(ValidationError):
            oidc_jwks.validate_jwks_url(url)


def test_a_url_that_is_not_allowed_is_never_fetched(issuer, settings):
    settings.OIDC_ALLOW_INSECURE_JWKS = False
    with pytest.raises(oidc_jwks.JwksError, match="https"):
        oidc_jwks.fetch(issuer.url)
    assert issuer.hits == []
