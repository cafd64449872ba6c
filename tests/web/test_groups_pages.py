"""The shared groups pages (SPEC §19): list and create groups, set a group's variables, link
groups from the environment page; what each role may do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments import services
from environments.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def common(deployment, actor):
    group = services.create_group(deployment=deployment, name="common", actor=actor)
    services.set_group_variables(
        group=group,
        items=[services.VariableInput("SENTRY_DSN", "https://key@sentry.example/1")],
        actor=actor,
    )
    return group


def test_the_groups_page_lists_groups_and_creates_one(as_role, deployment):
    url = reverse("groups", args=[deployment.pk])
    viewer = as_role(Role.VIEWER)
    assert viewer.get(url).status_code == 200
    assert viewer.post(url, {"name": "common"}).status_code == 403
    developer = as_role(Role.DEVELOPER)
    assert developer.post(url, {"name": "common"}).status_code == 302
    assert "common" in developer.get(url).content.decode()


def test_a_group_variable_is_set_and_its_secret_never_shown(as_role, deployment, common):
    url = reverse("group", args=[deployment.pk, "common"])
    client = as_role(Role.DEVELOPER)
    response = client.post(url, {"key": "TOKEN", "value": "s3cr3t-v4lue", "is_secret": "on"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "TOKEN" in page and "s3cr3t-v4lue" not in page and "••••" in page


def test_a_refused_reference_is_shown_with_its_chain(as_role, deployment, common):
    url = reverse("group", args=[deployment.pk, "common"])
    response = as_role(Role.DEVELOPER).post(url, {"key": "X", "value": "${{ NOPE }}"})
    assert response.status_code == 400
    assert "common.X → common.NOPE" in response.content.decode()


def test_the_environment_page_links_groups_and_shows_their_keys(
    as_role, deployment, staging, common
):
    client = as_role(Role.DEVELOPER)
    link = reverse("environment_groups", args=[deployment.pk, "staging"])
    assert client.post(link, {"groups": "common"}).status_code == 302
    page = client.get(reverse("environment", args=[deployment.pk, "staging"])).content.decode()
    assert 'data-testid="linked-group">common' in page
    assert "SENTRY_DSN" in page and "https://…" in page


def test_a_developer_cannot_write_a_group_production_links(
    as_role, deployment, production, common, actor
):
    services.set_environment_groups(environment=production, groups=["common"], actor=actor)
    url = reverse("group", args=[deployment.pk, "common"])
    link = reverse("environment_groups", args=[deployment.pk, "production"])
    developer = as_role(Role.DEVELOPER)
    assert developer.post(url, {"key": "A", "value": "b"}).status_code == 403
    assert developer.post(link, {"groups": ""}).status_code == 403
    assert as_role(Role.ADMIN).post(url, {"key": "A", "value": "b"}).status_code == 302


def test_an_outsider_sees_no_groups(client, make_user, deployment, common):
    client.force_login(make_user("stranger"))
    assert client.get(reverse("groups", args=[deployment.pk])).status_code == 404
    assert client.get(reverse("group", args=[deployment.pk, "common"])).status_code == 404


def test_the_pending_changes_say_what_changed_elsewhere(
    as_role, deployment, staging, production, common, actor
):
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    services.set_environment_groups(environment=production, groups=["common"], actor=actor)
    services.apply_changes(environment=production, actor=actor)
    services.set_group_variables(
        group=common, items=[services.VariableInput("SENTRY_DSN", "https://v2@x/1")], actor=actor
    )
    page = as_role(Role.VIEWER).get(reverse("environment", args=[deployment.pk, "production"]))
    assert "SENTRY_DSN changes because common.SENTRY_DSN changed" in page.content.decode()
