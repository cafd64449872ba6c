"""The deployment page: the pipeline cards, their buttons by role, and a fixed query count."""

import pytest
from django.urls import reverse

from environments import services
from environments.models import Role

from .conftest import HX


@pytest.fixture
def url(deployment):
    return reverse("deployment", kwargs={"deployment_id": deployment.pk})


def test_cards_show_version_who_when_variables_and_domain(
    as_role, url, production, actor, versions
):
    services.set_variable(environment=production, key="A", value="1", is_secret=False, actor=actor)
    services.add_domain(environment=production, hostname="shop.test", actor=actor)
    html = as_role(Role.VIEWER).get(url).content.decode()
    assert ">v1<" in html and ">b1<" in html  # production
    assert ">v2<" in html  # staging
    assert "Deployed by <strong>olivia</strong>" in html
    assert "1 variable" in html
    assert "shop.test" in html


def test_primary_domain_is_the_suggested_hostname(as_role, url, deployment, staging, actor):
    services.add_domain(environment=staging, hostname="a-first.test", actor=actor)
    services.set_apex_domain(deployment=deployment, apex="shop.test", actor=actor)
    html = as_role(Role.VIEWER).get(url).content.decode()
    assert '<span class="domain">staging.shop.test</span>' in html


def test_admin_sees_promote_to_production(as_role, url, versions):
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert "Promote v2 to production" in html


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_lower_roles_see_no_promote_to_production(as_role, url, role, versions):
    html = as_role(role).get(url).content.decode()
    assert "Promote v2 to production" not in html


def test_developer_sees_promote_preview_to_staging(as_role, url, deployment, actor, versions):
    preview = services.create_environment(deployment=deployment, name="preview/pr-9", actor=actor)
    v3 = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=preview, version=v3, actor=actor)
    html = as_role(Role.DEVELOPER).get(url).content.decode()
    assert "Promote v3 to staging" in html
    assert "Register a version" in html and "New environment" in html


def test_viewer_sees_no_write_buttons(as_role, url, versions):
    html = as_role(Role.VIEWER).get(url).content.decode()
    assert "Register a version" not in html and "New environment" not in html
    assert "Members" not in html and "Audit log" not in html


def test_in_sync_environments_say_so(as_role, url, staging, actor, versions):
    services.promote(source=staging, version_number=2, expected_target_version=1, actor=actor)
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert "production runs this version too" in html
    assert "Promote v2 to production" not in html


def test_empty_deployment_has_clear_empty_states(as_role, url):
    html = as_role(Role.OWNER).get(url).content.decode()
    assert "Nothing deployed yet" in html
    assert "No versions yet" in html


def test_htmx_gets_the_pipeline_partial(as_role, url, versions):
    html = as_role(Role.VIEWER).get(url, **HX).content.decode()
    assert html.lstrip().startswith('<section id="pipeline"')


def _grow(deployment, actor, environments: int, variables: int):
    versions = [services.create_version(deployment=deployment, actor=actor) for _ in range(3)]
    for i in range(environments):
        env = services.create_environment(
            deployment=deployment, name=f"preview/pr-{i}", actor=actor
        )
        services.deploy_version(environment=env, version=versions[i % 3], actor=actor)
        services.add_domain(environment=env, hostname=f"pr-{i}.shop.test", actor=actor)
        services.set_variables(
            environment=env,
            items=[services.VariableInput(f"K{j}", "v", j % 2 == 0) for j in range(variables)],
            actor=actor,
        )
        services.create_binding(
            environment=env, kind="redis", name="c", url="redis://h:6379", actor=actor
        )
        # Staged from here on: the card lists the changes since (one per variable, and more).
        services.set_config_changes(environment=env, mode="staged", actor=actor)
        services.set_variables(
            environment=env,
            items=[services.VariableInput(f"K{j}", "w", None) for j in range(variables)]
            + [services.VariableInput(f"NEW{j}", "n", False) for j in range(variables)],
            actor=actor,
        )


# deployment+membership, session, user, environments (annotated), domains, pending changes
# (one query for every environment's, SPEC §9), protections and change requests (one query
# each for every environment's, SPEC §15), versions
QUERIES = 9


@pytest.mark.parametrize(("environments", "variables"), [(1, 1), (12, 20)])
def test_query_count_is_fixed(
    as_role, url, deployment, actor, django_assert_num_queries, environments, variables
):
    _grow(deployment, actor, environments, variables)
    client = as_role(Role.OWNER)
    with django_assert_num_queries(QUERIES):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="pending"') == environments
    assert f"{2 * variables} pending change" in response.content.decode()


@pytest.mark.parametrize("environments", [1, 12])
def test_pipeline_partial_query_count_is_fixed(
    as_role, url, deployment, actor, django_assert_num_queries, environments
):
    _grow(deployment, actor, environments, 3)
    client = as_role(Role.OWNER)
    with django_assert_num_queries(QUERIES - 1):
        client.get(url, **HX)
