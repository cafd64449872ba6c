"""Issue 21 item 1: after "Import N variables" the user sees the result where they are — the
new rows, the new count and the message — without a reload, on a desktop and on a phone."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from environments.models import Role

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "issue-21"


@pytest.mark.parametrize("width", [1400, 390], ids=["desktop", "phone"])
def test_an_import_shows_its_result_in_place(page, live_server, shop, shop_member, login, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/preview/pr-42/")
    page.evaluate("window.__noReload = true")
    variables = page.locator("#variables")
    count = variables.locator("#variables-title .badge")
    before = int(count.inner_text())

    page.locator("#import-text").fill("QUEUE_NAME=orders\nCACHE_TTL=300\nLOG_LEVEL=debug\n")
    page.get_by_role("button", name="Preview import").click()
    expect(page.get_by_test_id("import-diff")).to_be_visible()
    page.get_by_role("button", name="Import 3 variables").click()
    try:
        _sees_the_result(page, variables, count, before)
    finally:
        if os.environ.get("SHOTS"):  # before/after screenshots for the note, on purpose only
            page.wait_for_timeout(1500)
            name = "desktop" if width == 1400 else "phone"
            page.screenshot(path=SHOTS / f"item-1-{os.environ['SHOTS']}-{name}.png")


def _sees_the_result(page, variables, count, before: int) -> None:
    expect(page.locator("#flash")).to_contain_text("Imported 3 variables.")
    expect(count).to_have_text(str(before + 2))  # LOG_LEVEL was there already
    expect(variables.locator("#var-QUEUE_NAME")).to_be_visible()
    expect(variables.locator("#var-CACHE_TTL")).to_be_visible()
    expect(page.get_by_test_id("import-diff")).to_have_count(0)  # the form is fresh again
    expect(page.locator("#import-text")).to_have_value("")
    expect(page.locator(".htmx-request")).to_have_count(0)  # nothing left dimmed
    assert page.evaluate("window.__noReload") is True  # in place, not reloaded
    top = page.evaluate("document.getElementById('variables').getBoundingClientRect().top")
    assert -5 <= top <= 900, "the variables are scrolled into view"
