"""Shared groups under concurrent writes (PostgreSQL): group writes, writes to the environments
that link or reference it, deploys and applies at once deadlock nowhere, and every environment
ends up serving what its configuration resolves to (no propagation lost)."""

from __future__ import annotations

import pytest
from django.db import connection

from environments import resolver, selectors, services
from environments.models import Environment, Group
from environments.services import VariableInput
from tests.concurrently import run_concurrently, skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_group_and_environment_writes_at_once_lose_nothing(deployment, staging, production, actor):
    skip_unless_postgres()
    group = services.create_group(deployment=deployment, name="common", actor=actor)
    services.set_group_variables(group=group, items=[VariableInput("BASE", "b0")], actor=actor)
    for environment in (staging, production):
        services.set_environment_groups(environment=environment, groups=["common"], actor=actor)
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.set_variable(
        environment=production, key="FROM_STAGING", value="x", is_secret=None, actor=actor
    )
    before = _deadlocks()

    def group_write(i):
        return lambda: services.set_group_variables(
            group=Group(pk=group.pk, deployment_id=deployment.pk, name="common"),
            items=[VariableInput("BASE", f"b{i}")],
            actor=actor,
        )

    def staging_write(i):
        return lambda: services.set_variable(
            environment=Environment(pk=staging.pk, deployment_id=deployment.pk, name="staging"),
            key=f"URL{i}",
            value=f"https://${{{{ common.BASE }}}}/{i}",
            is_secret=None,
            actor=actor,
        )

    def production_write(i):
        return lambda: services.set_variable(
            environment=Environment(
                pk=production.pk, deployment_id=deployment.pk, name="production"
            ),
            key=f"P{i}",
            value=f"${{{{ BASE }}}}-{i}",
            is_secret=None,
            actor=actor,
        )

    jobs = [f(i) for i in range(3) for f in (group_write, staging_write, production_write)]
    results = run_concurrently(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert _deadlocks() == before
    # What each environment's current configuration holds is what it resolves to now.
    world = resolver.World(deployment.pk)
    for environment in (staging, production):
        environment = Environment.objects.select_related("deployment").get(pk=environment.pk)
        expected = {k: r.value for k, r in world.environment(environment.name).items()}
        current = {
            k: v
            for k, v in selectors.runtime_config(
                Environment.objects.select_related("deployment").get(pk=environment.pk),
                just_read=True,
            ).env.items()
            if not k.startswith("MIOSA_")
        }
        assert current == expected, environment.name
