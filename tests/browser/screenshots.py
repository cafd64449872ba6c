"""Screenshots of the real pages for the README, saved in docs/ (tracked files).

Not a test module (its name does not match test_*.py), so `make test` never rewrites the
screenshots; `make screenshots` runs it on purpose:

    uv run --frozen pytest -q tests/browser/screenshots.py
"""

from pathlib import Path

import pytest

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
