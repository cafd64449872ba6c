"""Before/after screenshots of issue 21's item 12, the audit log (docs/screenshots/issue-21/).

Not a test module (its name does not match test_*.py): run on purpose, with SHOTS=before on
the code before the change and SHOTS=after on it:

    SHOTS=after uv run --frozen pytest -q tests/browser/shots_issue21_audit.py
"""

import os
from pathlib import Path

import pytest

from environments.models import Role

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "issue-21"
WIDTHS = {"desktop": 1400, "phone": 390}

pytestmark = pytest.mark.browser


def test_screenshots(page, live_server, shop, shop_member, login):
    phase = os.environ.get("SHOTS", "after")
    login(shop_member(Role.ADMIN, "audrey"))
    base = f"{live_server.url}/deployments/{shop.pk}"
    page.goto(f"{base}/compare/?left=staging&right=production")  # a read, on record
    for width, px in WIDTHS.items():
        page.set_viewport_size({"width": px, "height": 900})
        page.goto(f"{base}/audit/")
        page.screenshot(path=OUT / f"item-12-{phase}-{width}.png")
