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

from .conftest import PASSWORD

DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.browser


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def local_admin(make_user):
    """The user `make run` prints (`manage.py ensure_local_admin`): the superuser "admin", who
    sees every deployment, the data servers and the Django admin link."""
    return make_user("admin", superuser=True)


@pytest.fixture
def phone(browser, live_server, local_admin):
    """A phone at 2x (390 px CSS, 780 px images), logged in as the local admin."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    yield page
    context.close()


def test_screenshots_of_the_main_pages(page, phone, live_server, shop, local_admin, login):
    page.set_viewport_size({"width": 1280, "height": 900})
    login(local_admin)

    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.screenshot(path=DOCS / "deployment.png", full_page=True)

    page.get_by_role("link", name="Promote v18 to production").click()
    confirm = page.get_by_role("button", name="Promote v18 to production")
    confirm.wait_for()
    page.screenshot(path=DOCS / "promote-confirmation.png", full_page=True)

    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    page.screenshot(path=DOCS / "environment.png", full_page=True)

    # The same page in the system's dark scheme.
    page.emulate_media(color_scheme="dark")
    page.reload()
    page.screenshot(path=DOCS / "environment-dark.png")
    page.emulate_media(color_scheme="light")

    # An empty state: a new deployment, nothing registered or deployed yet.
    empty = services.create_deployment(name="billing", actor=Actor.system("docs"))
    page.goto(f"{live_server.url}/deployments/{empty.pk}/")
    page.screenshot(path=DOCS / "empty-deployment.png")

    # On a phone at 2x: nothing scrolls sideways, every action is in view.
    phone.goto(f"{live_server.url}/deployments/{shop.pk}/")
    phone.screenshot(path=DOCS / "phone-deployment.png")
    phone.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    phone.screenshot(path=DOCS / "phone-environment.png")
    # An error state: a reserved key refused in place, the typed value kept.
    phone.get_by_label("Key", exact=True).fill("MIOSA_TOKEN")
    phone.get_by_label("Value", exact=True).fill("x")
    phone.get_by_role("button", name="Add variable").click()
    error = phone.locator("#new-key-error")
    expect(error).to_be_visible()
    error.scroll_into_view_if_needed()
    phone.screenshot(path=DOCS / "phone-form-error.png")

    shots = ("deployment.png", "promote-confirmation.png", "environment.png")
    for name in (*shots, "environment-dark.png", "empty-deployment.png"):
        assert (DOCS / name).stat().st_size > 10_000
    for name in ("phone-deployment.png", "phone-environment.png", "phone-form-error.png"):
        assert (DOCS / name).stat().st_size > 10_000
        assert _png_width(DOCS / name) == 2 * PHONE["width"], f"{name} is not at 2x"


def _png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")


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
