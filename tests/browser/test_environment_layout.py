"""Issue 21 item 8: the environment page reads top-down — what runs, the variables with their
Add form first, the rest, then the environment's settings; Compare and History once each."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from environments.models import Role

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "issue-21"


def _top(page, selector: str) -> float:
    return page.evaluate(
        f"document.querySelector({selector!r}).getBoundingClientRect().top + window.scrollY"
    )


@pytest.mark.parametrize("width", [1400, 390], ids=["desktop", "phone"])
def test_the_page_reads_top_down(page, live_server, shop, shop_member, login, width):
    page.set_viewport_size({"width": width, "height": 844})
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    if os.environ.get("SHOTS"):
        name = "desktop" if width == 1400 else "phone"
        page.screenshot(path=SHOTS / f"item-8-{os.environ['SHOTS']}-{name}.png")
    main = page.locator("#main")
    expect(main.get_by_role("link", name="Compare", exact=True)).to_have_count(1)
    expect(main.get_by_role("link", name="History", exact=True)).to_have_count(1)
    expect(main.get_by_role("link", name="History and rollback")).to_have_count(0)

    # The Add form is on the first screen of a phone, above the list it adds to.
    add = _top(page, "form[aria-label='Add a variable']")
    assert add < 844, f"the Add form starts {add / 844:.1f} screens down"
    assert add < _top(page, "#variables table")
    # The settings come after everything else the page holds.
    settings = _top(page, "#settings")
    for section in ("#variables", "#bindings", "#domains", "#tokens", "#instances"):
        assert _top(page, section) < settings, section
    # The summary still says where it promotes and how changes go live, and links there.
    summary = page.locator("#summary")
    expect(summary.get_by_test_id("promotes-to")).to_contain_text("Promotes to production")
    expect(summary.get_by_test_id("config-changes")).to_contain_text("Config changes go live")


def test_a_setting_changed_below_updates_the_summary_above(
    page, live_server, shop, shop_member, login
):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/preview/pr-42/")
    page.evaluate("window.__noReload = true")
    page.locator("#summary").get_by_role("link", name="Change these settings").click()
    settings = page.locator("#settings")
    expect(settings).to_be_in_viewport()
    settings.get_by_label("Config changes go live", exact=True).select_option("staged")
    settings.get_by_role("button", name="Change").click()
    expect(page.locator("#flash")).to_contain_text("now go live when you apply them")
    expect(page.locator("#summary")).to_contain_text("Config changes go live when applied")
    settings.get_by_label("Promotes to", exact=True).select_option("production")
    settings.get_by_role("button", name="Set target").click()
    expect(page.locator("#summary")).to_contain_text("Promotes to production")
    assert page.evaluate("window.__noReload") is True
