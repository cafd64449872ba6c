"""The look, driven as a user (issue 21, items 9, 13 and 14): dark mode, colours that say state,
keys that wrap at underscores, no CSP error from htmx, buttons that say what they are doing,
and every message in one place."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# The colour a CSS custom property resolves to, as getComputedStyle writes colours.
_RESOLVE = """name => {
  const probe = document.createElement("i");
  probe.style.color = `var(${name})`;
  document.body.appendChild(probe);
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour;
}"""

# Where each line of an element's text ends: the character before every line break.
_LINE_ENDS = """el => {
  const ends = [];
  let lastTop = null, lastChar = null;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      if (lastTop !== null && rect.top > lastTop + 2) ends.push(lastChar);
      lastTop = rect.top; lastChar = node.data[i];
    }
  }
  return ends;
}"""

LONG_KEY = "PAYMENTS_PROVIDER_WEBHOOK_SIGNATURE_VERIFICATION_ENDPOINT_URL"


def _luminance(colour: str) -> float:
    r, g, b = (int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_dark_mode_follows_the_system_scheme(page, live_server, shop, shop_member, login):
    login(shop_member(Role.OWNER))
    page.emulate_media(color_scheme="dark")
    for path in ("/", f"/deployments/{shop.pk}/", f"/deployments/{shop.pk}/env/production/"):
        page.goto(live_server.url + path)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        text = page.evaluate("getComputedStyle(document.body).color")
        card = page.evaluate(
            "getComputedStyle(document.querySelector('.section, .card')).backgroundColor"
        )
        assert _luminance(background) < 0.15 and _luminance(card) < 0.2, (path, background, card)
        assert _luminance(text) > 0.8, (path, text)
        assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "dark"
    page.emulate_media(color_scheme="light")
    page.reload()
    assert _luminance(page.evaluate("getComputedStyle(document.body).backgroundColor")) > 0.9


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_production_is_a_strong_accent_not_an_error(
    page, live_server, shop, shop_member, login, scheme
):
    page.emulate_media(color_scheme=scheme)
    login(shop_member(Role.OWNER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    card = page.locator("article.env-card.production")
    expect(card).to_be_visible()
    top = card.evaluate("el => getComputedStyle(el).borderTopColor")
    assert top != page.evaluate(_RESOLVE, "--danger"), "production's card is drawn in error red"
    assert top not in {page.evaluate(_RESOLVE, v) for v in ("--warn", "--stag", "--prev")}


def test_nothing_waiting_is_calm_not_amber(page, live_server, shop, shop_member, login):
    login(shop_member(Role.OWNER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/-/apply/")
    pending = page.locator("#pending")
    pending.get_by_role("button", name="Apply").click()
    expect(pending).to_contain_text("Nothing is waiting")
    head = pending.locator(".section-head")
    amber = {page.evaluate(_RESOLVE, v) for v in ("--warn-soft", "--warn")}
    assert head.evaluate("el => getComputedStyle(el).backgroundColor") not in amber
    assert pending.evaluate("el => getComputedStyle(el).borderTopColor") not in amber | {
        "rgb(253, 220, 171)"  # the amber border of waiting changes
    }


def test_long_keys_wrap_at_underscores_on_a_phone(page, live_server, shop, shop_member, login):
    production = shop.environments.get(name="production")
    staging = shop.environments.get(name="staging")
    for environment in (production, staging):
        services.set_variable(
            environment=environment,
            key=LONG_KEY,
            value="https://hooks.example.com/verify",
            is_secret=False,
            actor=Actor.system("tests"),
        )
    page.set_viewport_size(PHONE)
    login(shop_member(Role.OWNER))

    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    key = page.locator("#variables tr", has_text=LONG_KEY).locator(".key")
    expect(key).to_have_text(LONG_KEY)  # the text reads (and copies) as it is
    ends = key.evaluate(_LINE_ENDS)
    assert ends, "the long key should wrap at this width"
    assert set(ends) == {"_"}, f"the key breaks after {ends}, not only at underscores"

    # The pipeline card's pending changes in production name it too.
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    card_key = page.get_by_test_id("pending").locator(".key", has_text="PAYMENTS")
    ends = card_key.evaluate(_LINE_ENDS)
    assert ends and set(ends) == {"_"}, ends


def test_an_htmx_request_logs_no_csp_error(page, live_server, shop, shop_member, login):
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    login(shop_member(Role.OWNER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    variables = page.locator("#variables")
    variables.get_by_role("link", name="Edit LOG_LEVEL").click()
    page.locator("#edit-value").fill("warning")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Updated LOG_LEVEL.")
    # htmx's indicator rules come from app.css (its injected <style> would be refused).
    assert (
        page.evaluate("""() => {
      const el = document.createElement("span");
      el.className = "htmx-indicator";
      document.body.appendChild(el);
      const opacity = getComputedStyle(el).opacity;
      el.remove();
      return opacity;
    }""")
        == "0"
    )
    assert not [line for line in console if "error" in line.split(":")[0]], console


def test_apply_says_applying_while_it_runs(page, live_server, shop, shop_member, login):
    login(shop_member(Role.OWNER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    pending = page.locator("#pending")
    pending.get_by_role("link", name="Apply").click()
    apply = pending.get_by_role("button", name="Apply")
    expect(apply).to_be_visible()

    held = []
    page.route(
        "**/-/apply/",
        lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
    )
    apply.click()
    busy = pending.locator("button[aria-busy=true]")
    expect(busy).to_have_text("Applying…")
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#flash")).to_contain_text("Applied: production runs release")
    expect(pending).to_contain_text("Nothing is waiting")


def test_messages_appear_in_one_place(page, live_server, shop, shop_member, login):
    login(shop_member(Role.OWNER))
    flash = page.locator("#flash")

    # A change made in place: its message lands in the page's one region, not in the section.
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.get_by_label("Key", exact=True).fill("NEW_FLAG")
    page.get_by_label("Value", exact=True).fill("on")
    page.get_by_role("button", name="Add variable").click()
    expect(flash.get_by_text("Added NEW_FLAG.")).to_be_visible()
    expect(page.locator("#variables").get_by_text("Added NEW_FLAG.")).to_have_count(0)
    expect(flash).to_be_in_viewport()
    flash.get_by_role("button", name="Dismiss").click()
    expect(flash.get_by_text("Added NEW_FLAG.")).to_have_count(0)

    # A page that redirects (Django's messages) says it in the same region.
    page.goto(f"{live_server.url}/deployments/{shop.pk}/environments/new/")
    page.get_by_label("Name").fill("qa")
    page.get_by_role("button", name="Create environment").click()
    expect(flash.get_by_text("Created qa.")).to_be_visible()

    # A refusal htmx does not swap (here a 500) is said there too, and the next change clears it.
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.route("**/variables/", lambda route: route.fulfill(status=500, body="boom"))
    page.get_by_label("Key", exact=True).fill("OTHER_FLAG")
    page.get_by_label("Value", exact=True).fill("on")
    page.get_by_role("button", name="Add variable").click()
    expect(flash).to_contain_text("Something went wrong (500)")
    expect(page.locator("#toast")).to_have_count(0)
    page.unroute("**/variables/")
    page.get_by_role("button", name="Add variable").click()
    expect(flash.get_by_text("Added OTHER_FLAG.")).to_be_visible()
    expect(flash).not_to_contain_text("Something went wrong")
    assert page.locator(".notice.success, .notice.error, .messages").count() == 0
