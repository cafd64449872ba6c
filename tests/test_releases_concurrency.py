"""Concurrent config writes, applies and rollbacks (SPEC §9) on PostgreSQL: no revision is lost,
and every release points at a revision holding exactly what writers had committed by then."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.errors import Conflict
from environments.models import ConfigEntry, Environment, Release
from tests.concurrently import run_concurrently, skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 20


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


@pytest.fixture
def live_production(deployment, actor):
    staging = Environment.objects.get(deployment=deployment, name="staging")
    production = Environment.objects.get(deployment=deployment, name="production")
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    return production


def config_at(environment: Environment, revision: int) -> dict[str, str]:
    environment = Environment.objects.select_related("deployment").get(pk=environment.pk)
    return {
        e.key: e.set_revision
        for e in selectors.entries_at(environment, revision).filter(kind="variable")
    }


def test_concurrent_writers_and_applies_lose_no_revision(live_production, actor):
    def writer(i: int):
        return lambda: services.set_variable(
            environment=live_production, key=f"K{i}", value=str(i), is_secret=None, actor=actor
        )

    def applier():
        try:
            return services.apply_changes(environment=live_production, actor=actor)
        except Conflict as exc:  # nothing pending at that instant
            return exc

    jobs = [writer(i) for i in range(WRITERS)] + [applier for _ in range(5)]
    results = run_concurrently(jobs)
    assert not [r for r in results[:WRITERS] if isinstance(r, Exception)], results
    assert all(isinstance(r, Release | Conflict) for r in results[WRITERS:]), results
    production = Environment.objects.get(pk=live_production.pk)
    assert production.config_revision == 1 + WRITERS  # one revision per write, none lost
    revisions = sorted(
        ConfigEntry.objects.filter(environment=production).values_list("set_revision", flat=True)
    )
    assert revisions == list(range(2, 2 + WRITERS))
    # Each release's configuration is exactly the writes committed before it: every key set at
    # or below its revision, and none above.
    for release in Release.objects.filter(environment=production):
        config = config_at(production, release.config_revision)
        assert all(revision <= release.config_revision for revision in config.values())
        assert len(config) == release.config_revision - 1


def test_rollback_under_concurrent_writes_is_atomic(live_production, actor):
    services.set_variable(
        environment=live_production, key="API_URL", value="old", is_secret=None, actor=actor
    )
    first = services.apply_changes(environment=live_production, actor=actor)
    services.set_variable(
        environment=live_production, key="API_URL", value="new", is_secret=None, actor=actor
    )
    services.apply_changes(environment=live_production, actor=actor)

    jobs = [
        lambda i=i: services.set_variable(
            environment=live_production, key=f"W{i}", value="w", is_secret=None, actor=actor
        )
        for i in range(WRITERS)
    ] + [
        lambda: services.rollback(
            environment=live_production, release=first.number, config="restore", actor=actor
        )
    ]
    results = run_concurrently(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    production = Environment.objects.select_related("deployment", "live_release__version").get(
        pk=live_production.pk
    )
    assert production.live_release.kind == "rollback"
    assert production.live_release.config_revision == first.config_revision
    assert selectors.runtime_config(production).env["API_URL"] == "old"
    assert production.config_revision == first.config_revision + 1 + WRITERS
