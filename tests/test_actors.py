from __future__ import annotations

import ipaddress
import unicodedata

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings
from hypothesis import given
from hypothesis import strategies as st

from environments.actors import Actor, client_ip, printable


@pytest.mark.parametrize(
    "hops, forwarded, remote, expected",
    [
        (0, "203.0.113.9", "10.0.0.2", "10.0.0.2"),  # no proxy trusted: the peer
        (1, "203.0.113.9", "10.0.0.2", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "10.0.0.2", "203.0.113.9"),  # client-forged entry left
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.7", "10.0.0.2", "203.0.113.9"),
        (1, "", "10.0.0.2", "10.0.0.2"),  # header missing: the peer
        (1, "not-an-ip", "10.0.0.2", None),
        (1, "2001:db8::1", "10.0.0.2", "2001:db8::1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, hops, forwarded, remote, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert client_ip(request) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Mozilla/5.0 (X11; Linux)", "Mozilla/5.0 (X11; Linux)"),
        ("a\x00b", "ab"),
        ("a\r\nb\tc", "abc"),
        ("\x1b[31mred\x7f", "[31mred"),
        ("c1\x85\x9f", "c1"),
        ("\u202egnp.exe", "gnp.exe"),  # a bidi override would disguise the text
        (
            "Mozilla/5.0 (Android 14) \u00e9t\u00e9 \u4f60\u597d",
            "Mozilla/5.0 (Android 14) \u00e9t\u00e9 \u4f60\u597d",
        ),
    ],
)
def test_printable_drops_control_and_format_characters_only(raw, expected):
    assert printable(raw) == expected


def test_an_actor_from_a_request_keeps_the_printable_user_agent_up_to_300_characters(db):
    request = RequestFactory().get("/", HTTP_USER_AGENT="\x00" * 400 + "agent/1 " + "x" * 400)
    request.user = AnonymousUser()
    actor = Actor.from_request(request, token_name="web\x00-1")
    assert actor.user_agent == ("agent/1 " + "x" * 400)[:300]
    assert actor.label == "token web-1"


@given(st.text())
def test_printable_is_the_text_without_its_cc_and_cf_characters(text):
    """Whatever the text (the fast path for text that is printable already included)."""
    assert printable(text) == "".join(
        c for c in text if unicodedata.category(c) not in {"Cc", "Cf"}
    )


@given(st.one_of(st.ip_addresses().map(str), st.text(max_size=45)))
def test_client_ip_of_the_peer_is_its_address_as_ipaddress_writes_it_or_none(address):
    """Normalised (and kept per address): the same answer as ipaddress, the first time and the
    next."""
    try:
        expected = str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        expected = None
    request = RequestFactory().get("/", REMOTE_ADDR=address)
    with override_settings(TRUSTED_PROXY_HOPS=0):
        assert client_ip(request) == expected
        assert client_ip(request) == expected
