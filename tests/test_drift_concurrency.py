"""copy_keys under concurrency (PostgreSQL): copies in opposite directions take their locks in
one order (the deployment, then both environments by id), so none deadlocks and each is one
revision."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import Environment
from tests.concurrently import run_concurrently, skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_copies_in_opposite_directions_do_not_deadlock(staging, production, actor):
    skip_unless_postgres()
    services.set_variable(environment=staging, key="A", value="a", is_secret=None, actor=actor)
    services.set_variable(environment=production, key="B", value="b", is_secret=None, actor=actor)
    before = {e.name: e.config_revision for e in Environment.objects.all()}
    jobs = []
    for _ in range(4):
        jobs.append(
            lambda: services.copy_keys(source=staging, target=production, keys=["A"], actor=actor)
        )
        jobs.append(
            lambda: services.copy_keys(source=production, target=staging, keys=["B"], actor=actor)
        )
    results = run_concurrently(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    after = {e.name: e.config_revision for e in Environment.objects.all()}
    assert after["production"] == before["production"] + 4
    assert after["staging"] == before["staging"] + 4
