"""Create a custom environment (empty or a copy) and delete one by typing its name."""

from django.urls import reverse

from environments import services
from environments.models import Environment, Role
from tests.runtime import runtime_env


def test_create_a_copy(as_role, deployment, staging, actor):
    services.set_variable(
        environment=staging, key="S", value="copied-secret", is_secret=True, actor=actor
    )
    url = reverse("environment_create", kwargs={"deployment_id": deployment.pk})
    response = as_role(Role.DEVELOPER).post(
        url, {"name": "qa", "copy_from": "staging", "promotes_to": "staging"}
    )
    assert response.status_code == 302
    qa = Environment.objects.get(name="qa")
    assert runtime_env(qa)["S"] == "copied-secret" and qa.promotes_to == staging


def test_create_a_taken_name_is_a_field_error(as_role, deployment):
    url = reverse("environment_create", kwargs={"deployment_id": deployment.pk})
    response = as_role(Role.DEVELOPER).post(url, {"name": "staging"})
    assert response.status_code == 409
    assert "already has an environment named staging" in response.content.decode()


def test_delete_by_typing_the_name(as_role, deployment, actor):
    services.create_environment(deployment=deployment, name="qa", actor=actor)
    url = reverse("environment_delete", kwargs={"deployment_id": deployment.pk, "name": "qa"})
    client = as_role(Role.DEVELOPER)
    wrong = client.post(url, {"confirm_name": "q"})
    assert wrong.status_code == 400 and "Type qa exactly" in wrong.content.decode()
    assert client.post(url, {"confirm_name": "qa"}).status_code == 302
    assert not Environment.objects.filter(name="qa").exists()


def _create_url(deployment):
    return reverse("environment_create", kwargs={"deployment_id": deployment.pk})


def test_a_developer_cannot_copy_production(as_role, deployment, production, actor):
    services.set_variable(
        environment=production, key="S", value="prod-secret", is_secret=True, actor=actor
    )
    response = as_role(Role.DEVELOPER).post(
        _create_url(deployment), {"name": "qa", "copy_from": "production"}
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="id_copy_from_error"' in html
    assert "Copying production needs the admin role" in html
    assert not Environment.objects.filter(name="qa").exists()


def test_a_developer_is_offered_only_what_they_may_copy(as_role, deployment):
    html = as_role(Role.DEVELOPER).get(_create_url(deployment)).content.decode()
    assert "A copy of staging&#x27;s variables" in html
    assert "A copy of production" not in html


def test_an_admin_may_copy_production(as_role, deployment, production, actor):
    services.set_variable(
        environment=production, key="S", value="prod-secret", is_secret=True, actor=actor
    )
    client = as_role(Role.ADMIN)
    assert "A copy of production" in client.get(_create_url(deployment)).content.decode()
    response = client.post(_create_url(deployment), {"name": "qa", "copy_from": "production"})
    assert response.status_code == 302
    assert runtime_env(Environment.objects.get(name="qa"))["S"] == "prod-secret"


def test_production_and_staging_cannot_be_deleted_with_a_clear_message(as_role, deployment):
    url = reverse("environment_delete", kwargs={"deployment_id": deployment.pk, "name": "staging"})
    response = as_role(Role.OWNER).post(url, {"confirm_name": "staging"})
    assert response.status_code == 409
    assert "staging cannot be deleted" in response.content.decode()
    assert Environment.objects.filter(deployment=deployment, name="staging").exists()
    page = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "staging"})
    assert "Delete environment" not in as_role(Role.OWNER).get(page).content.decode()
