from __future__ import annotations

import pytest
from django.test import RequestFactory

from environments.audit import client_ip


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
