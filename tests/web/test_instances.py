"""The instances section of the environment page (SPEC §9): what each runtime instance booted
on, when it last fetched, and which ones must restart to pick up the live release."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import services
from environments.models import Role, RuntimeInstance


@pytest.fixture
def token(production):
    from environments.actors import Actor

    _, raw = services.create_runtime_token(
        environment=production, name="fleet", actor=Actor.system("tests")
    )
    return raw


def fetch(raw: str, instance: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {raw}"}
    if instance:
        headers["X-Miosa-Instance"] = instance
    assert Client().get(reverse("api_runtime_env"), headers=headers).status_code == 200


def _page(client, deployment) -> str:
    url = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "production"})
    return client.get(url).content.decode()


def _section(html: str) -> str:
    return html.split('<section id="instances"')[1].split("</section>")[0]


def test_without_instances_the_section_says_how_one_appears(as_role, deployment):
    section = _section(_page(as_role(Role.VIEWER), deployment))
    assert "No instance fetched in the last 24 hours" in section
    assert "X-Miosa-Instance" in section and "runtime" in section


def test_an_instance_on_an_older_release_is_flagged(
    as_role, deployment, production, staging, versions, actor, token
):
    fetch(token, "web-1")
    fetch(token)  # no header: listed under the token's name
    production.refresh_from_db()
    live = production.live_release
    old = f"release {live.number} · v1 · config {live.config_revision}"
    services.promote(source=staging, version_number=2, expected_target_version=1, actor=actor)
    fetch(token, "web-2")
    production.refresh_from_db()
    new = production.live_release
    section = _section(_page(as_role(Role.VIEWER), deployment))
    assert "web-1" in section and "web-2" in section and "via token fleet" in section
    assert old in section
    assert f"release {new.number} · v2 · config {new.config_revision}" in section
    assert section.count(f"restart to pick up release {new.number}") == 2  # web-1 and fleet
    assert section.count("on the live release") == 1  # web-2
    assert "<time datetime=" in section and "UTC" in section


def test_instances_not_seen_for_a_day_are_left_out(
    as_role, deployment, production, versions, token
):
    fetch(token, "old-box")
    RuntimeInstance.objects.filter(instance="old-box").update(
        last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    )
    fetch(token, "new-box")
    section = _section(_page(as_role(Role.VIEWER), deployment))
    assert "new-box" in section and "old-box" not in section


def _count(client, deployment) -> int:
    with CaptureQueriesContext(connection) as queries:
        _page(client, deployment)
    return len(queries)


def test_the_query_count_does_not_grow_with_instances(
    as_role, deployment, production, versions, token
):
    client = as_role(Role.OWNER)
    fetch(token, "i-0")
    few = _count(client, deployment)
    for i in range(1, 40):
        fetch(token, f"i-{i}")
    assert RuntimeInstance.objects.count() == 40
    assert _count(client, deployment) == few
