from __future__ import annotations

import pytest
from django.db import transaction

from environments import services
from environments.errors import Conflict, Invalid, NotFound
from environments.models import AuditEvent, Deployment, Environment, Release, Version
from tests.runtime import runtime_env


@pytest.fixture
def versions(deployment, actor):
    return [
        services.create_version(deployment=deployment, label=f"sha{i}", actor=actor)
        for i in range(3)
    ]


def test_version_numbers_count_up_and_are_never_reused(deployment, actor, versions):
    assert [v.number for v in versions] == [1, 2, 3]
    versions[2].delete()
    assert services.create_version(deployment=deployment, actor=actor).number == 4


def test_production_accepts_only_versions_that_ran_in_staging(production, staging, versions, actor):
    with pytest.raises(Conflict) as excinfo:
        services.deploy_version(environment=production, version=versions[0], actor=actor)
    assert excinfo.value.code == "staging_first"
    services.deploy_version(environment=staging, version=versions[0], actor=actor)
    services.deploy_version(environment=staging, version=versions[1], actor=actor)
    # v1 *once was* active in staging: still allowed.
    services.deploy_version(environment=production, version=versions[0], actor=actor)
    assert production.__class__.objects.get(pk=production.pk).active_version == versions[0]


def test_promote_moves_only_the_version(production, staging, versions, actor):
    services.set_variable(
        environment=production, key="K", value="prod", is_secret=None, actor=actor
    )
    services.set_variable(environment=staging, key="K", value="stag", is_secret=None, actor=actor)
    services.deploy_version(environment=staging, version=versions[1], actor=actor)
    change = services.promote(
        source=staging, version_number=2, expected_target_version=None, actor=actor
    )
    assert change.version == versions[1] and change.from_version is None
    assert change.kind == "promote" and change.source_environment == "staging"
    production.refresh_from_db()
    assert runtime_env(production)["K"] == "prod"
    assert runtime_env(production)["MIOSA_VERSION"] == "2"
    assert AuditEvent.objects.filter(action="version.promote", target="v2").exists()


def test_stale_promotions_are_refused(production, staging, versions, actor):
    services.deploy_version(environment=staging, version=versions[0], actor=actor)
    services.promote(
        source=staging,
        version_number=1,
        actor=actor,
        expected_target_version=None,
    )
    services.deploy_version(environment=staging, version=versions[1], actor=actor)
    with pytest.raises(Conflict) as excinfo:  # the page showed staging on v1, it now runs v2
        services.promote(source=staging, version_number=1, expected_target_version=1, actor=actor)
    assert excinfo.value.code == "stale"
    with pytest.raises(Conflict):  # the page showed production on nothing; it runs v1
        services.promote(
            source=staging,
            version_number=2,
            actor=actor,
            expected_target_version=None,
        )
    services.promote(source=staging, version_number=2, actor=actor, expected_target_version=1)


def test_rollback_only_to_a_version_the_environment_ran(production, staging, versions, actor):
    for v in versions[:2]:
        services.deploy_version(environment=staging, version=v, actor=actor)
        services.promote(
            source=staging,
            version_number=v.number,
            expected_target_version=v.number - 1 or None,
            actor=actor,
        )
    # A rollback picks one of the environment's own releases (SPEC §9): v3 never ran here, so
    # there is no release of it to pick.
    with pytest.raises(NotFound) as excinfo:
        services.rollback(environment=production, release=3, config="restore", actor=actor)
    assert excinfo.value.code == "not_found"
    change = services.rollback(environment=production, release=1, config="restore", actor=actor)
    assert (change.from_version.number, change.version.number) == (2, 1)
    assert list(Release.objects.filter(environment=production).values_list("kind", flat=True)) == [
        "rollback",
        "promote",
        "promote",
    ]


def test_a_pipeline_cannot_loop(deployment, staging, actor):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.set_promotion_target(environment=qa, promotes_to=staging, actor=actor)
    with pytest.raises(Invalid) as excinfo:
        services.set_promotion_target(environment=staging, promotes_to=qa, actor=actor)
    assert excinfo.value.code == "promotion_cycle"
    staging.refresh_from_db()
    assert staging.promotes_to.name == "production"


def test_a_promotion_is_refused_if_the_source_was_repointed_after_the_check(
    deployment, production, staging, versions, actor
):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    sink = services.create_environment(deployment=deployment, name="qa-sink", actor=actor)
    services.set_promotion_target(environment=qa, promotes_to=sink, actor=actor)
    services.deploy_version(environment=staging, version=versions[0], actor=actor)
    services.deploy_version(environment=qa, version=versions[0], actor=actor)
    checked_target = sink.pk  # what the caller checked the role against
    services.set_promotion_target(environment=qa, promotes_to=production, actor=actor)
    with pytest.raises(Conflict) as excinfo:
        services.promote(
            source=qa,
            version_number=1,
            expected_target_version=None,
            actor=actor,
            target_id=checked_target,
        )
    assert excinfo.value.code == "stale"
    production.refresh_from_db()
    assert production.active_version is None


def test_a_promotion_always_names_the_target_version_it_expects(staging, versions, actor):
    services.deploy_version(environment=staging, version=versions[0], actor=actor)
    with pytest.raises(TypeError):
        services.promote(source=staging, version_number=1, actor=actor)  # type: ignore[call-arg]


def test_registering_a_version_deploys_it_into_a_new_environment(deployment, actor):
    version, environment = services.register_version(
        deployment=deployment, label="abc", actor=actor, new_environment="preview/pr-7"
    )
    assert environment.name == "preview/pr-7"
    assert Environment.objects.get(pk=environment.pk).active_version == version
    actions = AuditEvent.objects.order_by("id").values_list("action", flat=True)
    assert list(actions)[-3:] == ["version.create", "environment.create", "version.deploy"]


def test_registering_without_a_target_deploys_nothing(deployment, actor):
    version, environment = services.register_version(deployment=deployment, actor=actor)
    assert environment is None and version.number == 1
    assert not Release.objects.exists()


def test_a_refused_deploy_registers_nothing(deployment, production, actor):
    with pytest.raises(Conflict) as excinfo:  # production takes only what ran in staging
        services.register_version(deployment=deployment, actor=actor, deploy_to=production)
    assert excinfo.value.code == "staging_first" and excinfo.value.field == "deploy_to"
    assert not Version.objects.exists()
    assert Deployment.objects.get(pk=deployment.pk).last_version_number == 0
    assert not AuditEvent.objects.filter(action="version.create").exists()


def test_a_refused_deploy_into_a_new_environment_creates_nothing(deployment, actor):
    with pytest.raises(Invalid):
        services.register_version(deployment=deployment, actor=actor, new_environment="Bad!")
    assert not Version.objects.exists()
    assert sorted(deployment.environments.values_list("name", flat=True)) == [
        "production",
        "staging",
    ]


def test_outermost_services_refuse_to_run_inside_another_transaction(production, actor):
    """durable=True: a caller that wraps a service in its own transaction would delay (or lose)
    the service's audit event with its own rollback."""
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.register_version(deployment=production.deployment, actor=actor)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.add_variable(
            environment=production, key="K", value="v", is_secret=False, actor=actor
        )
