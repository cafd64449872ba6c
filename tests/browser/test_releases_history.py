"""Releases in a real browser: a rollback with its configuration reaches the runtime, and a
secret is restored from its history without ever being shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments import selectors, services
from environments.actors import Actor
from environments.management.commands.seed_demo import DEMO_SECRET_VALUES
from environments.models import Role

pytestmark = pytest.mark.browser


def runtime(page, live_server, environment) -> dict:
    """What an instance of `environment` gets at boot, through the runtime endpoint."""
    _, raw = services.create_runtime_token(
        environment=environment, name=f"boot-{environment.config_revision}", actor=Actor.system("t")
    )
    response = page.request.get(
        f"{live_server.url}/api/v1/runtime/env",
        headers={"Authorization": f"Bearer {raw}", "X-Miosa-Instance": "browser-test"},
    )
    assert response.status == 200
    return response.json()


def test_rolling_back_with_configuration_gives_the_runtime_the_old_value_and_version(
    page, live_server, shop, shop_member, login
):
    production = shop.environments.get(name="production")
    admin = Actor.system("another admin")
    services.set_variable(
        environment=production,
        key="API_URL",
        value="https://api-v2.example.com",
        is_secret=None,
        actor=admin,
    )
    services.apply_changes(environment=production, actor=admin)
    before = runtime(page, live_server, production)
    assert before["version"] == 17 and before["env"]["API_URL"] == "https://api-v2.example.com"
    ran_v16 = production.releases.get(version__number=16).number

    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/-/history/")
    page.evaluate("window.__noReload = true")
    row = page.locator(
        "tr", has=page.get_by_role("button", name=f"Roll back to release {ran_v16} ")
    )
    expect(row.get_by_label("What to roll back")).to_have_value("restore")  # the default
    row.get_by_label("What to roll back").select_option(label="Version and its configuration")
    row.get_by_role("button", name=f"Roll back to release {ran_v16}").click()
    # The question replaces the row, in place (no browser dialog).
    question = page.locator("#history tr.confirming")
    expect(question).to_contain_text(f"Roll production back to release {ran_v16} (v16)?")
    question.get_by_role("button", name=f"Roll back to release {ran_v16}").click()

    expect(page.get_by_text(f"production rolled back to release {ran_v16} (v16)")).to_be_visible()
    assert page.evaluate("window.__noReload") is True
    after = runtime(page, live_server, production)
    assert after["version"] == 16
    assert after["env"]["API_URL"] == "https://api.shop.example.com"  # the value v16 ran with
    assert after["env"]["MIOSA_RELEASE"] == str(after["release"])
    assert after["release"] > before["release"]


def test_a_secret_is_restored_from_its_history_without_being_shown(
    page, live_server, shop, shop_member, login
):
    staging = shop.environments.get(name="staging")  # immediate: a restore goes live at once
    original = "sk_test_demo_51HsStagCanary8R3"
    rotated = "sk_test_rotated_canary_value_42"
    services.set_variable(
        environment=staging,
        key="STRIPE_SECRET_KEY",
        value=rotated,
        is_secret=None,
        actor=Actor.system("ops"),
    )
    assert runtime(page, live_server, staging)["env"]["STRIPE_SECRET_KEY"] == rotated
    hidden = [*DEMO_SECRET_VALUES, rotated]
    revision = selectors.key_history(staging, "STRIPE_SECRET_KEY")[1].revision  # the original

    def shows_no_secret() -> None:
        html = page.content()
        for value in hidden:
            assert value not in html

    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.get_by_role("link", name="History of STRIPE_SECRET_KEY").click()
    expect(
        page.get_by_role("heading", name="History of STRIPE_SECRET_KEY in staging")
    ).to_be_visible()
    shows_no_secret()

    first = page.get_by_role("button", name=f"Restore revision {revision} of STRIPE_SECRET_KEY")
    page.evaluate("window.__noReload = true")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    first.click()
    # The question replaces the row, in place (issue 21: no browser dialog).
    question = page.locator("#key-history tr.confirming")
    expect(question).to_contain_text("it is not shown")
    shows_no_secret()
    question.get_by_role("button", name=f"Restore revision {revision}").click()
    expect(
        page.get_by_text(f"STRIPE_SECRET_KEY is back to its value at revision {revision}")
    ).to_be_visible()
    assert page.evaluate("window.__noReload") is True
    assert dialogs == []
    shows_no_secret()
    assert runtime(page, live_server, staging)["env"]["STRIPE_SECRET_KEY"] == original
