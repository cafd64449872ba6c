"""Instances (SPEC §9): a runtime fetch records (environment, instance) → the release it booted
on, as one row per instance, in the transaction of its audit event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from environments import selectors, services
from environments.models import Environment, RuntimeInstance

URL = "/api/v1/runtime/env"


@pytest.fixture
def live_staging(deployment, staging, actor):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    return staging


@pytest.fixture
def fetch(client: Client, live_staging, actor):
    _, raw = services.create_runtime_token(environment=live_staging, name="web", actor=actor)

    def get(instance: str | None = None, **headers):
        if instance is not None:
            headers["X-Miosa-Instance"] = instance
        return client.get(URL, headers={"Authorization": f"Bearer {raw}", **headers})

    return get


def fresh(environment: Environment) -> Environment:
    return Environment.objects.select_related("live_release").get(pk=environment.pk)


def test_each_instance_is_one_row_whatever_the_number_of_fetches(fetch, live_staging):
    for _ in range(3):
        assert fetch("web-1").status_code == 200
    assert fetch("web-2").status_code == 200
    rows = RuntimeInstance.objects.filter(environment=live_staging).order_by("instance")
    assert [(r.instance, r.release_number, r.token_name) for r in rows] == [
        ("web-1", 1, "token web"),
        ("web-2", 1, "token web"),
    ]


def test_without_a_header_the_token_names_the_instance(fetch, live_staging):
    fetch()
    assert RuntimeInstance.objects.get(environment=live_staging).instance == "token web"


@pytest.mark.parametrize("bad", ["a b", "x" * 101, "web/1", "é"])
def test_a_malformed_instance_id_is_400_and_records_nothing(fetch, live_staging, bad):
    response = fetch(bad.encode("utf-8").decode("latin-1"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "X-Miosa-Instance"
    assert not RuntimeInstance.objects.exists()


def test_an_instance_on_an_older_release_is_flagged(fetch, live_staging, actor):
    fetch("old-1")
    services.set_variable(
        environment=live_staging, key="API_URL", value="https://new", is_secret=None, actor=actor
    )  # immediate: release 2
    fetch("new-1")
    rows = {row.instance: row for row in selectors.instances(fresh(live_staging))}
    assert (rows["old-1"].release_number, rows["old-1"].stale) == (1, True)
    assert (rows["new-1"].release_number, rows["new-1"].stale) == (2, False)


def test_only_the_last_24_hours_are_listed(fetch, live_staging):
    fetch("gone")
    fetch("here")
    RuntimeInstance.objects.filter(instance="gone").update(
        last_seen_at=timezone.now() - timedelta(hours=25)
    )
    assert [row.instance for row in selectors.instances(fresh(live_staging))] == ["here"]


def test_a_304_still_records_the_instance(fetch, live_staging):
    etag = fetch("web-1")["ETag"]
    RuntimeInstance.objects.all().delete()
    assert fetch("web-1", **{"If-None-Match": etag}).status_code == 304
    assert RuntimeInstance.objects.filter(instance="web-1").exists()
