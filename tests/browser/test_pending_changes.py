"""Pending changes in a real browser (SPEC §9): edit production, see the change pending on the
environment page and the pipeline card, apply it through the confirmation, and the runtime
gets it."""

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

pytestmark = pytest.mark.browser


def _runtime_env(page, live_server, token: str) -> dict:
    response = page.request.get(
        f"{live_server.url}/api/v1/runtime/env", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    return response.json()


def test_edit_production_see_it_pending_apply_and_the_runtime_gets_it(
    page, live_server, shop, shop_member, login
):
    production = shop.environments.get(name="production")
    _, token = services.create_runtime_token(
        environment=production, name="web", actor=Actor.system("tests")
    )
    before = _runtime_env(page, live_server, token)
    assert before["env"]["FEATURE_NEW_CHECKOUT"] == "false"

    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    page.evaluate("window.__noReload = true")
    pending = page.locator("#pending")
    expect(pending).to_contain_text("1 pending change")  # the demo's LOG_LEVEL

    # Edit a production variable: the notice says it waits, the pending section follows.
    variables = page.locator("#variables")
    variables.get_by_role("link", name="Edit FEATURE_NEW_CHECKOUT").click()
    page.locator("#edit-value").fill("true")
    page.get_by_role("button", name="Save").click()
    expect(
        page.locator("#flash").get_by_text("this goes live when you apply them (2 pending changes)")
    ).to_be_visible()
    expect(pending).to_contain_text("2 pending changes")
    expect(pending.locator(".diff-group.changed")).to_contain_text("FEATURE_NEW_CHECKOUT")
    assert page.evaluate("window.__noReload") is True
    assert _runtime_env(page, live_server, token)["env"]["FEATURE_NEW_CHECKOUT"] == "false"

    # The pipeline card lists it and leads to the confirmation.
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    card = page.locator("article.env-card.production")
    expect(card.get_by_test_id("pending")).to_contain_text("2 pending changes")
    expect(card.get_by_test_id("pending")).to_contain_text("FEATURE_NEW_CHECKOUT")
    card.get_by_role("link", name="Review and apply").click()

    confirmation = page.locator("#pending")
    expect(confirmation).to_contain_text("Apply 2 pending changes to production?")
    expect(confirmation).to_contain_text("FEATURE_NEW_CHECKOUT")
    expect(confirmation).to_contain_text("LOG_LEVEL")
    apply = confirmation.get_by_role("button", name="Apply 2 changes to production")
    expect(apply).to_be_focused()
    page.evaluate("window.__noReload = true")
    apply.click()

    expect(page.get_by_text("Applied: production runs release")).to_be_visible()
    expect(page.locator("#pending")).not_to_contain_text("pending change")
    assert page.evaluate("window.__noReload") is True
    after = _runtime_env(page, live_server, token)
    assert after["env"]["FEATURE_NEW_CHECKOUT"] == "true"
    assert after["env"]["LOG_LEVEL"] == "error"
    assert after["release"] == before["release"] + 1


def test_escape_cancels_the_apply_confirmation(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    page.get_by_role("link", name="Apply 1 change").click()
    apply = page.get_by_role("button", name="Apply 1 change to production")
    expect(apply).to_be_focused()
    page.keyboard.press("Escape")
    # A round trip to the server (the Cancel link's GET): generous on a loaded machine.
    expect(apply).to_have_count(0, timeout=15_000)
    expect(page.locator("#pending")).to_contain_text("1 pending change")
