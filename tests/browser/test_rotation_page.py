"""Issue 20 in a real browser: an admin rotates a Redis credential from its page, sees
"rotating: 0 of 1 instances on the new credential" and the instance still on the old one, and,
once that instance has booted on the new release, "rotated: the old credential is revoked" —
on the real Redis, the worker's steps run as `manage.py db_worker` would."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor

pytest_plugins = ["tests.data_services_support"]
pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "issue-20"


def _boot(live_server, raw_token: str, instance: str) -> dict[str, str]:
    """An instance fetching its environment at boot, as `miosa run` does."""
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/runtime/env",
        headers={"Authorization": f"Bearer {raw_token}", "X-Miosa-Instance": instance},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["env"]


@pytest.mark.parametrize("width", [1400, 390], ids=["desktop", "phone"])
def test_an_admin_rotates_and_watches_the_instances_move(
    transactional_db,
    page,
    live_server,
    login,
    deployment,
    owner,
    prefixed,
    redis_server,
    worker,
    settings,
    width,
):
    settings.ROTATION_DRAIN_SECONDS = 0
    actor = Actor(user=owner, label=owner.get_username())
    staging = deployment.environments.get(name="staging")
    version = services.create_version(deployment=deployment, label="v1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    cache = worker(services.create_data_service, environment=staging, kind="redis", actor=actor)
    worker.run()
    _, raw = services.create_runtime_token(environment=staging, name="web", actor=actor)
    old_url = _boot(live_server, raw, "web-1")["REDIS_URL"]

    page.set_viewport_size({"width": width, "height": 900})
    login(owner)
    page.goto(
        f"{live_server.url}/deployments/{deployment.pk}/env/staging/-/data/{cache.pk}/rotation/"
    )
    page.get_by_role("link", name="Rotate").click()
    page.get_by_role("button", name="Rotate").click()
    summary = page.get_by_test_id("rotation-summary").first
    expect(summary).to_contain_text("rotating")

    worker.run()  # create and test the new credential, release it, start converging
    page.reload()
    expect(summary).to_contain_text("rotating: 0 of 1 instance on the new credential")
    old = page.get_by_test_id("instances-on-old")
    expect(old).to_contain_text("web-1")
    if os.environ.get("SHOTS"):
        page.screenshot(path=SHOTS / f"rotating-{'desktop' if width == 1400 else 'phone'}.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    new_url = _boot(live_server, raw, "web-1")["REDIS_URL"]  # the instance restarts
    assert new_url != old_url
    worker.run(deferred=True)  # converge, revoke, drain
    page.reload()
    expect(summary).to_contain_text("rotated: the old credential is revoked")
    assert "••••" in page.content() or new_url not in page.content()
    assert new_url not in page.content() and old_url not in page.content()
    if os.environ.get("SHOTS"):
        page.screenshot(path=SHOTS / f"revoked-{'desktop' if width == 1400 else 'phone'}.png")
