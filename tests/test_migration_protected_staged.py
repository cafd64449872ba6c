"""Migration 0016: environments protected while their config changes went live immediately
become staged (a protected environment's changes wait for an approved apply); others keep
their mode."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("environments", "0015_change_requests")]
AFTER = [("environments", "0016_protected_environments_are_staged")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_protected_immediate_environments_become_staged():
    apps = migrate(BEFORE)
    Deployment = apps.get_model("environments", "Deployment")
    Environment = apps.get_model("environments", "Environment")
    Protection = apps.get_model("environments", "Protection")
    shop = Deployment.objects.create(name="shop-0016")
    made = {
        name: Environment.objects.create(deployment=shop, name=name, config_changes=mode)
        for name, mode in (
            ("protected", "immediate"),
            ("off", "immediate"),
            ("unprotected", "immediate"),
            ("staged", "staged"),
        )
    }
    Protection.objects.create(environment=made["protected"], required_approvals=2)
    Protection.objects.create(environment=made["off"], required_approvals=0)
    Protection.objects.create(environment=made["staged"], required_approvals=1)

    apps = migrate(AFTER)
    Environment = apps.get_model("environments", "Environment")
    modes = dict(
        Environment.objects.filter(deployment__name="shop-0016").values_list(
            "name", "config_changes"
        )
    )
    assert modes == {
        "protected": "staged",
        "off": "immediate",
        "unprotected": "immediate",
        "staged": "staged",
    }
