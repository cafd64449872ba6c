"""Shared groups and references, resolved once when written (SPEC §19): what the runtime gets,
the refusals at save (each naming its chain), and releases that keep their resolved bytes."""

from __future__ import annotations

import pytest

from environments import selectors, services
from environments.errors import Conflict, Invalid
from environments.models import Release
from environments.services import VariableInput

pytestmark = pytest.mark.django_db


def runtime(environment):
    environment.refresh_from_db()
    env = selectors.runtime_config(
        type(environment)
        .objects.select_related("deployment", "live_release__version")
        .get(pk=environment.pk),
        just_read=True,
    ).env
    return {k: v for k, v in env.items() if not k.startswith("MIOSA_")}


@pytest.fixture
def common(deployment, actor):
    group = services.create_group(deployment=deployment, name="common", actor=actor)
    services.set_group_variables(
        group=group,
        items=[VariableInput("API_URL", "https://api.example.com"), VariableInput("TZ", "UTC")],
        actor=actor,
    )
    return group


@pytest.fixture
def live(deployment, staging, production, actor):
    version = services.create_version(deployment=deployment, label="v1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    staging.refresh_from_db()
    production.refresh_from_db()
    return version


def test_a_linked_group_gives_its_keys_and_own_variables_override_them(staging, common, actor):
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    assert runtime(staging) == {"API_URL": "https://api.example.com", "TZ": "UTC"}
    services.set_variable(
        environment=staging, key="TZ", value="Europe/Paris", is_secret=False, actor=actor
    )
    assert runtime(staging) == {"API_URL": "https://api.example.com", "TZ": "Europe/Paris"}


def test_a_later_group_overrides_an_earlier_one(deployment, staging, common, actor):
    other = services.create_group(deployment=deployment, name="other", actor=actor)
    services.set_group_variables(
        group=other, items=[VariableInput("TZ", "Asia/Tokyo")], actor=actor
    )
    services.set_environment_groups(environment=staging, groups=["common", "other"], actor=actor)
    assert runtime(staging)["TZ"] == "Asia/Tokyo"
    services.set_environment_groups(environment=staging, groups=["other", "common"], actor=actor)
    assert runtime(staging)["TZ"] == "UTC"


def test_references_resolve_and_dollar_dollar_is_a_literal(deployment, staging, common, actor):
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    services.set_variables(
        environment=staging,
        items=[
            VariableInput("HOST", "db.internal"),
            VariableInput("URL", "postgres://${{ HOST }}/x?tz=${{common.TZ}}"),
            VariableInput("LITERAL", "$${{ HOST }}"),
        ],
        actor=actor,
    )
    env = runtime(staging)
    assert env["URL"] == "postgres://db.internal/x?tz=UTC"
    assert env["LITERAL"] == "${{ HOST }}"


def test_a_cycle_is_refused_naming_the_chain(staging, actor):
    services.set_variable(environment=staging, key="A", value="x", is_secret=False, actor=actor)
    services.set_variable(
        environment=staging, key="B", value="${{ A }}", is_secret=False, actor=actor
    )
    with pytest.raises(Invalid) as exc:
        services.set_variable(
            environment=staging, key="A", value="${{ B }}", is_secret=False, actor=actor
        )
    assert exc.value.code == "reference_cycle"
    assert "staging.A → staging.B → staging.A" in exc.value.message


def test_a_reference_into_production_is_refused(staging, production, actor):
    services.set_variable(environment=production, key="K", value="v", is_secret=True, actor=actor)
    with pytest.raises(Conflict) as exc:
        services.set_variable(
            environment=staging, key="X", value="${{ production.K }}", is_secret=False, actor=actor
        )
    assert exc.value.code == "production_reference"


def test_a_group_change_is_a_release_in_immediate_and_pending_in_staged(
    staging, production, common, live, actor
):
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    services.set_environment_groups(environment=production, groups=["common"], actor=actor)
    services.apply_changes(environment=production, actor=actor)
    services.set_group_variables(
        group=common, items=[VariableInput("API_URL", "https://v2.example.com")], actor=actor
    )
    assert runtime(staging)["API_URL"] == "https://v2.example.com"
    assert runtime(production)["API_URL"] == "https://api.example.com"
    production.refresh_from_db()
    pending = selectors.pending_changes(production)
    assert pending.changed == ["API_URL"]
    assert pending.causes == {"API_URL": "common.API_URL"}


def test_rollback_serves_the_old_resolved_bytes_after_the_group_changed(
    staging, common, live, actor
):
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    staging.refresh_from_db()
    before = staging.live_release.number
    services.set_group_variables(
        group=common, items=[VariableInput("API_URL", "https://v2.example.com")], actor=actor
    )
    assert runtime(staging)["API_URL"] == "https://v2.example.com"
    services.rollback(environment=staging, release=before, config="restore", actor=actor)
    assert runtime(staging)["API_URL"] == "https://api.example.com"
    assert Release.objects.filter(environment=staging).first().resolved_from["groups"] == {
        "common": 2
    }


def test_a_value_referencing_a_variable_made_secret_becomes_a_secret(staging, actor):
    services.set_variable(environment=staging, key="PW", value="pw", is_secret=False, actor=actor)
    services.set_variable(
        environment=staging, key="URL", value="u:${{ PW }}", is_secret=False, actor=actor
    )
    staging.refresh_from_db()
    rows = {r.key: r for r in selectors.variable_rows([staging])}
    assert (rows["URL"].is_secret, rows["URL"].preview) == (False, "u:pw")
    services.mark_variable_secret(environment=staging, key="PW", actor=actor)
    staging.refresh_from_db()
    rows = {r.key: r for r in selectors.variable_rows([staging])}
    assert (rows["URL"].is_secret, rows["URL"].preview) == (True, "••••")
    assert ("staging", "URL") not in selectors.reveal_plain_values([staging])


def test_a_deployment_with_linked_groups_can_be_deleted(deployment, staging, common, actor):
    services.set_environment_groups(environment=staging, groups=["common"], actor=actor)
    services.delete_deployment(deployment=deployment, actor=actor)
    assert not type(deployment).objects.filter(pk=deployment.pk).exists()


def test_a_reference_into_another_environment_needs_read_access_at_save(
    deployment, staging, actor, make_user
):
    from environments.actors import Actor
    from environments.errors import Forbidden

    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.set_variable(
        environment=qa, key="HOST", value="qa.internal", is_secret=False, actor=actor
    )
    stranger = make_user("stranger")
    with pytest.raises(Forbidden) as exc:
        services.set_variable(
            environment=staging,
            key="URL",
            value="https://${{ qa.HOST }}",
            is_secret=False,
            actor=Actor(user=stranger, label="stranger"),
        )
    assert exc.value.code == "reference_not_readable"
    services.set_variable(
        environment=staging, key="URL", value="https://${{ qa.HOST }}", is_secret=False, actor=actor
    )
    assert runtime(staging)["URL"] == "https://qa.internal"


def test_a_change_in_a_referenced_environment_is_a_config_change_where_it_is_used(
    deployment, staging, live, actor
):
    qa = services.create_environment(deployment=deployment, name="qa", actor=actor)
    services.deploy_version(environment=qa, version=live, actor=actor)
    services.set_variable(
        environment=staging, key="HOST", value="one", is_secret=False, actor=actor
    )
    services.set_variable(
        environment=qa, key="URL", value="https://${{ staging.HOST }}", is_secret=False, actor=actor
    )
    qa.refresh_from_db()
    releases = qa.release_count
    services.set_variable(
        environment=staging, key="HOST", value="two", is_secret=False, actor=actor
    )
    assert runtime(qa)["URL"] == "https://two"
    qa.refresh_from_db()
    assert qa.release_count == releases + 1
    staging.refresh_from_db()
    assert qa.live_release.resolved_from == {
        "groups": {},
        "environments": {"staging": staging.config_revision},
        "cause": "staging.HOST",
    }
