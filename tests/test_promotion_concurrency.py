"""Concurrent promotions never lose a history row (row lock on the target, SPEC §2).

Runs on PostgreSQL, where requests really run in parallel; SQLite serializes writers anyway.
"""

from __future__ import annotations

import itertools

import pytest

from environments import services
from environments.errors import Conflict
from environments.models import Environment, Release
from tests.concurrently import run_concurrently, skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


def run_in_threads(work) -> list[object]:
    return run_concurrently([lambda i=i: work(i) for i in range(THREADS)], timeout=60)


def test_concurrent_deploys_into_production_keep_a_consistent_history(deployment, actor):
    staging = Environment.objects.get(deployment=deployment, name="staging")
    production = Environment.objects.get(deployment=deployment, name="production")
    versions = []
    for _ in range(THREADS + 1):
        version = services.create_version(deployment=deployment, actor=actor)
        services.deploy_version(environment=staging, version=version, actor=actor)
        versions.append(version)
    services.deploy_version(environment=production, version=versions[0], actor=actor)

    results = run_in_threads(
        lambda i: services.deploy_version(
            environment=production, version=versions[i + 1], actor=actor
        )
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    rows = list(Release.objects.filter(environment=production).order_by("id"))
    assert len(rows) == THREADS + 1  # the first deploy, plus one per successful thread
    for before, after in itertools.pairwise(rows):
        assert after.from_version_id == before.version_id  # no lost update
    production.refresh_from_db()
    assert production.active_version_id == rows[-1].version_id


def test_concurrent_clicks_on_one_promote_button_promote_once(deployment, actor):
    staging = Environment.objects.get(deployment=deployment, name="staging")
    production = Environment.objects.get(deployment=deployment, name="production")
    v1 = services.create_version(deployment=deployment, actor=actor)
    v2 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=v1, actor=actor)
    services.promote(source=staging, version_number=1, expected_target_version=None, actor=actor)
    services.deploy_version(environment=staging, version=v2, actor=actor)

    results = run_in_threads(
        lambda i: services.promote(
            source=staging,
            version_number=2,
            expected_target_version=1,
            actor=actor,
        )
    )
    successes = [r for r in results if isinstance(r, Release)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(successes) == 1 and len(conflicts) == THREADS - 1, results
    assert all(c.code == "stale" for c in conflicts)
    assert Release.objects.filter(environment=production, kind="promote").count() == 2
    production.refresh_from_db()
    assert production.active_version_id == v2.pk
