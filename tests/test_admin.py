"""The Django admin shows everything but values: no secret, no ciphertext, no way back."""

from __future__ import annotations

import base64
import datetime
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from environments.management.commands.seed_demo import DEMO_SECRET_VALUES
from environments.models import (
    ApiToken,
    AuditChainHead,
    AuditEvent,
    Binding,
    ConfigEntry,
    Deployment,
    Domain,
    Environment,
    Membership,
    Release,
    RuntimeInstance,
    RuntimeToken,
    Variable,
    Version,
)

MODELS = [
    Deployment,
    Environment,
    Version,
    Release,
    ConfigEntry,
    RuntimeInstance,
    Variable,
    Binding,
    Domain,
    Membership,
    ApiToken,
    RuntimeToken,
    AuditEvent,
    AuditChainHead,
]
PLAIN_DEMO_VALUES = ["https://api.shop.example.com", "warning"]


@pytest.fixture
def admin_client(client, make_user):
    call_command("seed_demo", stdout=io.StringIO())
    printed = io.StringIO()
    call_command("create_runtime_token", "shop", "production", stdout=printed)
    fetched = Client().get(
        "/api/v1/runtime/env",
        headers={
            "Authorization": f"Bearer {printed.getvalue().strip()}",
            "X-Miosa-Instance": "web-1",
        },
    )
    assert fetched.status_code == 200
    make_user("ci-bot")
    call_command("create_api_token", "ci-bot", stdout=io.StringIO())
    client.force_login(make_user("root", superuser=True))
    return client


def leaks(body: bytes) -> list[str]:
    found = [v for v in DEMO_SECRET_VALUES if v.encode() in body]
    stored = [*Variable.objects.all()[:5], *ConfigEntry.objects.exclude(kind="domain")[:5]]
    for row in stored:
        raw = bytes(row.ciphertext)
        for form in (raw.hex(), base64.b64encode(raw).decode()):
            if form.encode() in body:
                found.append(f"ciphertext of {row.key}")
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_admin_lists_and_detail_pages_show_no_values(admin_client, model):
    opts = model._meta
    listing = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert listing.status_code == 200
    assert leaks(listing.content) == []
    obj = model.objects.first()
    detail = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert detail.status_code == 200
    assert leaks(detail.content) == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["variable", "configentry"])
def test_admin_masks_even_plain_values(admin_client, model):
    body = admin_client.get(reverse(f"admin:environments_{model}_changelist")).content
    assert "••••".encode() in body
    for value in PLAIN_DEMO_VALUES:
        assert value.encode() not in body


@pytest.mark.django_db
def test_admin_search_and_filters_work(admin_client):
    response = admin_client.get(
        reverse("admin:environments_variable_changelist"), {"q": "STRIPE", "is_secret__exact": "1"}
    )
    assert response.status_code == 200
    assert b"STRIPE_SECRET_KEY" in response.content and b"API_URL" not in response.content


@pytest.mark.django_db
def test_admin_cannot_add_change_or_delete_values(admin_client):
    variable = Variable.objects.first()
    assert admin_client.get(reverse("admin:environments_variable_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:environments_variable_change", args=[variable.pk]), {"key": "X"}
    )
    assert response.status_code == 403
    response = admin_client.post(
        reverse("admin:environments_variable_delete", args=[variable.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Variable.objects.filter(pk=variable.pk, key=variable.key).exists()


@pytest.mark.django_db
def test_admin_revokes_tokens_through_the_service(admin_client):
    token = RuntimeToken.objects.get()
    response = admin_client.post(
        reverse("admin:environments_runtimetoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="runtime_token.revoke").exists()


@pytest.mark.django_db
def test_admin_is_for_superusers_only(client, make_user):
    client.force_login(make_user("plain"))
    response = client.get(reverse("admin:environments_variable_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["auditevent", "auditchainhead", "audittombstone"])
def test_admin_cannot_add_change_or_delete_the_audit_trail(admin_client, model):
    """The hash chain's rows are read-only in the admin (SPEC §12): no add, change, delete or
    bulk delete."""
    event = AuditEvent.objects.first()
    pk = {"auditevent": event.pk, "auditchainhead": event.chain, "audittombstone": 1}[model]
    assert admin_client.get(reverse(f"admin:environments_{model}_add")).status_code == 403
    change = reverse(f"admin:environments_{model}_change", args=[pk])
    assert admin_client.post(change, {"target": "x", "seq": 1}).status_code in (403, 302)
    response = admin_client.post(
        reverse(f"admin:environments_{model}_delete", args=[pk]), {"post": "yes"}
    )
    assert response.status_code in (403, 302)
    response = admin_client.post(
        reverse(f"admin:environments_{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [pk]},
    )
    assert response.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk, target=event.target).exists()
    assert AuditChainHead.objects.filter(chain=event.chain).exists()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("OK")


@pytest.mark.django_db
def test_admin_token_lists_show_the_expiry(admin_client):
    """The token changelists show when each token expires (SPEC §12), a runtime token's
    'no expiry' included."""
    token = RuntimeToken.objects.get()
    RuntimeToken.objects.filter(pk=token.pk).update(
        expires_at=datetime.datetime(2031, 5, 17, 12, 0, tzinfo=datetime.UTC)
    )
    for name in ("runtimetoken", "apitoken"):
        page = admin_client.get(reverse(f"admin:environments_{name}_changelist")).content.decode()
        assert "column-expires_at" in page
    page = admin_client.get(reverse("admin:environments_runtimetoken_changelist")).content.decode()
    assert "2031" in page
