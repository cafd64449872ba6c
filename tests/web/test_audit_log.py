"""The audit log, filterable by action, environment and actor."""

import re

import pytest
from django.urls import reverse

from environments import services
from environments.models import Role

from .conftest import HX


@pytest.fixture
def url(deployment):
    return reverse("audit_log", kwargs={"deployment_id": deployment.pk})


@pytest.fixture
def events(staging, production, actor, system_actor):
    services.set_variable(
        environment=staging, key="A", value="secret-value-x", is_secret=True, actor=actor
    )
    services.set_variable(
        environment=production, key="B", value="1", is_secret=False, actor=system_actor
    )


def test_lists_events_without_values(as_role, url, events):
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert "variable.create" in html and "secret-value-x" not in html


def test_filters(as_role, url, events):
    client = as_role(Role.ADMIN)
    by_env = client.get(url, {"environment": "staging"}).content.decode()
    assert ">A<" in by_env and ">B<" not in by_env
    by_actor = client.get(url, {"actor": "tests"}).content.decode()
    assert ">B<" in by_actor and ">A<" not in by_actor
    by_action = client.get(url, {"action": "member.add"}).content.decode()
    assert (
        "<code>member.add</code>" in by_action and "<code>variable.create</code>" not in by_action
    )
    nothing = client.get(url, {"actor": "nobody-at-all"}).content.decode()
    assert "No events match these filters" in nothing


def test_htmx_gets_the_events_partial(as_role, url, events):
    html = as_role(Role.ADMIN).get(url, {"environment": "staging"}, **HX).content.decode()
    assert html.lstrip().startswith('<div id="events">')


def test_query_count_is_fixed(as_role, url, staging, actor, django_assert_num_queries):
    for i in range(30):
        services.set_variable(
            environment=staging, key=f"K{i}", value="v", is_secret=False, actor=actor
        )
    client = as_role(Role.ADMIN)
    # session, user, membership, actions, environments, events
    with django_assert_num_queries(6):
        client.get(url)


def test_older_events_page_back_without_repeating_or_skipping(as_role, url, staging, actor):
    for i in range(230):
        services.set_variable(
            environment=staging, key=f"P{i}", value="v", is_secret=False, actor=actor
        )
    client = as_role(Role.ADMIN)
    seen: list[str] = []
    next_url = f"{url}?action=variable.create"
    pages = 0
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200
        pages += 1
        html = response.content.decode()
        seen += re.findall(r'<td class="mono small">(P\d+)</td>', html)
        found = re.search(r'href="([^"]*before=\d+[^"]*)"', html)
        next_url = found.group(1).replace("&amp;", "&") if found else ""
    assert pages == 3
    assert seen == [f"P{i}" for i in reversed(range(230))]
