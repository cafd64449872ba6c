"""Releases (SPEC §9): config revisions, value history, pending changes, apply, rollback with or
without configuration, required keys, restore."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.errors import Conflict, NotFound
from environments.models import AuditEvent, ConfigEntry, Environment, Release


def fresh(environment: Environment) -> Environment:
    return Environment.objects.select_related("deployment", "live_release__version").get(
        pk=environment.pk
    )


def served(environment: Environment) -> dict[str, str]:
    return selectors.runtime_config(fresh(environment)).env


def put(environment, actor, **values):
    items = [services.VariableInput(k, v) for k, v in values.items()]
    services.set_variables(environment=environment, items=items, actor=actor)


@pytest.fixture
def v1(deployment, actor):
    return services.create_version(deployment=deployment, label="sha1", actor=actor)


@pytest.fixture
def v2(deployment, actor):
    return services.create_version(deployment=deployment, label="sha2", actor=actor)


@pytest.fixture
def live_staging(staging, v1, actor):
    services.deploy_version(environment=staging, version=v1, actor=actor)
    return fresh(staging)


@pytest.fixture
def live_production(production, live_staging, v1, actor):
    services.deploy_version(environment=production, version=v1, actor=actor)
    return fresh(production)


def test_a_batch_is_one_revision_and_a_refused_write_is_none(staging, actor):
    assert fresh(staging).config_revision == 1
    put(staging, actor, A="1", B="2", C="3")
    assert fresh(staging).config_revision == 2
    with pytest.raises(Conflict):
        services.add_variable(environment=staging, key="A", value="x", is_secret=False, actor=actor)
    assert fresh(staging).config_revision == 2
    services.delete_variable(environment=staging, key="B", actor=actor)
    assert fresh(staging).config_revision == 3


def test_history_keeps_replaced_and_deleted_values(staging, actor):
    put(staging, actor, A="one")
    put(staging, actor, A="two")
    services.delete_variable(environment=staging, key="A", actor=actor)
    entries = list(
        ConfigEntry.objects.filter(environment=staging, key="A").order_by("set_revision")
    )
    assert [(e.set_revision, e.end_revision, e.ended) for e in entries] == [
        (2, 3, "replaced"),
        (3, 4, "deleted"),
    ]
    assert selectors.entries_at(staging, 2).get(key="A").size == 3
    assert not selectors.entries_at(staging, 4).filter(key="A").exists()


def test_storage_grows_with_changes_not_with_revisions_times_keys(staging, actor):
    put(staging, actor, **{f"K{i}": "v" for i in range(20)})
    for i in range(10):
        put(staging, actor, K0=f"v{i}")
    # 20 first values + 10 changes of one key, not 11 revisions times 20 keys.
    assert ConfigEntry.objects.filter(environment=staging).count() == 30


def test_immediate_environment_releases_every_change(live_staging, actor):
    before = live_staging.release_count
    put(live_staging, actor, API_URL="https://a")
    staging = fresh(live_staging)
    assert staging.release_count == before + 1
    assert staging.live_release.kind == "config"
    assert staging.live_release.config_revision == staging.config_revision
    assert served(staging)["API_URL"] == "https://a"
    assert not selectors.pending_changes(staging)


def test_staged_production_keeps_changes_pending_until_applied(live_production, actor):
    assert live_production.is_staged
    put(live_production, actor, API_URL="https://new")
    production = fresh(live_production)
    assert "API_URL" not in served(production)
    pending = selectors.pending_changes(production)
    assert pending.added == ["API_URL"] and pending.count == 1
    release = services.apply_changes(environment=production, actor=actor)
    assert release.kind == "apply" and release.version.number == 1
    assert served(production)["API_URL"] == "https://new"
    assert served(production)["MIOSA_RELEASE"] == str(release.number)
    assert not selectors.pending_changes(fresh(production))
    assert AuditEvent.objects.filter(action="release.apply").exists()


def test_apply_with_nothing_pending_or_stale_expectation_is_refused(live_production, actor):
    with pytest.raises(Conflict) as excinfo:
        services.apply_changes(environment=live_production, actor=actor)
    assert excinfo.value.code == "nothing_to_apply"
    put(live_production, actor, A="1")
    with pytest.raises(Conflict) as excinfo:
        services.apply_changes(environment=live_production, actor=actor, expected_revision=1)
    assert excinfo.value.code == "stale"


def test_pending_changes_name_added_changed_and_removed_keys(live_production, actor):
    put(live_production, actor, KEEP="same", CHANGE="old", GONE="x")
    services.set_variable(
        environment=live_production, key="S", value="s1", is_secret=True, actor=actor
    )
    services.apply_changes(environment=live_production, actor=actor)
    put(live_production, actor, KEEP="same", CHANGE="new", NEW="n")
    services.set_variable(
        environment=live_production, key="S", value="s2", is_secret=None, actor=actor
    )
    services.delete_variable(environment=live_production, key="GONE", actor=actor)
    pending = selectors.pending_changes(fresh(live_production))
    assert pending.added == ["NEW"]
    assert pending.changed == ["CHANGE", "S"]
    assert pending.removed == ["GONE"]


def test_deploy_and_promotion_carry_pending_changes_live(live_production, live_staging, v2, actor):
    put(live_production, actor, FLAG="on")
    services.deploy_version(environment=live_staging, version=v2, actor=actor)
    release = services.promote(
        source=fresh(live_staging), version_number=2, expected_target_version=1, actor=actor
    )
    production = fresh(live_production)
    assert release.config_revision == production.config_revision
    assert served(production)["FLAG"] == "on" and served(production)["MIOSA_VERSION"] == "2"


def test_rollback_restores_version_and_configuration(live_production, live_staging, v2, actor):
    put(live_production, actor, API_URL="old")
    services.set_variable(
        environment=live_production, key="TOKEN", value="secret-old", is_secret=True, actor=actor
    )
    first = services.apply_changes(environment=live_production, actor=actor)
    services.deploy_version(environment=live_staging, version=v2, actor=actor)
    put(live_production, actor, API_URL="new")
    services.set_variable(
        environment=live_production, key="TOKEN", value="secret-new", is_secret=None, actor=actor
    )
    services.promote(
        source=fresh(live_staging), version_number=2, expected_target_version=1, actor=actor
    )
    assert served(live_production)["API_URL"] == "new"
    release = services.rollback(
        environment=fresh(live_production), release=first.number, config="restore", actor=actor
    )
    env = served(live_production)
    assert env["API_URL"] == "old" and env["TOKEN"] == "secret-old"
    assert env["MIOSA_VERSION"] == "1"
    assert release.kind == "rollback" and release.rollback_of == first.number
    assert release.config_revision == first.config_revision
    assert AuditEvent.objects.filter(action="release.rollback").exists()


def test_rollback_of_the_version_only_keeps_the_current_configuration(
    live_production, live_staging, v2, actor
):
    first = fresh(live_production).live_release
    services.deploy_version(environment=live_staging, version=v2, actor=actor)
    services.promote(
        source=fresh(live_staging), version_number=2, expected_target_version=1, actor=actor
    )
    put(live_production, actor, LATER="x")
    services.rollback(
        environment=fresh(live_production), release=first.number, config="keep", actor=actor
    )
    env = served(live_production)
    assert env["MIOSA_VERSION"] == "1" and env["LATER"] == "x"


def test_rollback_to_the_live_release_or_an_unknown_one_is_refused(live_production, actor):
    live = fresh(live_production).live_release
    with pytest.raises(Conflict):
        services.rollback(
            environment=live_production, release=live.number, config="restore", actor=actor
        )
    with pytest.raises(NotFound):
        services.rollback(environment=live_production, release=99, config="restore", actor=actor)


def test_releases_are_numbered_per_environment(live_production, live_staging):
    assert [r.number for r in selectors.releases(fresh(live_staging))] == [1]
    assert [r.number for r in selectors.releases(fresh(live_production))] == [1]
    assert Release.objects.filter(environment=live_production).count() == 1


def test_required_keys_refuse_a_release_without_them(
    deployment, live_production, live_staging, v2, actor
):
    services.deploy_version(environment=live_staging, version=v2, actor=actor)
    services.set_required_keys(deployment=deployment, keys=["DATABASE_URL", "API_URL"], actor=actor)
    with pytest.raises(Conflict) as excinfo:
        services.promote(
            source=fresh(live_staging), version_number=2, expected_target_version=1, actor=actor
        )
    assert excinfo.value.code == "missing_required_keys"
    assert "API_URL" in str(excinfo.value) and "DATABASE_URL" in str(excinfo.value)
    assert fresh(live_production).active_version.number == 1
    assert AuditEvent.objects.filter(action="required_keys.set").exists()


def test_restore_brings_back_an_earlier_value_as_a_new_revision(live_staging, actor):
    services.set_variable(
        environment=live_staging, key="TOKEN", value="first", is_secret=True, actor=actor
    )
    revision = fresh(live_staging).config_revision
    services.set_variable(
        environment=live_staging, key="TOKEN", value="second", is_secret=None, actor=actor
    )
    services.restore_variable(environment=live_staging, key="TOKEN", revision=revision, actor=actor)
    staging = fresh(live_staging)
    assert served(staging)["TOKEN"] == "first"
    history = selectors.key_history(staging, "TOKEN")
    assert history[0].revision == staging.config_revision and history[0].same_as == revision
    assert all(row.is_secret for row in history)
    assert AuditEvent.objects.filter(action="variable.restore", target="TOKEN").exists()


def test_history_ciphertext_moved_to_another_revision_does_not_decrypt(live_staging, actor):
    put(live_staging, actor, A="one")
    put(live_staging, actor, A="two")
    first, second = ConfigEntry.objects.filter(environment=live_staging, key="A").order_by(
        "set_revision"
    )
    second.ciphertext = first.ciphertext
    second.save(update_fields=["ciphertext"])
    config = selectors.runtime_config(fresh(live_staging))
    assert config.undecryptable == ["A"]


def test_a_release_is_never_edited_or_deleted_one_by_one(live_staging):
    release = fresh(live_staging).live_release
    release.config_revision = 99
    with pytest.raises(ValueError, match="never edited"):
        release.save()
    with pytest.raises(ValueError, match="never deleted"):
        release.delete()
    assert Release.objects.get(pk=release.pk).config_revision == 1


def test_an_immediate_change_is_refused_only_for_a_required_key_it_removes(
    deployment, live_staging, actor
):
    put(live_staging, actor, API_URL="https://a")
    services.set_required_keys(deployment=deployment, keys=["API_URL", "DATABASE_URL"], actor=actor)
    # DATABASE_URL was missing already: an unrelated change still goes live.
    put(live_staging, actor, LOG_LEVEL="info")
    assert served(live_staging)["LOG_LEVEL"] == "info"
    # Removing API_URL would make the live release worse: refused, nothing written.
    revision = fresh(live_staging).config_revision
    with pytest.raises(Conflict) as excinfo:
        services.delete_variable(environment=live_staging, key="API_URL", actor=actor)
    assert excinfo.value.code == "missing_required_keys" and "API_URL" in excinfo.value.message
    assert fresh(live_staging).config_revision == revision
    assert served(live_staging)["API_URL"] == "https://a"
