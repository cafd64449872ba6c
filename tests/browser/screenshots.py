"""Screenshots of the real pages for the README, saved in docs/ (tracked files).

Not a test module (its name does not match test_*.py), so `make test` never rewrites the
screenshots; `make screenshots` runs it on purpose:

    uv run --frozen pytest -q tests/browser/screenshots.py
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.browser


def test_screenshots_of_the_main_pages(page, live_server, shop, shop_member, login):
    owner = shop_member(Role.OWNER, "olivia")
    page.set_viewport_size({"width": 1280, "height": 900})
    login(owner)

    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.screenshot(path=DOCS / "deployment.png", full_page=True)

    page.get_by_role("link", name="Promote v18 to production").click()
    confirm = page.get_by_role("button", name="Promote v18 to production")
    confirm.wait_for()
    page.screenshot(path=DOCS / "promote-confirmation.png", full_page=True)

    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    page.screenshot(path=DOCS / "environment.png", full_page=True)

    # On a phone: nothing scrolls sideways, every action is in view.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.screenshot(path=DOCS / "phone-deployment.png", full_page=True)
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    page.screenshot(path=DOCS / "phone-environment.png", full_page=True)

    shots = ("deployment.png", "promote-confirmation.png", "environment.png")
    for name in (*shots, "phone-deployment.png", "phone-environment.png"):
        assert (DOCS / name).stat().st_size > 10_000


def test_screenshots_of_the_history_pages(page, live_server, shop, shop_member, login):
    """docs/variable-history.png and docs/release-history.png, for the README."""
    production = shop.environments.get(name="production")
    ops = Actor.system("ops")
    for value in ("sk_live_rotated_canary_1", "sk_live_demo_51HsPr0dCanary7Q2"):
        services.set_variable(
            environment=production, key="STRIPE_SECRET_KEY", value=value, is_secret=None, actor=ops
        )
    services.apply_changes(environment=production, actor=ops)
    services.set_variable(
        environment=production,
        key="STRIPE_SECRET_KEY",
        value="sk_live_r2",
        is_secret=None,
        actor=ops,
    )
    page.set_viewport_size({"width": 1400, "height": 800})
    login(shop_member(Role.OWNER, "olivia"))
    base = f"{live_server.url}/deployments/{shop.pk}/env/production/-/"
    page.goto(base + "variables/STRIPE_SECRET_KEY/history/")
    expect(page.get_by_role("cell", name="same value as revision")).to_be_visible()
    page.screenshot(path=DOCS / "variable-history.png", full_page=True)
    page.goto(base + "history/")
    expect(page.get_by_text("Releases of production")).to_be_visible()
    page.screenshot(path=DOCS / "release-history.png", full_page=True)
    for name in ("variable-history.png", "release-history.png"):
        assert (DOCS / name).stat().st_size > 10_000
