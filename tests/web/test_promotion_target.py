"""Change which environment an environment promotes to, from its page."""

import re

import pytest
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Environment, Role

from .conftest import HX, expected_status


@pytest.fixture
def qa(deployment, actor):
    return services.create_environment(deployment=deployment, name="qa", actor=actor)


def _url(deployment, name="qa"):
    return reverse("promotion_target", kwargs={"deployment_id": deployment.pk, "name": name})


def _page(deployment, name="qa"):
    return reverse("environment", kwargs={"deployment_id": deployment.pk, "name": name})


@pytest.mark.parametrize("role", ["outsider", Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER])
def test_developers_and_up_may_change_it(as_role, deployment, qa, staging, role):
    response = as_role(role).post(_url(deployment), {"promotes_to": "staging"}, **HX)
    assert response.status_code == expected_status(role, Role.DEVELOPER)
    qa.refresh_from_db()
    assert (qa.promotes_to_id == staging.pk) == (response.status_code == 200)


def test_with_htmx_the_settings_and_the_summary_are_swapped(as_role, deployment, qa, staging):
    response = as_role(Role.DEVELOPER).post(_url(deployment), {"promotes_to": "staging"}, **HX)
    html = response.content.decode()
    # Issue 21 item 8: the setting lives in the settings section; the summary line follows.
    assert html.lstrip().startswith('<section id="settings"')
    assert '<div id="summary" class="env-summary" hx-swap-oob="true">' in html
    summary = html[html.index('<div id="summary"') :]
    assert re.search(r'Promotes to <a\s+href="/deployments/\d+/env/staging/">staging</a>', summary)
    assert "qa now promotes to staging." in html
    assert '<option value="staging" selected>' in html
    qa.refresh_from_db()
    assert qa.promotes_to == staging
    event = AuditEvent.objects.get(action="environment.set_promotion_target")
    assert event.environment_name == "qa" and event.target == "staging"


def test_without_javascript_it_redirects(as_role, deployment, qa, staging):
    services.set_promotion_target(
        environment=qa, promotes_to=staging, actor=services.Actor.system()
    )
    response = as_role(Role.DEVELOPER).post(_url(deployment), {"promotes_to": ""})
    assert response.status_code == 302
    assert response["Location"].endswith("/env/qa/#settings")
    qa.refresh_from_db()
    assert qa.promotes_to is None


def test_an_unknown_target_is_a_field_error(as_role, deployment, qa):
    response = as_role(Role.DEVELOPER).post(_url(deployment), {"promotes_to": "qa"}, **HX)
    assert response.status_code == 400
    assert 'id="promotes-to-error"' in response.content.decode()


def test_production_cannot_promote_anywhere(as_role, deployment, staging, production):
    response = as_role(Role.ADMIN).post(_url(deployment, "production"), {"promotes_to": "staging"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="promotes-to-error"' in html and "Production is the end of the pipeline" in html
    production.refresh_from_db()
    assert production.promotes_to is None


def test_the_form_is_shown_by_role(as_role, deployment, qa):
    assert 'name="promotes_to"' not in as_role(Role.VIEWER).get(_page(deployment)).content.decode()
    developer = as_role(Role.DEVELOPER)
    assert 'name="promotes_to"' in developer.get(_page(deployment)).content.decode()
    production = developer.get(_page(deployment, "production")).content.decode()
    assert 'name="promotes_to"' not in production and "End of the pipeline" in production


def test_the_choices_are_the_other_environments_and_none(as_role, deployment, qa):
    html = as_role(Role.DEVELOPER).get(_page(deployment)).content.decode()
    assert '<option value="" selected>Nothing (end of the pipeline)</option>' in html
    assert '<option value="staging">' in html and '<option value="production">' in html
    assert '<option value="qa">' not in html


@pytest.mark.parametrize("n", [1, 20])
def test_the_page_query_count_is_fixed(as_role, deployment, actor, django_assert_num_queries, n):
    for i in range(n):
        services.create_environment(deployment=deployment, name=f"preview/pr-{i}", actor=actor)
    client = as_role(Role.OWNER)
    # session, user, membership, environment, variables+bindings (2), domains, tokens, targets,
    # instances, data services, data servers available, rotations (no secret: no secret ages),
    # protection and open change requests
    with django_assert_num_queries(15):
        assert client.get(_page(deployment, "staging")).status_code == 200
    assert Environment.objects.filter(deployment=deployment).count() == n + 2
