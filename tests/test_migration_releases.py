"""Migration 0002 (SPEC §9): the history rows of an existing database become releases, numbered
per environment, and every live value becomes revision 1 of its key's history, still
decryptable, so the runtime serves exactly what it served before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from environments import crypto

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("environments", "0001_initial")]
AFTER = [("environments", "0002_releases")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_history_becomes_releases_and_live_values_become_revision_one():
    apps = migrate(BEFORE)
    Deployment = apps.get_model("environments", "Deployment")
    Environment = apps.get_model("environments", "Environment")
    Version = apps.get_model("environments", "Version")
    VersionChange = apps.get_model("environments", "VersionChange")
    Variable = apps.get_model("environments", "Variable")
    Domain = apps.get_model("environments", "Domain")

    shop = Deployment.objects.create(name="shop", last_version_number=2)
    production = Environment.objects.create(deployment=shop, name="production")
    staging = Environment.objects.create(deployment=shop, name="staging", promotes_to=production)
    v1 = Version.objects.create(deployment=shop, number=1)
    v2 = Version.objects.create(deployment=shop, number=2)
    for environment, versions in ((staging, [v1, v2]), (production, [v1])):
        before = None
        for version in versions:
            VersionChange.objects.create(
                environment=environment, kind="deploy", from_version=before, to_version=version
            )
            before = version
        environment.active_version = before
        environment.save()
    keyring = crypto.get_keyring()
    for key, value in (("API_URL", "https://api"), ("TOKEN", "s3cret")):
        Variable.objects.create(
            environment=production,
            key=key,
            is_secret=key == "TOKEN",
            size=len(value),
            ciphertext=crypto.encrypt(
                value, context=crypto.variable_context(shop.pk, production.pk, key), keyring=keyring
            ),
            fingerprint=crypto.fingerprint(value, scope=f"deployment/{shop.pk}", keyring=keyring),
        )
    Domain.objects.create(hostname="shop.example", environment=production)

    apps = migrate(AFTER)
    Environment = apps.get_model("environments", "Environment")
    Release = apps.get_model("environments", "Release")
    production = Environment.objects.get(name="production")
    staging = Environment.objects.get(name="staging")
    assert list(
        Release.objects.filter(environment=staging)
        .order_by("number")
        .values_list("number", "version__number", "config_revision")
    ) == [(1, 1, 1), (2, 2, 1)]
    assert (staging.release_count, staging.live_release.number) == (2, 2)
    assert (production.config_changes, staging.config_changes) == ("staged", "immediate")

    migrate([("environments", "0002_releases")])  # the real models from here on
    from environments import selectors
    from environments.models import Environment as LiveEnvironment

    production = LiveEnvironment.objects.select_related("deployment", "live_release__version").get(
        name="production"
    )
    env = selectors.runtime_config(production).env
    assert env["API_URL"] == "https://api" and env["TOKEN"] == "s3cret"
    assert env["MIOSA_VERSION"] == "1" and env["MIOSA_RELEASE"] == "1"
    assert env["MIOSA_DOMAINS"] == "shop.example"
    assert not selectors.pending_changes(production)
