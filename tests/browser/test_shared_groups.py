"""Shared groups in a real browser (SPEC §19): SENTRY_DSN in the group `common`, linked to
staging and production, seen on both environment pages; changed once in the group, staging
gets it live at once and production shows it pending, saying why."""

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser


def _runtime_env(page, live_server, token: str) -> dict:
    response = page.request.get(
        f"{live_server.url}/api/v1/runtime/env", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    return response.json()["env"]


def test_a_group_linked_to_staging_and_production_changes_live_and_pending(
    page, live_server, shop, shop_member, login
):
    system = Actor.system("tests")
    staging = shop.environments.get(name="staging")
    production = shop.environments.get(name="production")
    # The demo sets SENTRY_DSN in production; it moves into the shared group.
    services.delete_variable(environment=production, key="SENTRY_DSN", actor=system)
    services.apply_changes(environment=production, actor=system)  # and the demo's LOG_LEVEL
    tokens = {
        env.name: services.create_runtime_token(environment=env, name="web", actor=system)[1]
        for env in (staging, production)
    }
    login(shop_member(Role.ADMIN))
    base = f"{live_server.url}/deployments/{shop.pk}"

    # Create the group and its variable.
    page.goto(f"{base}/groups/")
    page.get_by_label("Name").fill("common")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Group common")).to_be_visible()
    page.get_by_label("Key").fill("SENTRY_DSN")
    page.get_by_label("Value").fill("https://key@sentry.example/1")
    page.get_by_role("button", name="Save variable").click()
    expect(page.locator("#var-SENTRY_DSN")).to_contain_text("https://…")

    # Link it to staging and production; each page shows the key and where it comes from.
    for name in ("staging", "production"):
        page.goto(f"{base}/env/{name}/")
        groups = page.locator("#groups")
        groups.get_by_label("Linked groups, in order").fill("common")
        groups.get_by_role("button", name="Save linked groups").click()
        section = page.locator("#groups")
        expect(section.get_by_test_id("linked-group")).to_have_text("common")
        expect(section.locator("#group-var-SENTRY_DSN")).to_contain_text("common")
    services.apply_changes(environment=production, actor=system)  # production stages the link
    assert _runtime_env(page, live_server, tokens["staging"])["SENTRY_DSN"] == (
        "https://key@sentry.example/1"
    )
    assert _runtime_env(page, live_server, tokens["production"])["SENTRY_DSN"] == (
        "https://key@sentry.example/1"
    )

    # Change it once, in the group.
    page.goto(f"{base}/groups/common/")
    expect(
        page.get_by_text("Production links it: writing it needs the admin role.")
    ).to_be_visible()
    page.get_by_label("Key").fill("SENTRY_DSN")
    page.get_by_label("Value").fill("https://v2@sentry.example/1")
    page.get_by_role("button", name="Save variable").click()
    expect(page.locator("#var-SENTRY_DSN")).to_contain_text("revision")

    # Staging runs it at once; production shows it pending, with the cause.
    assert _runtime_env(page, live_server, tokens["staging"])["SENTRY_DSN"] == (
        "https://v2@sentry.example/1"
    )
    assert _runtime_env(page, live_server, tokens["production"])["SENTRY_DSN"] == (
        "https://key@sentry.example/1"
    )
    page.goto(f"{base}/env/production/")
    pending = page.locator("#pending")
    expect(pending).to_contain_text("1 pending change")
    expect(pending.get_by_test_id("pending-cause")).to_have_text(
        "SENTRY_DSN changes because common.SENTRY_DSN changed"
    )
    page.goto(f"{base}/env/staging/")
    expect(page.locator("#pending")).to_be_hidden()


def test_the_groups_pages_are_accessible_and_fit_a_phone(
    page, live_server, shop, shop_member, login
):
    system = Actor.system("tests")
    group = services.create_group(deployment=shop, name="observability", actor=system)
    services.set_group_variables(
        group=group,
        items=[
            services.VariableInput("SENTRY_DSN", "https://key@sentry.example.com/1234567"),
            services.VariableInput("OTEL_EXPORTER_OTLP_HEADERS_WITH_A_LONG_NAME", "x" * 200),
            services.VariableInput("TOKEN", "t0k3n", True),
        ],
        actor=system,
    )
    staging = shop.environments.get(name="staging")
    services.set_environment_groups(environment=staging, groups=["observability"], actor=system)
    login(shop_member(Role.ADMIN))
    base = f"{live_server.url}/deployments/{shop.pk}"
    problems = []
    for width, height in ((1400, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for url in (f"{base}/groups/", f"{base}/groups/observability/", f"{base}/env/staging/"):
            page.goto(url)
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                problems += axe_problems(page, f"{url} {width}px {scheme}")
            problems += overflow_problem(page, f"{url} {width}px")
    assert problems == []
