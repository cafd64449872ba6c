"""Before/after screenshots of issue 21's items 2, 4 and 5 (docs/screenshots/issue-21/).

Not a test module (its name does not match test_*.py): run on purpose, with SHOTS=before on
the code before the change and SHOTS=after on it:

    SHOTS=after uv run --frozen pytest -q tests/browser/shots_issue21_history.py
"""

import os
from pathlib import Path

import pytest

from environments import services
from environments.actors import Actor
from environments.models import Role

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "issue-21"
WIDTHS = {"desktop": 1400, "phone": 390}

pytestmark = pytest.mark.browser


def _shot(page, name: str, width: str) -> None:
    page.screenshot(path=OUT / f"{name}-{os.environ.get('SHOTS', 'after')}-{width}.png")


def test_screenshots(page, live_server, shop, shop_member, login):
    phase = os.environ.get("SHOTS", "after")
    staging = shop.environments.get(name="staging")
    services.set_variable(
        environment=staging,
        key="API_TIMEOUT_MS",
        value="2500",
        is_secret=None,
        actor=Actor.system("ops"),
    )
    services.create_environment(
        deployment=shop, name="preview/x", copy_from=staging, actor=Actor.system("ops")
    )
    login(shop_member(Role.OWNER, "olivia"))
    base = f"{live_server.url}/deployments/{shop.pk}"
    for width, px in WIDTHS.items():
        page.set_viewport_size({"width": px, "height": 900})
        # Item 2: a copy of staging runs nothing; after, it deploys a recent version.
        if phase == "before":
            page.goto(f"{base}/env/preview/x/")
        else:
            page.goto(f"{base}/env/preview/x/-/deploy/?version=18")
        _shot(page, "item-2", width)
        # Item 4: LOG_LEVEL's history in production.
        page.goto(f"{base}/env/production/-/variables/LOG_LEVEL/history/")
        if phase == "after":
            page.get_by_role("button", name="Show values").click()
            page.get_by_test_id("value-change").first.wait_for()
            # The status region is refilled 100 ms after a swap (app.js): wait for it.
            page.get_by_test_id("pending-apply").wait_for()
        _shot(page, "item-4", width)
        # Item 5: compare staging with production.
        page.goto(f"{base}/compare/?left=staging&right=production")
        if phase == "after":
            page.get_by_role("checkbox", name="Copy API_TIMEOUT_MS to production").check()
            page.get_by_role("button", name="Copy selected to production").click()
            page.get_by_role("button", name="Copy 1 key to production").wait_for()
        _shot(page, "item-5", width)
