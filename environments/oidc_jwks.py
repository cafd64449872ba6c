"""The public keys an ID token is checked against (SPEC §16): a pinned JWKS document, or one
fetched from a trust policy's `jwks_url`, cached.

A fetched document is kept in the cache (shared by app servers when REDIS_URL is set). A token
whose `kid` the cached document lacks makes one refetch, at most once a minute per URL; the
first fetch of a URL does not count. Fetches follow no redirect, read at most MAX_JWKS_BYTES and
go to https:// only, except http:// on a loopback address with OIDC_ALLOW_INSECURE_JWKS=true.

Only RSA and EC public keys are kept; signatures are checked by joserfc, never here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 20
FETCH_TIMEOUT_SECONDS = 5
REFETCH_INTERVAL_SECONDS = 60
CACHE_SECONDS = 3600
KEY_TYPES = {"RSA": RSAKey, "EC": ECKey}


class JwksError(Exception):
    """The keys cannot be had; the message names why, never a key or a token."""


# Validation of what a policy holds ----------------------------------------------------------


def validate_jwks_url(url: str) -> str:
    """https://, or http:// to a loopback address when OIDC_ALLOW_INSECURE_JWKS is true."""
    if not isinstance(url, str) or len(url) > 500:
        raise ValidationError("jwks_url is a URL of at most 500 characters.")
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        raise ValidationError("jwks_url is an https:// URL with a host and no user:password@.")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and settings.OIDC_ALLOW_INSECURE_JWKS and _loopback(parts.hostname):
        return url
    raise ValidationError(
        "jwks_url must be https:// (http:// only to a loopback address, with "
        "OIDC_ALLOW_INSECURE_JWKS=true)."
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_set(document: Any) -> KeySet:
    """The RSA and EC public keys of a JWKS document; anything else in it is refused, so a
    pasted private key or a shared secret is never kept."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValidationError('A JWKS document is an object {"keys": [...]}.')
    keys = document["keys"]
    if not keys or len(keys) > MAX_KEYS:
        raise ValidationError(f"A JWKS document holds 1 to {MAX_KEYS} keys.")
    found = []
    for position, key in enumerate(keys):
        where = f"keys[{position}]"
        if not isinstance(key, dict) or key.get("kty") not in KEY_TYPES:
            raise ValidationError(f"{where} is not an RSA or EC public key.")
        if "d" in key or "p" in key:
            raise ValidationError(f"{where} is a private key; give only the public part.")
        try:
            found.append(KEY_TYPES[key["kty"]].import_key(key))
        except (JoseError, ValueError, TypeError):
            raise ValidationError(f"{where} is not a valid {key['kty']} public key.") from None
    return KeySet(found)


def public_document(document: Any) -> dict[str, Any]:
    """The JWKS document as stored: each key's public members only."""
    return {"keys": [key.as_dict(private=False) for key in key_set(document).keys]}


# Choosing a key ----------------------------------------------------------------------------


def find_key(keys: KeySet, kid: str | None):
    """The key with that kid; without a kid, the only key of the set (else None)."""
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    for key in keys.keys:
        if key.kid == kid:
            return key
    return None


def key_for(*, pinned: Any, url: str, kid: str | None):
    """The key to check a token signed with `kid`: from the pinned document, else from the
    URL's (cached; refetched once if the kid is unknown and the last refetch is a minute old).
    None when no key has that kid. Raises JwksError when the URL cannot be read."""
    if pinned:
        key = find_key(key_set(pinned), kid)
        if key is not None or not url:
            return key
    if not url:
        return None
    cached = cache.get(_cache_key(url))
    if cached is None:
        cached = _fetch_and_keep(url)  # the first fetch: not a refetch
    key = find_key(key_set(cached), kid)
    if key is None and cache.add(_cache_key(url, "refetch"), 1, REFETCH_INTERVAL_SECONDS):
        key = find_key(key_set(_fetch_and_keep(url)), kid)
    return key


def _cache_key(url: str, part: str = "document") -> str:
    return f"oidc-jwks:{part}:{hashlib.sha256(url.encode()).hexdigest()}"


def _fetch_and_keep(url: str) -> dict[str, Any]:
    document = fetch(url)
    cache.set(_cache_key(url), document, CACHE_SECONDS)
    return document


# Fetching ----------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise JwksError(f"the JWKS URL redirects ({code}); redirects are not followed")


def fetch(url: str) -> dict[str, Any]:
    """The JWKS document at `url` (public keys only), or JwksError."""
    try:
        validate_jwks_url(url)
    except ValidationError as error:
        raise JwksError(error.messages[0]) from None
    opener = urllib.request.build_opener(_NoRedirects())
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as answer:
            body = answer.read(MAX_JWKS_BYTES + 1)
    except JwksError:
        raise
    except urllib.error.HTTPError as error:
        error.close()
        raise JwksError(f"the JWKS URL answered HTTP {error.code}") from None
    except (OSError, ValueError):
        raise JwksError("the JWKS URL cannot be reached") from None
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"the JWKS document is larger than {MAX_JWKS_BYTES // 1024} KiB")
    try:
        return public_document(json.loads(body))
    except (ValueError, ValidationError):
        raise JwksError("the JWKS URL does not answer a JWKS document of RSA or EC keys") from None
