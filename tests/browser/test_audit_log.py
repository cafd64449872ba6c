"""The audit log for people (issue 21, item 12): an admin of the demo reads labels, sees
changes by default, and switches to everything to see the reads as well."""

import pytest
from playwright.sync_api import expect

from environments.models import Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser

WIDTHS = (1400, 768, 390)


def _checked(page, where: str) -> list[str]:
    problems: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            state = f"{where} at {width}px, {scheme}"
            problems += axe_problems(page, state) + overflow_problem(page, state)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1400, "height": 900})
    return problems


def test_an_admin_reads_changes_then_everything(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN, "audrey"))
    base = f"{live_server.url}/deployments/{shop.pk}"
    page.goto(f"{base}/compare/?left=staging&right=production")  # a read, on record
    page.goto(f"{base}/audit/")
    events = page.locator("#events")
    expect(events.get_by_text("Variable created").first).to_be_visible()
    expect(events.locator("code", has_text="variable.create").first).to_be_visible()
    expect(page.get_by_label("Show")).to_have_value("changes")
    expect(events.get_by_text("Environments compared")).to_have_count(0)
    assert _checked(page, "audit log, changes") == []

    page.get_by_label("Show").select_option(label="Everything")
    expect(events.get_by_text("Environments compared")).to_be_visible()
    assert "show=all" in page.url
    expect(events.get_by_text("Variable created").first).to_be_visible()
    assert _checked(page, "audit log, everything") == []

    page.get_by_label("Show").select_option(label="Changes")
    expect(events.get_by_text("Environments compared")).to_have_count(0)
