"""The maximum secret age on the deployment settings page (SPEC §14): admins set it, every member
sees it, it is validated and audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments import services
from environments.errors import Invalid
from environments.models import AuditEvent, Deployment, Role

from .conftest import HX

ROLES = ["viewer", "developer", "admin", "owner"]
RANK = {role: n for n, role in enumerate(ROLES)}


@pytest.fixture
def urls(deployment):
    return (
        reverse("deployment_settings", args=[deployment.pk]),
        reverse("secret_age", args=[deployment.pk]),
    )


def test_an_admin_sets_it_and_it_is_audited(as_role, deployment, urls):
    _, post = urls
    client = as_role(Role.ADMIN)
    response = client.post(post, {"max_secret_age_days": "90"})
    assert response.status_code == 302
    assert response["Location"].endswith("#secret-age")
    deployment.refresh_from_db()
    assert deployment.max_secret_age_days == 90
    html = client.get(response["Location"]).content.decode()
    assert "A secret older than 90 days is now flagged overdue." in html
    assert 'value="90"' in html
    event = AuditEvent.objects.get(action="deployment.update")
    assert event.target == "max_secret_age_days"
    assert event.detail == {"max_secret_age_days": 90, "was": None}


def test_with_htmx_the_section_is_swapped(as_role, deployment, urls):
    response = as_role(Role.ADMIN).post(urls[1], {"max_secret_age_days": "1"}, **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="secret-age"')
    assert "A secret older than 1 day is now flagged overdue." in html


def test_clearing_it_flags_none(as_role, deployment, urls, actor):
    services.set_max_secret_age(deployment=deployment, days=30, actor=actor)
    response = as_role(Role.ADMIN).post(urls[1], {"max_secret_age_days": ""}, **HX)
    assert "No secret is flagged overdue for its age any more." in response.content.decode()
    deployment.refresh_from_db()
    assert deployment.max_secret_age_days is None
    assert AuditEvent.objects.filter(action="deployment.update").count() == 2


def test_saving_the_same_value_records_nothing(as_role, deployment, urls, actor):
    services.set_max_secret_age(deployment=deployment, days=30, actor=actor)
    as_role(Role.ADMIN).post(urls[1], {"max_secret_age_days": "30"})
    assert AuditEvent.objects.filter(action="deployment.update").count() == 1


@pytest.mark.parametrize("days", ["0", "-3", "3651", "ten", "1.5"])
def test_an_invalid_age_is_a_clear_error_and_saves_nothing(as_role, deployment, urls, days):
    response = as_role(Role.ADMIN).post(urls[1], {"max_secret_age_days": days}, **HX)
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    deployment.refresh_from_db()
    assert deployment.max_secret_age_days is None
    assert not AuditEvent.objects.filter(action="deployment.update").exists()


@pytest.mark.parametrize("days", [0, 3651, True, "30", 1.5])
def test_the_service_refuses_what_is_not_a_day_count(deployment, actor, days):
    with pytest.raises(Invalid) as refused:
        services.set_max_secret_age(deployment=deployment, days=days, actor=actor)
    assert refused.value.field == "max_secret_age_days"


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_only_admins_may_set_it(as_role, deployment, urls, role):
    response = as_role(role).post(urls[1], {"max_secret_age_days": "5"})
    if role == "outsider":
        assert response.status_code == 404
    elif RANK[role] < RANK["admin"]:
        assert response.status_code == 403
    else:
        assert response.status_code == 302
    assert Deployment.objects.get(pk=deployment.pk).max_secret_age_days == (
        5 if role in ("admin", "owner") else None
    )


def test_get_is_405(as_role, urls):
    assert as_role(Role.OWNER).get(urls[1]).status_code == 405


def test_anonymous_users_are_sent_to_log_in(as_role, urls):
    response = as_role("anonymous").post(urls[1], {"max_secret_age_days": "5"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_members_below_admin_see_it_without_a_form(as_role, deployment, urls, actor, role):
    services.set_max_secret_age(deployment=deployment, days=60, actor=actor)
    html = as_role(role).get(urls[0]).content.decode()
    assert "A secret older than 60 days is flagged overdue." in html
    assert 'name="max_secret_age_days"' not in html
