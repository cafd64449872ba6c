"""The environment page's variables: 100 a page, a key filter, the row being worked on shown on
its page, and a query count that does not grow with the number of variables."""

import re

import pytest
from django.urls import reverse

from environments import services
from environments.models import Role

from .conftest import HX

SECRET = "sk_live_paged_secret_0042"


def _fill(environment, actor, n: int, *, secret_every: int = 10) -> None:
    services.set_variables(
        environment=environment,
        items=[
            services.VariableInput(
                f"KEY_{i:03d}",
                SECRET if i % secret_every == 0 else f"value-{i}",
                i % secret_every == 0,
            )
            for i in range(n)
        ],
        actor=actor,
    )


def _url(deployment, view="environment", name="staging", **kwargs):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, **kwargs})


def _row_keys(html: str) -> list[str]:
    return re.findall(r'<tr id="var-(\w+)">', html)


def test_a_small_environment_has_no_pager_or_filter(as_role, deployment, staging, actor):
    _fill(staging, actor, 100)
    html = as_role(Role.VIEWER).get(_url(deployment)).content.decode()
    assert len(_row_keys(html)) == 100
    assert "variables-range" not in html and 'role="search"' not in html


def test_row_links_are_the_reversed_urls(as_role, deployment, staging, actor):
    preview = services.create_environment(
        deployment=deployment, name="preview/pr-42", copy_from=staging, actor=actor
    )
    _fill(preview, actor, 3)
    client = as_role(Role.ADMIN)
    html = client.get(_url(deployment, name="preview/pr-42")).content.decode()
    for view in ("variable_history", "variable_reveal", "variable_edit", "variable_delete"):
        url = _url(deployment, view, name="preview/pr-42", key="KEY_001")
        assert f'"{url}"' in html, view
    response = client.get(_url(deployment, "variable_history", name="preview/pr-42", key="KEY_001"))
    assert response.status_code == 200


# session, user, membership+deployment, environment, variables, the page's secrets' value
# history and live instances (their age and convergence), bindings, domains, tokens, instances,
# the other environments (staging's promotion-target form), data services, the data servers
# available, rotations, protection and open change requests (SPEC §15): as at 1 variable, so at
# the most an environment may hold (SPEC §1: 500 keys).
PAGE_QUERIES = 17


@pytest.mark.parametrize("n", [1, 500])
def test_the_page_query_count_does_not_grow_with_variables(
    as_role, deployment, staging, actor, django_assert_num_queries, n
):
    _fill(staging, actor, n)
    client = as_role(Role.OWNER)
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(_url(deployment) + "?page=2&q=KEY")
    assert response.status_code == 200
    assert len(_row_keys(response.content.decode())) == min(n, 100)


@pytest.mark.parametrize("n", [1, 500])
def test_the_variables_section_query_count_does_not_grow(
    as_role, deployment, staging, actor, django_assert_num_queries, n
):
    _fill(staging, actor, n)
    client = as_role(Role.OWNER)
    # session, user, membership+deployment, environment, variables, the page's secrets' value
    # history and live instances
    with django_assert_num_queries(7):
        response = client.get(_url(deployment, "variables") + "?page=5", **HX)
    assert len(_row_keys(response.content.decode())) == (1 if n == 1 else 100)


# deployment+membership, session, user, environments (annotated), domains, pending changes
# (one query for every environment's), protections and change requests, versions: as
# tests/web/test_deployment_detail.py pins it with a few variables, so with 500 in production
# waiting for an Apply and 500 in staging.
PIPELINE_QUERIES = 9


@pytest.mark.parametrize("n", [1, 500])
def test_the_pipeline_query_count_does_not_grow_with_variables(
    as_role, deployment, staging, production, actor, django_assert_num_queries, n
):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.promote(
        source=staging, version_number=version.number, expected_target_version=None, actor=actor
    )
    _fill(staging, actor, n)
    _fill(production, actor, n)  # staged: pending until an Apply
    client = as_role(Role.OWNER)
    with django_assert_num_queries(PIPELINE_QUERIES):
        response = client.get(reverse("deployment", kwargs={"deployment_id": deployment.pk}))
    assert response.status_code == 200
    assert f"{n} pending change" in response.content.decode()
