"""The CI trust (OIDC) page in Chromium (SPEC §16): an admin adds a policy with the form, sees
the token a CI job minted, and deletes the policy after confirming in place; at a desktop, a
tablet and a phone width nothing scrolls sideways and axe finds nothing serious, light and dark."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments.models import OidcPolicy, Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.oidc_issuer"]

WIDTHS = {"desktop": (1400, 900), "tablet": (768, 1024), "phone": (390, 844)}
LONG_SUBJECT = "repo:acme-corporation/shop-storefront-frontend:environment:production"


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_trusts_a_ci_provider(
    page, live_server, shop, shop_member, login, issuer, trust, client, width
):
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    trust(shop, subject=LONG_SUBJECT, claims={"repository_id": "123456789"})
    minted = client.post(
        "/api/v1/oidc/token",
        {"deployment": "shop", "token": issuer.token(sub=LONG_SUBJECT)},
        content_type="application/json",
    )
    assert minted.status_code == 201
    login(shop_member(Role.ADMIN))
    problems = []

    def check(where: str) -> None:
        problems.extend(overflow_problem(page, f"{width} {where}"))
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            problems.extend(axe_problems(page, f"{width} {where} ({scheme})"))
        page.emulate_media(color_scheme="light")

    page.goto(f"{live_server.url}/deployments/{shop.pk}/settings/")
    page.get_by_role("link", name="Manage CI trust").click()
    expect(page.get_by_role("heading", name="CI trust (OIDC)")).to_be_visible()
    expect(page.get_by_text("Live CI tokens")).to_be_visible()
    check("list")

    form = page.get_by_role("form", name="Trust a CI provider")
    form.get_by_label("Audience").fill("miosa")
    form.get_by_label("Subject").fill("*")
    form.get_by_label("staging").check()
    form.get_by_role("button", name="Add policy").click()
    expect(page.get_by_text("trusts repositories of anyone")).to_be_visible()
    check("refused form")

    form = page.get_by_role("form", name="Trust a CI provider")
    form.get_by_label("Subject").fill("repo:acme/shop:ref:refs/heads/main")
    form.get_by_label("Audience").fill("miosa")
    form.get_by_label("staging").check()
    form.get_by_role("button", name="Add policy").click()
    expect(page.locator("#trust").get_by_text("repo:acme/shop:ref:refs/heads/main")).to_be_visible()
    assert OidcPolicy.objects.filter(deployment=shop).count() == 2

    page.get_by_role(
        "link", name="Delete the policy for repo:acme/shop:ref:refs/heads/main"
    ).click()
    confirm = page.get_by_role(
        "button", name="Delete the policy for repo:acme/shop:ref:refs/heads/main"
    )
    expect(confirm).to_be_visible()
    check("delete confirmation")
    confirm.click()
    expect(page.locator("#flash").get_by_text("Deleted the policy")).to_be_visible()
    assert OidcPolicy.objects.filter(deployment=shop).count() == 1
    assert problems == []
