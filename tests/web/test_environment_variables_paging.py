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


@pytest.fixture
def paged(staging, actor):
    _fill(staging, actor, 250)
    return staging


def test_the_first_page_lists_100_variables_and_counts_them_all(as_role, deployment, paged):
    html = as_role(Role.VIEWER).get(_url(deployment)).content.decode()
    assert _row_keys(html) == [f"KEY_{i:03d}" for i in range(100)]
    assert '<h2 id="variables-title">Variables <span class="badge">250</span>' in html
    range_text = re.search(r'data-testid="variables-range">([^<]*)<', html).group(1)
    assert " ".join(range_text.split()) == "1–100 of 250"
    assert 'rel="next"' in html and f'href="{_url(deployment)}?page=2#variables"' in html
    assert 'rel="prev"' not in html


def test_the_last_page_holds_the_rest_and_secrets_stay_masked(as_role, deployment, paged):
    html = as_role(Role.VIEWER).get(_url(deployment) + "?page=3").content.decode()
    assert _row_keys(html) == [f"KEY_{i:03d}" for i in range(200, 250)]
    assert 'rel="next"' not in html and f'href="{_url(deployment)}?page=2#variables"' in html
    assert html.count("••••") == 5 and SECRET not in html


@pytest.mark.parametrize(
    ("page", "first"), [("abc", 0), ("-1", 0), ("0", 0), ("", 0), ("99", 200), ("9" * 30, 200)]
)
def test_a_bad_page_number_shows_the_first_or_last_page(as_role, deployment, paged, page, first):
    response = as_role(Role.VIEWER).get(_url(deployment) + f"?page={page}")
    assert response.status_code == 200
    assert _row_keys(response.content.decode())[0] == f"KEY_{first:03d}"


def test_the_filter_matches_a_key_substring_whatever_its_case(as_role, deployment, paged):
    response = as_role(Role.VIEWER).get(_url(deployment, "variables") + "?q=key_01", **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="variables"')
    assert _row_keys(html) == [f"KEY_{i:03d}" for i in range(10, 20)]
    assert 'value="key_01"' in html
    range_text = re.search(r'data-testid="variables-range">([^<]*)<', html).group(1)
    assert " ".join(range_text.split()) == "1–10 of 10 matching"


def test_the_address_bar_follows_the_pager_and_the_filter(as_role, deployment, paged):
    client = as_role(Role.VIEWER)
    response = client.get(_url(deployment, "variables") + "?page=2&q=KEY", **HX)
    assert response["HX-Push-Url"] == _url(deployment) + "?page=2&q=KEY"
    assert "HX-Push-Url" not in client.get(_url(deployment, "variables"), **HX)


def test_the_filter_pages_its_matches_and_its_links_keep_it(as_role, deployment, paged):
    html = as_role(Role.VIEWER).get(_url(deployment) + "?q=KEY_1&page=1").content.decode()
    assert _row_keys(html) == [f"KEY_{i:03d}" for i in range(100, 200)]
    assert 'rel="next"' not in html  # KEY_1 matches exactly 100 keys


def test_a_filter_that_matches_nothing_says_so(as_role, deployment, paged):
    html = as_role(Role.VIEWER).get(_url(deployment) + "?q=NOPE").content.decode()
    assert _row_keys(html) == []
    assert "No key in staging contains “NOPE”" in html
    assert "No variables in staging" not in html


def test_a_filter_is_escaped(as_role, deployment, paged):
    html = as_role(Role.VIEWER).get(_url(deployment) + '?q="><script>x</script>').content.decode()
    assert "<script>x</script>" not in html


def test_a_small_environment_has_no_pager_or_filter(as_role, deployment, staging, actor):
    _fill(staging, actor, 100)
    html = as_role(Role.VIEWER).get(_url(deployment)).content.decode()
    assert len(_row_keys(html)) == 100
    assert "variables-range" not in html and 'role="search"' not in html


def test_editing_a_key_shows_its_page_and_cancel_returns_there(as_role, deployment, paged):
    url = _url(deployment, "variable_edit", key="KEY_231")
    html = as_role(Role.ADMIN).get(url, **HX).content.decode()
    assert f'action="{url}"' in html  # the edit form, on page 3
    assert "KEY_230" in html and "KEY_000" not in html
    assert f'hx-get="{_url(deployment, "variables")}?page=3"' in html


def test_a_saved_key_is_shown_on_its_page(as_role, deployment, paged):
    url = _url(deployment, "variable_edit", key="KEY_231")
    html = as_role(Role.ADMIN).post(url, {"value": "changed"}, **HX).content.decode()
    assert "Updated KEY_231." in html
    assert "KEY_231" in _row_keys(html) and "KEY_000" not in _row_keys(html)


def test_deleting_a_key_asks_on_its_page(as_role, deployment, paged):
    url = _url(deployment, "variable_delete", key="KEY_150")
    client = as_role(Role.ADMIN)
    html = client.get(url, **HX).content.decode()
    assert f'action="{url}"' in html and 'Delete <span class="key">KEY_150</span> from' in html
    html = client.post(url, **HX).content.decode()
    assert "Deleted KEY_150." in html
    keys = _row_keys(html)
    assert "KEY_150" not in keys and "KEY_149" in keys and "KEY_151" in keys


def test_a_revealed_value_hides_back_to_its_page(as_role, deployment, paged):
    url = _url(deployment, "variable_reveal", key="KEY_231")
    html = as_role(Role.ADMIN).post(url, **HX).content.decode()
    assert "value-231" in html
    assert f'hx-get="{_url(deployment, "variables")}?page=3"' in html


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
