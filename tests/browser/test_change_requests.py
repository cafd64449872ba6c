"""A change request in a real browser (SPEC §15): a developer asks to promote v18 to a protected
production, an admin approves and applies it on the review page, and production runs v18."""

import re

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import ChangeRequest, Environment, Role

from .checks import axe_problems, overflow_problem
from .conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_a_developer_requests_and_an_admin_approves_and_applies(
    page, browser, live_server, shop, shop_member, login
):
    production = shop.environments.get(name="production")
    services.set_protection(
        environment=production, required_approvals=1, actor=Actor.system("tests")
    )
    login(shop_member(Role.DEVELOPER))
    page.get_by_role("link", name="shop").click()
    card = page.locator("article.env-card.production")
    expect(card.get_by_test_id("protection")).to_contain_text("protected: 1 approval")
    page.get_by_role("link", name="Request to promote v18 to production").click()
    panel = page.locator(".confirm-panel")
    expect(panel).to_contain_text("production is protected")
    panel.get_by_label("Reason for the reviewers").fill("The new checkout passed QA in staging")
    panel.get_by_role("button", name="Request to promote v18 to production").click()

    expect(page.get_by_role("heading", name="Request to promote v18 to production")).to_be_visible()
    expect(page.get_by_test_id("reason")).to_contain_text("The new checkout passed QA")
    expect(page.get_by_test_id("state")).to_have_text("Open")
    review_url = page.url
    request = ChangeRequest.objects.get()
    assert review_url.endswith(f"/deployments/{shop.pk}/change-requests/{request.pk}/")
    assert Environment.objects.get(pk=production.pk).active_version.number == 17
    problems = axe_problems(page, "review, developer") + overflow_problem(page, "review")

    admin = shop_member(Role.ADMIN, "ann")
    reviewer = browser.new_page()
    try:
        reviewer.goto(f"{live_server.url}/login/")
        reviewer.get_by_label("Username").fill(admin.get_username())
        reviewer.get_by_label("Password").fill(PASSWORD)
        reviewer.get_by_role("button", name="Log in").click()
        reviewer.wait_for_url(f"{live_server.url}/")
        reviewer.goto(review_url)
        reviewer.evaluate("window.__noReload = true")
        expect(reviewer.get_by_test_id("version-move")).to_contain_text("v17")
        reviewer.get_by_label("Comment").fill("Looks right")
        reviewer.get_by_role("button", name="Approve").click()
        expect(reviewer.get_by_test_id("approval-count")).to_contain_text("1 of 1 approval")
        expect(reviewer.get_by_test_id("reviews")).to_contain_text("ann approved")
        reviewer.get_by_role("button", name="Apply: release v18 to production").click()
        expect(reviewer.get_by_text("Applied: production runs release")).to_be_visible()
        expect(reviewer.get_by_test_id("state")).to_have_text("Applied")
        assert reviewer.evaluate("window.__noReload") is True  # approved and applied in place
        problems += axe_problems(reviewer, "review, applied")

        reviewer.goto(f"{live_server.url}/deployments/{shop.pk}/")
        production_card = reviewer.locator("article.env-card.production")
        expect(production_card.get_by_test_id("version")).to_contain_text("v18")
    finally:
        reviewer.close()
    assert Environment.objects.get(pk=production.pk).active_version.number == 18
    assert problems == []


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_developer_requests_to_apply_pending_changes(
    page, live_server, shop, shop_member, login, width, tmp_path
):
    """Pending changes in a protected production: the developer's button reads "Request to
    apply", its confirmation says a request opens and takes a reason, and the request opens."""
    production = shop.environments.get(name="production")
    system = Actor.system("tests")
    services.set_protection(environment=production, required_approvals=1, actor=system)
    services.set_variable(
        environment=production, key="FEATURE_FLAG", value="on", is_secret=False, actor=system
    )
    page.set_viewport_size({"width": width, "height": 900})
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    pending = page.locator("#pending")
    pending.get_by_role("link", name=re.compile(r"^Request to apply \d+ changes?$")).click()
    expect(pending).to_contain_text("production is protected: this opens a change request")
    pending.get_by_label("Reason for the reviewers").fill("Turn the flag on for the launch")
    problems = axe_problems(page, f"request to apply, {width}") + overflow_problem(page, "apply")
    pending.screenshot(path=str(tmp_path / f"request-to-apply-{width}.png"))
    pending.get_by_role(
        "button", name=re.compile(r"^Request to apply \d+ changes? to production$")
    ).click()
    expect(page.get_by_test_id("reason")).to_contain_text("Turn the flag on for the launch")
    releases = production.releases.count()
    request = ChangeRequest.objects.get()
    assert (request.kind, request.reason) == ("apply", "Turn the flag on for the launch")
    assert Environment.objects.get(pk=production.pk).releases.count() == releases
    assert not problems, problems
