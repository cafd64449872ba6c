"""The data section in a real browser (SPEC §13): add a Postgres to staging, the worker creates
it on the real PostgreSQL, the row turns ready by itself (htmx polling), the managed binding
shows masked, and a runtime token's fetch gives a URL that connects."""

from __future__ import annotations

import json
import re
import urllib.request

import psycopg
import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import DataService
from tests.data_services_support import ADMIN_CANARY

pytest_plugins = ["tests.data_services_support"]
pytestmark = pytest.mark.browser

SHOTS = "/tmp/dsweb-shots"


def _fetch_env(live_server, raw_token: str) -> dict[str, str]:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/runtime/env", headers={"Authorization": f"Bearer {raw_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["env"]


def test_a_postgres_added_on_the_page_becomes_ready_and_connects(
    transactional_db, page, live_server, login, deployment, owner, prefixed, pg_server, worker
):
    actor = Actor(user=owner, label=owner.get_username())
    staging = deployment.environments.get(name="staging")
    version = services.create_version(deployment=deployment, label="v1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)

    login(owner)
    page.goto(f"{live_server.url}/deployments/{deployment.pk}/env/staging/")
    page.evaluate("window.__noReload = true")
    data = page.locator("#data")
    data.get_by_label("Variable name").fill("")
    data.get_by_role("button", name="Add").click()
    row = data.locator("tbody tr", has_text="DATABASE_URL")
    expect(row).to_contain_text("provisioning")
    flash = page.locator("#flash")
    expect(flash.get_by_text("it is bound as DATABASE_URL once ready")).to_be_visible()

    worker.run()  # the worker's part, as `manage.py db_worker` would run it

    # No reload: the row polls its state and settles; the bindings section reloads.
    expect(row).to_contain_text("ready", timeout=10_000)
    expect(row.locator("a.poll")).to_have_count(0)
    binding = page.locator("#bindings tr", has_text="DATABASE_URL")
    expect(binding).to_contain_text("managed")
    expect(binding.locator(".preview")).to_have_text(
        re.compile(r"^postgres://[a-z0-9_]+:••••@127\.0\.0\.1:5432/\S+$")
    )
    assert page.evaluate("window.__noReload") is True

    html = page.content()
    service = DataService.objects.get()
    assert service.credential() not in html and ADMIN_CANARY not in html

    _, raw = services.create_runtime_token(environment=staging, name="boot", actor=actor)
    url = _fetch_env(live_server, raw)["DATABASE_URL"]
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE orders (id int)")
        conn.execute("INSERT INTO orders VALUES (1)")
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)


def test_screenshots_of_the_data_section_and_the_data_servers_page(
    transactional_db,
    page,
    live_server,
    login,
    deployment,
    owner,
    make_user,
    prefixed,
    pg_server,
    worker,
):
    """Not an assertion of looks: the pictures in /tmp/dsweb-shots are for a person to look at."""
    actor = Actor(user=owner, label=owner.get_username())
    staging = deployment.environments.get(name="staging")
    worker(services.create_data_service, environment=staging, kind="postgres", actor=actor)
    worker.run()
    failed = services.create_data_service(
        environment=staging,
        kind="postgres",
        variable="REPORTS_DATABASE_URL",
        name="reports",
        actor=actor,
    )
    DataService.objects.filter(pk=failed.pk).update(
        state="failed", error="create database failed: InsufficientPrivilege"
    )
    services.create_data_service(
        environment=staging,
        kind="postgres",
        variable="CACHE_DATABASE_URL",
        name="cache-db",
        actor=actor,
    )
    boss = make_user("boss", superuser=True)
    login(boss)
    shots = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1400, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/deployments/{deployment.pk}/env/staging/#data")
            section = page.locator("#data")
            path = f"{SHOTS}/data-section-{width}-{scheme}.png"
            section.screenshot(path=path)
            shots.append(path)
            page.goto(f"{live_server.url}/data-servers/")
            path = f"{SHOTS}/data-servers-{width}-{scheme}.png"
            page.screenshot(path=path, full_page=True)
            shots.append(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert len(shots) == 8
