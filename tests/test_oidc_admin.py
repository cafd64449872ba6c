"""The Django admin lists CI trust policies and minted tokens, never a token or its hash, and
revokes tokens through the service."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments.models import OidcPolicy, OidcToken


@pytest.fixture
def minted(client, deployment, trust, issuer) -> str:
    trust(deployment)
    answer = client.post(
        "/api/v1/oidc/token",
        {"deployment": "shop", "token": issuer.token()},
        content_type="application/json",
    )
    return answer.json()["token"]


@pytest.mark.parametrize("model", [OidcPolicy, OidcToken], ids=lambda m: m.__name__)
def test_the_admin_shows_no_token(client, make_user, minted, model):
    client.force_login(make_user("root", superuser=True))
    name = model._meta.model_name
    token = OidcToken.objects.get()
    for url in (
        reverse(f"admin:environments_{name}_changelist"),
        reverse(f"admin:environments_{name}_change", args=[model.objects.get().pk]),
    ):
        body = client.get(url).content.decode()
        assert minted not in body and token.token_hash not in body
    assert client.get(reverse(f"admin:environments_{name}_add")).status_code == 403


def test_the_admin_revokes_a_minted_token(client, make_user, minted):
    client.force_login(make_user("root", superuser=True))
    token = OidcToken.objects.get()
    response = client.post(
        reverse("admin:environments_oidctoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
