"""Encryption at rest (SPEC §3), after Vault's barrier tests."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from environments import crypto
from environments.crypto import DecryptionError, Keyring, KeyringError

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()
OLD = Keyring.parse(f"old:{K1}")
NEW = Keyring.parse(f"new:{K2},old:{K1}")
CTX = "miosa/v1/variable/1/2/API_KEY"

values = st.text(max_size=32 * 1024 // 4) | st.sampled_from(
    ["", "a=b", 'quote"s', "new\nline", "ünï©ødé ✓", "$HOME", "back\\slash", "#hash", "x" * 32768]
)


@settings(max_examples=200, deadline=None)
@given(values)
def test_any_text_round_trips(value):
    assert (
        crypto.decrypt(crypto.encrypt(value, context=CTX, keyring=OLD), context=CTX, keyring=OLD)
        == value
    )


@settings(max_examples=100, deadline=None)
@given(value=values, position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_a_flipped_bit_anywhere_is_rejected(value, position, bit):
    blob = bytearray(crypto.encrypt(value, context=CTX, keyring=OLD))
    position %= len(blob)
    blob[position] ^= 1 << bit
    with pytest.raises(DecryptionError):
        crypto.decrypt(bytes(blob), context=CTX, keyring=OLD)


@pytest.mark.parametrize("region", ["nonce", "body", "tag"])
def test_each_region_is_authenticated(region):
    blob = bytearray(crypto.encrypt("sk_live_value", context=CTX, keyring=OLD))
    header = 2 + len("old")
    index = {"nonce": header + 5, "body": header + 12 + 3, "tag": len(blob) - 1}[region]
    blob[index] ^= 0x01
    with pytest.raises(DecryptionError):
        crypto.decrypt(bytes(blob), context=CTX, keyring=OLD)


def test_truncated_blob_is_rejected():
    blob = crypto.encrypt("value", context=CTX, keyring=OLD)
    for cut in (0, 1, 3, 10, len(blob) - 1):
        with pytest.raises(DecryptionError):
            crypto.decrypt(blob[:cut], context=CTX, keyring=OLD)


def test_a_ciphertext_moved_to_another_row_is_rejected():
    blob = crypto.encrypt("value", context="miosa/v1/variable/1/2/A", keyring=OLD)
    for other in ("miosa/v1/variable/1/2/B", "miosa/v1/variable/1/3/A", "miosa/v1/variable/9/2/A"):
        with pytest.raises(DecryptionError):
            crypto.decrypt(blob, context=other, keyring=OLD)


def test_ten_thousand_encryptions_use_ten_thousand_nonces():
    header = 2 + len("old")
    nonces = {
        crypto.encrypt("same", context=CTX, keyring=OLD)[header : header + 12]
        for _ in range(10_000)
    }
    assert len(nonces) == 10_000


def test_ciphertext_does_not_contain_the_plaintext():
    blob = crypto.encrypt("sk_live_canary_value", context=CTX, keyring=OLD)
    assert b"sk_live_canary_value" not in blob


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "no keys"),
        ("k1", "not of the form"),
        (f"k1:{base64.b64encode(b'x' * 16).decode()}", "16 bytes"),
        (f"k1:{base64.b64encode(b'x' * 33).decode()}", "33 bytes"),
        ("k1:not base64!", "not valid base64"),
        (f"k 1:{K1}", "key id"),
        (f"k1:{K1},k1:{K2}", "appears twice"),
    ],
)
def test_a_malformed_keyring_is_refused_without_showing_key_material(spec, message):
    with pytest.raises(KeyringError) as excinfo:
        Keyring.parse(spec)
    assert message in str(excinfo.value)
    assert K1 not in str(excinfo.value) and K2 not in str(excinfo.value)


def test_old_key_values_still_decrypt_after_a_new_key_is_added():
    blob = crypto.encrypt("value", context=CTX, keyring=OLD)
    assert crypto.key_id_of(blob) == "old"
    assert crypto.decrypt(blob, context=CTX, keyring=NEW) == "value"
    assert crypto.key_id_of(crypto.encrypt("value", context=CTX, keyring=NEW)) == "new"


def test_an_unknown_key_id_is_a_clear_error():
    blob = crypto.encrypt("value", context=CTX, keyring=NEW)
    with pytest.raises(DecryptionError, match="not configured"):
        crypto.decrypt(blob, context=CTX, keyring=OLD)


def test_the_wrong_key_under_the_same_id_is_rejected():
    blob = crypto.encrypt("value", context=CTX, keyring=OLD)
    with pytest.raises(DecryptionError):
        crypto.decrypt(blob, context=CTX, keyring=Keyring.parse(f"old:{K2}"))


def test_keyring_repr_hides_keys():
    assert K1 not in repr(NEW) and "b'1111" not in repr(NEW)


def test_fingerprints_compare_values_without_revealing_them():
    a = crypto.fingerprint("value", scope="deployment/1", keyring=OLD)
    assert a == crypto.fingerprint("value", scope="deployment/1", keyring=OLD)
    assert a != crypto.fingerprint("other", scope="deployment/1", keyring=OLD)
    assert a != crypto.fingerprint("value", scope="deployment/2", keyring=OLD)
    assert a != crypto.fingerprint("value", scope="deployment/1", keyring=NEW)
    assert b"value" not in a


def test_contexts_bind_a_value_to_its_kind_and_row():
    uid = uuid.UUID(int=7)
    contexts = {
        crypto.variable_context(1, 2, "API_KEY"),
        crypto.variable_context(1, 3, "API_KEY"),
        crypto.variable_context(1, 2, "OTHER"),
        crypto.binding_context(1, 2, uid),
        crypto.binding_context(1, 2, uuid.UUID(int=8)),
    }
    assert len(contexts) == 5
    assert crypto.variable_context(1, 2, "API_KEY") == CTX  # stored values depend on it
    assert crypto.binding_context(1, 2, uid) == f"miosa/v1/binding/1/2/{uid}"


def test_a_fingerprint_names_the_key_it_was_made_under():
    assert crypto.fingerprint_key_id(crypto.fingerprint("v", scope="s", keyring=OLD)) == "old"
    assert crypto.fingerprint_key_id(crypto.fingerprint("v", scope="s", keyring=NEW)) == "new"
