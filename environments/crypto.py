"""Encryption at rest: ChaCha20-Poly1305 under a keyring of named 32-byte keys.

Stored format (version 1)::

    0x01 | len(key_id) | key_id (ASCII) | nonce (12 bytes) | ciphertext + 16-byte tag

The first key of the keyring encrypts; any key decrypts what was stored under its id.
Associated data (the *context*, built here per kind of row) binds a ciphertext to the row it
belongs to, so a ciphertext copied onto another row does not decrypt. No Django imports beyond
settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 1
NONCE_SIZE = 12
KEY_SIZE = 32
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringError(ValueError):
    """The configured keyring is malformed. The message never contains key material."""


class DecryptionError(Exception):
    """A stored value cannot be decrypted with the configured keys.

    Raised for an unknown key id, a wrong key, tampered bytes, a value moved to another
    row, or an unknown format. The message is safe to show: it carries no bytes.
    """

    def __init__(self, reason: str = "cannot be decrypted with the configured keys") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Keyring:
    keys: tuple[tuple[str, bytes], ...]

    def __repr__(self) -> str:  # keys never reach a log line or a traceback
        return f"Keyring(ids={self.ids!r})"

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse `id:base64key,id:base64key`; the first entry encrypts."""
        entries = [part.strip() for part in spec.split(",") if part.strip()]
        if not entries:
            raise KeyringError("no keys given; expected id:base64key[,id:base64key…]")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise KeyringError(f"entry {position} is not of the form id:base64key")
            if not KEY_ID_RE.match(key_id):
                raise KeyringError(
                    f"entry {position}: key id must be 1-32 letters, digits, '-' or '_'"
                )
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {key_id!r} is not valid base64") from None
            if len(raw) != KEY_SIZE:
                raise KeyringError(
                    f"key {key_id!r} is {len(raw)} bytes long; ChaCha20-Poly1305 needs "
                    f"exactly {KEY_SIZE}"
                )
            if any(existing == key_id for existing, _ in keys):
                raise KeyringError(f"key id {key_id!r} appears twice")
            keys.append((key_id, raw))
        return cls(tuple(keys))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)

    @property
    def primary_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        for candidate, raw in self.keys:
            if candidate == key_id:
                return raw
        return None

    def fingerprint_key(self) -> bytes:
        """An HMAC key derived from the primary key; never stored, never shown."""
        return _derive_fingerprint_key(self.keys[0][1])


