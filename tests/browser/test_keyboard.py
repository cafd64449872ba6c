"""Keyboard alone: promote staging to production, edit a variable and roll back with
Tab, Enter, Space and Escape, no click. After each htmx swap focus is inside the swapped region,
the result is announced through a live region, and the state passes axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments.models import Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser

# Records what screen readers announce: text added to a live region already in the page (a live
# region inserted with its text already inside is not announced).
WATCH_ANNOUNCEMENTS = """() => {
  window.__announced = [];
  new MutationObserver(records => {
    for (const record of records) {
      const live = record.target.closest && record.target.closest("[aria-live]");
      if (!live || !record.addedNodes.length) continue;
      if ([...record.addedNodes].some(node => node.nodeType === 1 && node.matches("[aria-live]")))
        continue;
      const text = [...record.addedNodes].map(node => node.textContent).join(" ").trim();
      if (text) window.__announced.push(text);
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return ["", ""];
  const field = el.labels && el.labels.length ? el.labels[0].innerText : "";
  const label = el.getAttribute("aria-label") || field || el.innerText || "";
  return [el.id, label.replace(/\\s+/g, " ").trim()];
}"""


def tab_to(page, name: str, *, limit: int = 80) -> None:
    """Press Tab until the focused element's label starts with `name`, or its id is `name`."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        element_id, label = page.evaluate(FOCUSED)
        if label.startswith(name) or element_id == name:
            return
        seen.append(label)
    raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")


def wait_for_announcement(page, text: str) -> None:
    page.wait_for_function(
        "text => window.__announced.some(said => said.includes(text))", arg=text, timeout=5000
    )


def assert_clean(page, where: str) -> None:
    problems = axe_problems(page, where) + overflow_problem(page, where)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [1400, 390])
def test_promote_staging_to_production_by_keyboard(
    page, live_server, shop, shop_member, login, width
):
    page.set_viewport_size({"width": width, "height": 844})
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.evaluate(WATCH_ANNOUNCEMENTS)

    tab_to(page, "Promote v18 to production")
    page.keyboard.press("Enter")
    confirm = page.locator(".confirm-panel").get_by_role("button", name="Promote v18 to production")
    expect(confirm).to_be_focused()
    assert_clean(page, f"{width} promotion confirmation")

    # Escape cancels; the pipeline's heading has focus, and the confirmation can be opened again.
    page.keyboard.press("Escape")
    expect(page.locator(".confirm-panel")).to_have_count(0)
    expect(page.locator("#pipeline-title")).to_be_focused()
    tab_to(page, "Promote v18 to production")
    page.keyboard.press("Enter")
    expect(confirm).to_be_focused()

    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text(
        "production now runs v18, promoted from staging."
    )
    expect(page.locator("article.env-card.production").get_by_test_id("version")).to_contain_text(
        "v18"
    )
    expect(page.locator("#pipeline-title")).to_be_focused()
    wait_for_announcement(page, "production now runs v18")
    assert_clean(page, f"{width} promoted")


def test_edit_a_variable_by_keyboard(page, live_server, shop, shop_member, login):
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.evaluate(WATCH_ANNOUNCEMENTS)
    variables = page.locator("#variables")

    # Escape cancels an inline edit without saving.
    tab_to(page, "Edit LOG_LEVEL")
    page.keyboard.press("Enter")
    value = page.get_by_label("New value")
    expect(value).to_be_focused()
    page.keyboard.type("discarded")
    page.keyboard.press("Escape")
    expect(page.get_by_label("New value")).to_have_count(0)
    expect(page.locator("#variables-title")).to_be_focused()

    tab_to(page, "Edit LOG_LEVEL")
    page.keyboard.press("Enter")
    expect(value).to_be_focused()
    assert_clean(page, "inline edit")
    page.keyboard.type("debug")  # a textarea: Enter is a new line, Tab goes on to Save
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(variables.get_by_role("button", name="Save")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#flash")).to_contain_text("Updated LOG_LEVEL.")
    expect(variables.locator("tr", has_text="LOG_LEVEL")).to_contain_text("debug")
    expect(page.locator("#variables-title")).to_be_focused()
    wait_for_announcement(page, "Updated LOG_LEVEL.")
    assert "discarded" not in variables.inner_text()

    # A refused value: focus goes to the field, whose error is announced with it.
    tab_to(page, "Key")
    page.keyboard.type("MIOSA_X")
    page.keyboard.press("Enter")
    key = variables.get_by_label("Key", exact=True)
    expect(key).to_be_focused()
    expect(key).to_have_attribute("aria-invalid", "true")
    described = key.get_attribute("aria-describedby") or ""
    assert "new-key-error" in described.split()
    assert_clean(page, "form error")


def test_roll_back_by_keyboard(page, live_server, shop, shop_member, login):
    production = shop.environments.get(name="production")
    ran_v16 = production.releases.get(version__number=16).number
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/-/history/")
    page.evaluate(WATCH_ANNOUNCEMENTS)
    history = page.locator("#history")

    # Escape cancels the question.
    tab_to(page, f"Roll back to release {ran_v16} ")
    page.keyboard.press("Space")
    question = history.locator("tr.confirming")
    confirm = question.get_by_role("button", name=f"Roll back to release {ran_v16}")
    expect(confirm).to_be_focused()
    page.keyboard.press("Escape")
    expect(question).to_have_count(0)
    expect(page.locator("#history-title")).to_be_focused()

    # "Version only", picked with the arrow keys.
    tab_to(page, f"rollback-config-{ran_v16}")
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#rollback-config-{ran_v16}")).to_have_value("keep")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(confirm).to_be_focused()
    expect(question).to_contain_text(f"Roll production back to release {ran_v16} (v16)?")
    expect(question).to_contain_text("with the current configuration")
    assert_clean(page, "rollback confirmation")

    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text(
        f"production rolled back to release {ran_v16} (v16)"
    )
    expect(page.locator("#history-title")).to_be_focused()
    wait_for_announcement(page, "production rolled back")
    production.refresh_from_db()
    assert production.active_version.number == 16
    assert_clean(page, "rolled back")
