"""The pipeline in a real browser: promote through the confirmation without a page reload,
role-dependent buttons, and a stale promotion."""

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

pytestmark = pytest.mark.browser


def test_promote_staging_to_production_in_place(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.get_by_role("link", name="shop").click()
    production = page.locator("article.env-card.production")
    expect(production.get_by_test_id("version")).to_contain_text("v17")
    page.evaluate("window.__noReload = true")

    page.get_by_role("link", name="Promote v18 to production").click()
    panel = page.locator(".confirm-panel")
    expect(panel).to_contain_text("production now")
    expect(panel).to_contain_text("STRIPE_SECRET_KEY")  # a key that differs, by name
    confirm = panel.get_by_role("button", name="Promote v18 to production")
    expect(confirm).to_be_focused()
    confirm.click()

    expect(page.get_by_text("production now runs v18, promoted from staging.")).to_be_visible()
    expect(production.get_by_test_id("version")).to_contain_text("v18")
    expect(page.locator(".confirm-panel")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True


def test_escape_cancels_the_confirmation(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.get_by_role("link", name="Promote v18 to production").click()
    expect(page.locator(".confirm-panel")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".confirm-panel")).to_have_count(0)


def test_developer_sees_no_promote_to_production(page, live_server, shop, shop_member, login):
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    expect(page.get_by_role("link", name="Promote v19 to staging")).to_be_visible()
    expect(page.get_by_role("link", name="Promote v18 to production")).to_have_count(0)


def test_a_stale_promotion_shows_the_conflict(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.get_by_role("link", name="Promote v18 to production").click()
    confirm = page.locator(".confirm-panel").get_by_role("button", name="Promote v18 to production")
    expect(confirm).to_be_visible()

    # Another admin promotes first, then rolls production back to v16, while this one looks.
    staging = shop.environments.get(name="staging")
    production = shop.environments.get(name="production")
    other = Actor.system("another admin")
    services.promote(source=staging, version_number=18, expected_target_version=17, actor=other)
    ran_v16 = production.releases.get(version__number=16).number
    services.rollback(environment=production, release=ran_v16, config="restore", actor=other)

    confirm.click()
    expect(page.get_by_text("production changed while you were looking")).to_be_visible()
    expect(page.locator("article.env-card.production").get_by_test_id("version")).to_contain_text(
        "v16"
    )
