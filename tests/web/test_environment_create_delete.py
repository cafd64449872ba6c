"""Create a custom environment (empty or a copy) and delete one by typing its name."""

from django.urls import reverse

from environments import selectors, services
from environments.models import Environment, Role


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
    assert selectors.runtime_env(qa)["S"] == "copied-secret" and qa.promotes_to == staging


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
