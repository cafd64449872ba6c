"""Every page does the same number of queries with few rows as with many."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import services
from environments.models import Role


def grow(deployment, actor, member, numbers: range) -> None:
    """More of everything the pages list: history rows, members, domains, events,
    environments, variables."""
    staging = deployment.environments.get(name="staging")
    production = deployment.environments.get(name="production")
    for i in numbers:
        version = services.create_version(deployment=deployment, label=f"b{i}", actor=actor)
        services.deploy_version(environment=staging, version=version, actor=actor)
        production.refresh_from_db(fields=["active_version"])
        running = production.active_version.number if production.active_version else None
        services.promote(
            source=staging,
            version_number=version.number,
            expected_target_version=running,
            actor=actor,
        )
        member(Role.VIEWER, username=f"viewer-{i}")
        services.add_domain(environment=production, hostname=f"h{i}.example.com", actor=actor)
        qa = services.create_environment(deployment=deployment, name=f"qa-{i}", actor=actor)
        services.set_variable(environment=qa, key="K", value="v", is_secret=True, actor=actor)
        services.set_variable(
            environment=production, key=f"K{i}", value="v", is_secret=None, actor=actor
        )


PAGES = [
    ("environment_history", {"name": "production"}),
    ("members", {}),
    ("deployment_settings", {}),
    ("audit_log", {}),
    ("deployment", {}),
    ("environment", {"name": "production"}),
    ("compare", {}),
]


def count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("view, kwargs", PAGES, ids=[v for v, _ in PAGES])
def test_pages_do_a_fixed_number_of_queries(as_role, deployment, actor, member, view, kwargs):
    client = as_role(Role.OWNER)
    url = reverse(view, kwargs={"deployment_id": deployment.pk, **kwargs})
    grow(deployment, actor, member, range(1))
    count(client, url)  # a compare within a minute of this one is counted into its event
    few = count(client, url)
    grow(deployment, actor, member, range(1, 13))
    assert count(client, url) == few
