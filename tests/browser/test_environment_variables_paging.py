"""The environment page's pager and key filter in a real browser: htmx swaps the
variables section in place and the address bar follows."""

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

pytestmark = pytest.mark.browser


def test_page_through_and_filter_the_variables(page, live_server, shop, shop_member, login):
    developer = shop_member(Role.DEVELOPER)
    actor = Actor(user=developer, label=developer.get_username())
    bulk = services.create_environment(deployment=shop, name="bulk", actor=actor)
    services.set_variables(
        environment=bulk,
        items=[services.VariableInput(f"KEY_{i:03d}", f"value-{i}", False) for i in range(150)],
        actor=actor,
    )
    login(developer)
    url = f"{live_server.url}/deployments/{shop.pk}/env/bulk/"
    page.goto(url)
    page.evaluate("window.__noReload = true")
    variables = page.locator("#variables")
    rows = variables.locator("tbody tr")
    expect(rows).to_have_count(100)
    expect(variables.get_by_test_id("variables-range")).to_contain_text("1–100 of 150")

    variables.get_by_role("link", name="Next").click()
    expect(rows).to_have_count(50)
    expect(variables.locator("#var-KEY_149")).to_be_visible()
    expect(page).to_have_url(url + "?page=2")

    variables.get_by_label("Key contains").fill("key_12")
    expect(rows).to_have_count(10)
    expect(variables.locator("#var-KEY_120")).to_be_visible()
    expect(variables.get_by_label("Key contains")).to_be_focused()  # typing goes on
    expect(page).to_have_url(url + "?q=key_12")

    variables.get_by_role("link", name="Edit KEY_125").click()
    page.get_by_role("link", name="Cancel").click()
    expect(rows).to_have_count(50)  # back on KEY_125's page (the second), unfiltered
    expect(variables.locator("#var-KEY_125")).to_be_visible()
    assert page.evaluate("window.__noReload") is True
