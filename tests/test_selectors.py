"""Selectors: typed rows for the pages, getters that 404 on any id no row can have."""

from __future__ import annotations

import pytest
from django.http import Http404

from environments import selectors, services

HUGE = 2**63  # one past the largest 64-bit id


def test_release_rows_offer_a_rollback_to_every_release_but_the_live_one(
    staging, actor, deployment
):
    # A rollback picks a release (a version and its configuration, SPEC §9), so two releases
    # of one version are two different places to go back to.
    v1, v2 = (
        services.create_version(deployment=deployment, label=f"b{n}", actor=actor) for n in (1, 2)
    )
    for version in (v1, v2, v1, v2):
        services.deploy_version(environment=staging, version=version, actor=actor)
    staging.refresh_from_db()
    rows = selectors.release_rows(staging, may_roll_back=True)
    assert [(r.release.number, r.release.version.number, r.live, r.can_rollback) for r in rows] == [
        (4, 2, True, False),  # live now
        (3, 1, False, True),
        (2, 2, False, True),
        (1, 1, False, True),
    ]
    assert not any(r.can_rollback for r in selectors.release_rows(staging, may_roll_back=False))


def test_a_page_of_releases_names_the_before_of_the_next_page(
    staging, actor, deployment, django_assert_num_queries
):
    v1, v2 = (
        services.create_version(deployment=deployment, label=f"b{n}", actor=actor) for n in (1, 2)
    )
    for version in (v1, v2, v1, v2, v1):
        services.deploy_version(environment=staging, version=version, actor=actor)
    with django_assert_num_queries(1):
        first = selectors.releases(staging, limit=2)
    assert ([r.number for r in first], first.next) == ([5, 4], 4)
    second = selectors.releases(staging, before=first.next, limit=2)
    assert ([r.number for r in second], second.next) == ([3, 2], 2)
    last = selectors.releases(staging, before=second.next, limit=2)
    assert ([r.number for r in last], last.next) == ([1], None)
    exact = selectors.releases(staging, before=3, limit=2)
    assert ([r.number for r in exact], exact.next) == ([2, 1], None)  # nothing follows


def test_the_api_lists_environments_production_first(deployment, actor):
    services.create_environment(deployment=deployment, name="preview/pr-1", actor=actor)
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    names = [e.name for e in selectors.environments_with_releases(deployment)]
    assert names == ["production", "staging", "preview/pr-1", "qa"]
    assert [
        e.name
        for e in selectors.production_first(
            selectors.pipeline_order(selectors.deployment_environments(deployment))
        )
    ] == names


def test_recent_versions_say_where_each_runs(deployment, staging, production, actor):
    version = services.create_version(deployment=deployment, label="b1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.create_version(deployment=deployment, label="b2", actor=actor)
    environments = selectors.pipeline_environments(deployment)
    rows = selectors.recent_versions(deployment, environments)
    assert [(r.version.number, r.running_in) for r in rows] == [(2, []), (1, ["staging"])]


def test_delete_counts_count_what_goes_with_the_environment(production, actor):
    services.set_variable(environment=production, key="A", value="1", is_secret=None, actor=actor)
    services.add_domain(environment=production, hostname="a.example.com", actor=actor)
    counts = selectors.delete_counts(production)
    assert (counts.variables, counts.bindings, counts.domains, counts.tokens) == (1, 0, 1, 0)


def test_the_domain_suggestion_comes_from_the_apex_unless_attached(deployment, staging, actor):
    deployment.apex_domain = "shop.example"
    deployment.save(update_fields=["apex_domain"])
    staging.deployment = deployment
    assert selectors.domain_suggestion(staging, []) == "staging.shop.example"
    domain = services.add_domain(environment=staging, hostname="staging.shop.example", actor=actor)
    assert selectors.domain_suggestion(staging, [domain]) == ""


def test_getters_return_the_role_beside_the_object_not_on_it(
    deployment, production, member, make_user
):
    developer = member("developer")
    deployment_access = selectors.get_deployment_for_user(developer, deployment.pk)
    assert deployment_access == (deployment, "developer")
    assert not hasattr(deployment_access.deployment, "role")
    environment, role = selectors.get_environment_for_user(developer, deployment.pk, "production")
    assert (environment, role) == (production, "developer")
    assert not hasattr(environment, "role")
    assert not hasattr(environment.deployment, "role")
    root = make_user("root", superuser=True)
    assert selectors.get_deployment_for_user(root, deployment.pk).role == "owner"


@pytest.mark.parametrize("bad", [HUGE, -1, 0])
def test_getters_404_on_an_id_no_row_can_have(deployment, owner, production, bad):
    for get in (
        lambda: selectors.get_deployment_for_user(owner, bad),
        lambda: selectors.get_binding(production, bad),
        lambda: selectors.get_domain(production, bad),
        lambda: selectors.get_runtime_token(production, bad),
        lambda: selectors.get_api_token(owner, bad),
        lambda: selectors.get_membership(deployment, bad),
    ):
        with pytest.raises(Http404):
            get()
    assert selectors.find_version(deployment, bad) is None


def test_pipeline_cards_say_what_can_be_promoted(deployment, staging, actor):
    version = services.create_version(deployment=deployment, label="b1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    environments = selectors.pipeline_environments(deployment)
    columns = selectors.pipeline_cards(deployment, environments, role="admin")
    cards = {card.environment.name: card for column in columns for card in column}
    assert cards["staging"].target.name == "production"
    assert cards["staging"].can_promote and not cards["staging"].in_sync
    assert cards["production"].target is None and not cards["production"].can_promote
    developer = selectors.pipeline_cards(deployment, environments, role="developer")
    assert not any(card.can_promote for column in developer for card in column)