@lru_cache(maxsize=16)
def _aead(key: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(key)


@lru_cache(maxsize=8)
def _derive_fingerprint_key(primary: bytes) -> bytes:
    return HKDF(
        algorithm=SHA256(), length=32, salt=None, info=b"miosa-environments fingerprint v1"
    ).derive(primary)


@lru_cache(maxsize=8)
def _keyring_from_spec(spec: str) -> Keyring:
    return Keyring.parse(spec)


def get_keyring() -> Keyring:
    from django.conf import settings

    spec = getattr(settings, "ENCRYPTION_KEYS", "")
    if not spec:
        raise KeyringError("ENCRYPTION_KEYS is not configured")
    return _keyring_from_spec(spec)


def variable_context(deployment_id: int, environment_id: int, key: str) -> str:
    """The associated data of a variable's value: a value moved to another row does not decrypt."""
    return f"miosa/v1/variable/{deployment_id}/{environment_id}/{key}"


def binding_context(deployment_id: int, environment_id: int, binding_uid: uuid.UUID) -> str:
    """The associated data of a binding's credential."""
    return f"miosa/v1/binding/{deployment_id}/{environment_id}/{binding_uid}"


def entry_context(
    deployment_id: int, environment_id: int, kind: str, key: str, revision: int
) -> str:
    """The associated data of a value in an environment's history (SPEC §9): it also binds the
    config revision the value was set at, so it does not decrypt on another revision."""
    return f"miosa/v1/entry/{deployment_id}/{environment_id}/{kind}/{key}/{revision}"


def group_entry_context(deployment_id: int, group_id: int, key: str, revision: int) -> str:
    """The associated data of a value in a shared group's history (SPEC §19)."""
    return f"miosa/v1/group/{deployment_id}/{group_id}/{key}/{revision}"


def encrypt(plaintext: str, *, context: str, keyring: Keyring | None = None) -> bytes:
    keyring = keyring or get_keyring()
    key_id = keyring.primary_id
    nonce = os.urandom(NONCE_SIZE)
    body = _aead(keyring.keys[0][1]).encrypt(
        nonce, plaintext.encode("utf-8"), context.encode("utf-8")
    )
    id_bytes = key_id.encode("ascii")
    return bytes([FORMAT_VERSION, len(id_bytes)]) + id_bytes + nonce + body


def key_id_of(blob: bytes) -> str:
    """The id of the key a blob was encrypted under (no decryption)."""
    blob = bytes(blob)
    if len(blob) < 2 or blob[0] != FORMAT_VERSION:
        raise DecryptionError("unknown storage format")
    id_len = blob[1]
    try:
        return blob[2 : 2 + id_len].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("unknown storage format") from None


def decrypt(blob: bytes, *, context: str, keyring: Keyring | None = None) -> str:
    keyring = keyring or get_keyring()
    blob = bytes(blob)
    key_id = key_id_of(blob)
    key = keyring.key(key_id)
    if key is None:
        raise DecryptionError(f"encrypted under key {key_id!r}, which is not configured")
    start = 2 + len(key_id)
    nonce, body = blob[start : start + NONCE_SIZE], blob[start + NONCE_SIZE :]
    if len(nonce) != NONCE_SIZE or len(body) < 16:
        raise DecryptionError("stored value is truncated")
    try:
        plaintext = _aead(key).decrypt(nonce, body, context.encode("utf-8"))
    except InvalidTag:
        raise DecryptionError() from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - only reachable with a forged, valid tag
        raise DecryptionError() from None


@dataclass(frozen=True)
class Sealed:
    """A stored value split once for repeated decryption (the runtime fetch keeps these per
    process): the AEAD of its key, nonce, body and associated data. Never the plaintext."""

    aead: ChaCha20Poly1305 | None  # None: unknown key or malformed; decrypt() raises
    nonce: bytes
    body: bytes
    associated: bytes
    reason: str = ""

    def __repr__(self) -> str:
        return "Sealed(…)"

    def decrypt(self) -> str:
        if self.aead is None:
            raise DecryptionError(self.reason)
        try:
            return self.aead.decrypt(self.nonce, self.body, self.associated).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionError() from None


def seal_for_reading(blob: bytes, *, context: str, keyring: Keyring) -> Sealed:
    """`blob` ready to decrypt as `decrypt(blob, context=…, keyring=…)` would, with the same
    errors, at the cost of one AEAD call."""
    associated = context.encode("utf-8")
    try:
        key_id = key_id_of(blob)
    except DecryptionError as exc:
        return Sealed(None, b"", b"", associated, exc.reason)
    blob = bytes(blob)
    key = keyring.key(key_id)
    if key is None:
        return Sealed(
            None, b"", b"", associated, f"encrypted under key {key_id!r}, which is not configured"
        )
    start = 2 + len(key_id)
    nonce, body = blob[start : start + NONCE_SIZE], blob[start + NONCE_SIZE :]
    if len(nonce) != NONCE_SIZE or len(body) < 16:
        return Sealed(None, b"", b"", associated, "stored value is truncated")
    return Sealed(_aead(key), nonce, body, associated)


def deployment_scope(deployment_id: int) -> str:
    """Fingerprints compare within a deployment, never across."""
    return f"deployment/{deployment_id}"


def fingerprint(plaintext: str, *, scope: str, keyring: Keyring | None = None) -> bytes:
    """Keyed HMAC-SHA256 of a value within a scope (the deployment).

    Two equal values in one deployment have equal fingerprints; the fingerprint reveals
    nothing about the value without the keyring. Prefixed with the key id it was made
    under, so values fingerprinted before a rotation are recognised as not comparable.
    """
    keyring = keyring or get_keyring()
    mac = hmac.new(
        keyring.fingerprint_key(), scope.encode() + b"\x00" + plaintext.encode(), hashlib.sha256
    ).digest()
    id_bytes = keyring.primary_id.encode("ascii")
    return bytes([len(id_bytes)]) + id_bytes + mac


def fingerprint_key_id(stored: bytes) -> str:
    """The id of the key a fingerprint was made under: fingerprints made under different keys
    cannot be compared."""
    stored = bytes(stored)
    return stored[1 : 1 + stored[0]].decode("ascii")
