"""Issue 21 in a real browser: deploy an existing version to a new preview (item 2), read a
key's history with its values and restore in place (item 4), fix drift from the compare page
(item 5). Each ends on what the user sees, checked with axe-core at 1400, 768 and 390 px,
light and dark, with no sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.management.commands.seed_demo import DEMO_SECRET_VALUES
from environments.models import Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser


def check_everywhere(page, where: str) -> None:
    """The page as it is now, at three widths and in both colour schemes."""
    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1400, 768, 390):
            page.set_viewport_size({"width": width, "height": 900})
            label = f"{where} at {width} px, {scheme}"
            problems += overflow_problem(page, label) + axe_problems(page, label)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1400, "height": 900})
    assert not problems, "\n".join(problems)


def no_dialogs(page) -> list[str]:
    """Every browser dialog the page opens (there should be none: confirmations are in place)."""
    seen: list[str] = []

    def dismiss(dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


def shows_no_secret(page) -> None:
    html = page.content()
    for value in DEMO_SECRET_VALUES:
        assert value not in html


def test_a_new_preview_runs_an_existing_version(page, live_server, shop, shop_member, login):
    login(shop_member(Role.DEVELOPER))
    base = f"{live_server.url}/deployments/{shop.pk}"
    page.goto(f"{base}/environments/new/")
    page.get_by_label("Name").fill("preview/x")
    page.get_by_label("Start with").select_option(label="A copy of staging's variables")
    page.get_by_label("Expires").select_option(label="In 7 days")
    page.get_by_role("button", name="Create environment").click()
    expect(page.get_by_text("Created preview/x.")).to_be_visible()
    assert shop.environments.get(name="preview/x").expires_at is not None

    page.get_by_role("link", name="Deploy a version here").click()
    page.get_by_label("Version", exact=True).select_option(label="v18 (c07e9aa) · runs in staging")
    page.get_by_role("button", name="Review the deploy").click()
    expect(page.get_by_role("heading", name="Deploy v18 to preview/x?")).to_be_visible()
    check_everywhere(page, "deploy confirmation")
    page.get_by_role("button", name="Deploy v18 to preview/x").click()

    expect(page.get_by_text("preview/x now runs v18")).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("Runs v18")
    check_everywhere(page, "environment page after a deploy")


def test_history_shows_old_and_new_values_and_restores_in_place(
    page, live_server, shop, shop_member, login
):
    production = shop.environments.get(name="production")
    services.apply_changes(environment=production, actor=Actor.system("ops"))  # LOG_LEVEL=error
    login(shop_member(Role.ADMIN))
    dialogs = no_dialogs(page)
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    page.get_by_role("link", name="History of LOG_LEVEL").first.click()
    history = page.locator("#key-history")
    expect(history).to_contain_text("a new value")
    page.evaluate("window.__noReload = true")

    page.get_by_role("button", name="Show values").click()
    changes = history.get_by_test_id("value-change")
    expect(changes.first).to_contain_text("warning")
    expect(changes.first).to_contain_text("error")
    expect(changes.last).to_contain_text("not set")
    check_everywhere(page, "key history with values")

    older = history.get_by_role("button", name="Restore revision").first
    older.click()
    question = history.locator("tr.confirming")
    expect(question).to_contain_text("production is staged: the restore waits for an Apply.")
    question.get_by_role("button", name="Restore revision").click()
    expect(  # the message lands in the page's one #flash region
        page.locator("#flash").get_by_text("the restore is pending until the changes are applied")
    ).to_be_visible()
    assert dialogs == [] and page.evaluate("window.__noReload") is True
    check_everywhere(page, "key history after a restore")

    history.get_by_role("link", name="Review and apply").click()
    expect(page.locator("#pending")).to_contain_text("LOG_LEVEL")


def test_drift_is_copied_from_staging_into_production(page, live_server, shop, shop_member, login):
    staging = shop.environments.get(name="staging")
    services.set_variable(
        environment=staging,
        key="API_TIMEOUT_MS",
        value="2500",
        is_secret=None,
        actor=Actor.system("ops"),
    )
    login(shop_member(Role.ADMIN))
    dialogs = no_dialogs(page)
    base = f"{live_server.url}/deployments/{shop.pk}"
    # The promotion confirmation's drift list leads to the copy.
    page.goto(base + "/")
    page.get_by_role("link", name="Promote v18 to production").click()
    page.get_by_test_id("fix-drift").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Compare two environments")).to_be_visible()

    page.get_by_test_id("show-values").click()
    row = page.locator("tr", has=page.get_by_role("rowheader", name="API_URL"))
    expect(row).to_contain_text("https://api.staging.shop.example.com")
    expect(row).to_contain_text("https://api.shop.example.com")
    shows_no_secret(page)
    check_everywhere(page, "compare with values")

    page.get_by_role("checkbox", name="Copy API_TIMEOUT_MS to production").check()
    page.get_by_role("checkbox", name="Copy STRIPE_SECRET_KEY to production").check()
    page.get_by_role("button", name="Copy selected to production").click()
    expect(
        page.get_by_role("heading", name="Copy 2 keys from staging into production?")
    ).to_be_visible()
    check_everywhere(page, "copy confirmation")
    page.get_by_role("button", name="Copy 2 keys to production").click()

    expect(page.get_by_text("Copied 2 keys (API_TIMEOUT_MS, STRIPE_SECRET_KEY)")).to_be_visible()
    pending = page.get_by_test_id("compare-pending")
    expect(pending).to_contain_text("production has 3 pending changes")
    shows_no_secret(page)
    assert dialogs == []
    check_everywhere(page, "compare after a copy")
    pending.get_by_role("link", name="Review and apply").click()
    expect(page.locator("#pending")).to_contain_text("API_TIMEOUT_MS")
