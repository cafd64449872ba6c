"""The environment page's variables over 250 of them in staging: 100 a page, a key filter, the
row being worked on shown on its page (tests/web/test_environment_variables_paging.py has the
rest). The 250 variables are made once for the module (tests.conftest.module_rows), each test
in a savepoint of them, so every test sees them as made."""

import re

import pytest
from django.contrib.auth import get_user_model

from environments import services
from environments.actors import Actor
from environments.models import Deployment, Role
from tests.conftest import create_user

from .conftest import HX
from .test_environment_variables_paging import SECRET, _fill, _row_keys, _url


@pytest.fixture(scope="module")
def _paged_rows(module_rows):
    """The conftest's owner and shop, staging with 250 variables: (owner pk, deployment pk)."""
    with module_rows():
        owner = create_user("olivia")
        actor = Actor(user=owner, label=owner.get_username())
        deployment = services.create_deployment(name="shop", actor=actor)
        _fill(deployment.environments.get(name="staging"), actor, 250)
    return owner.pk, deployment.pk


@pytest.fixture
def owner(db, _paged_rows):
    return get_user_model().objects.get(pk=_paged_rows[0])


@pytest.fixture
def deployment(db, _paged_rows):
    return Deployment.objects.get(pk=_paged_rows[1])


@pytest.fixture
def paged(deployment):
    return deployment.environments.get(name="staging")


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
