"""A secret's age, overdue flag and convergence hint on the environment page (SPEC §14), in a
real browser at desktop and phone widths: readable, no sideways scroll, no serious axe-core
violation; the settings page sets the maximum age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import ConfigEntry, Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser


@pytest.fixture
def overdue_and_converging(shop):
    """Staging's STRIPE_SECRET_KEY is 40 days old, past a 30-day maximum; a newer secret was set
    after an instance booted, which still runs without it."""
    actor = Actor.system("tests")
    staging = shop.environments.get(name="staging")
    services.set_max_secret_age(deployment=shop, days=30, actor=actor)
    services.set_variable(
        environment=staging, key="OLD_SECRET", value="o", is_secret=True, actor=actor
    )
    ConfigEntry.objects.filter(environment=staging, key="OLD_SECRET").update(
        set_at=timezone.now() - timedelta(days=40)
    )
    _, raw = services.create_runtime_token(environment=staging, name="fleet", actor=actor)
    headers = {"Authorization": f"Bearer {raw}", "X-Miosa-Instance": "web-7f9c2d-long-name"}
    assert Client().get(reverse("api_runtime_env"), headers=headers).status_code == 200
    services.set_variable(
        environment=staging,
        key="OLD_SECRET",
        value="rotated-but-not-restarted",
        is_secret=None,
        actor=actor,
    )
    return staging


@pytest.mark.parametrize("width", [(1400, 900), (390, 844)])
def test_the_secret_row_reads_well_at_every_width(
    page, live_server, shop, shop_member, login, overdue_and_converging, width
):
    page.set_viewport_size({"width": width[0], "height": width[1]})
    login(shop_member(Role.VIEWER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    row = page.locator("#var-OLD_SECRET")
    expect(row).to_contain_text("value set just now")
    expect(row).to_contain_text("1 instance on an older value")
    expect(row).to_contain_text("restart it to pick up the current one")
    problems = overflow_problem(page, f"staging at {width[0]}px") + axe_problems(
        page, f"staging at {width[0]}px"
    )
    assert problems == []


def test_an_overdue_secret_is_flagged_in_words(
    page, live_server, shop, shop_member, login, overdue_and_converging
):
    ConfigEntry.objects.filter(
        environment=overdue_and_converging, key="OLD_SECRET", end_revision__isnull=True
    ).update(set_at=timezone.now() - timedelta(days=40))
    login(shop_member(Role.VIEWER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    badge = page.locator("#var-OLD_SECRET").get_by_test_id("secret-overdue")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("overdue: older than 30 days; rotate it by setting a new value")
    assert axe_problems(page, "overdue secret") == []


def test_an_admin_sets_the_maximum_age_in_place(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/settings/")
    page.evaluate("window.__noReload = true")
    page.get_by_label("Maximum secret age (days)").fill("90")
    page.get_by_role("button", name="Save maximum age").click()
    expect(page.locator("#secret-age")).to_contain_text(
        "A secret older than 90 days is now flagged overdue."
    )
    assert page.evaluate("window.__noReload") is True
    shop.refresh_from_db()
    assert shop.max_secret_age_days == 90
