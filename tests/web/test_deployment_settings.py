"""Deployment settings: the apex domain, and deleting the deployment."""

from django.urls import reverse

from environments import services
from environments.models import Deployment, Domain, Role


def test_setting_the_apex_lists_attached_and_skipped(as_role, deployment, make_user):
    other_owner = make_user("other")
    other = services.create_deployment(
        name="other", actor=services.Actor(user=other_owner, label=other_owner.get_username())
    )
    services.add_domain(
        environment=other.environments.get(name="staging"),
        hostname="staging.shop.test",
        actor=services.Actor(user=other_owner, label=other_owner.get_username()),
    )
    client = as_role(Role.ADMIN)
    url = reverse("deployment_settings", kwargs={"deployment_id": deployment.pk})
    response = client.post(url, {"apex_domain": "shop.test"}, follow=True)
    html = response.content.decode()
    assert "The apex domain is now shop.test. Attached shop.test." in html
    assert "Skipped staging.shop.test" in html
    assert Domain.objects.get(hostname="shop.test").environment.name == "production"


def test_suggested_hostnames_are_listed(as_role, deployment, actor):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    services.set_apex_domain(deployment=deployment, apex="shop.test", actor=actor)
    url = reverse("deployment_settings", kwargs={"deployment_id": deployment.pk})
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert "preview-pr-42.shop.test" in html and "attached" in html


def test_an_invalid_apex_is_a_field_error(as_role, deployment):
    url = reverse("deployment_settings", kwargs={"deployment_id": deployment.pk})
    response = as_role(Role.ADMIN).post(url, {"apex_domain": "not a host"})
    assert response.status_code == 400


def test_admin_sees_no_delete_button(as_role, deployment):
    url = reverse("deployment_settings", kwargs={"deployment_id": deployment.pk})
    assert "Delete shop" not in as_role(Role.ADMIN).get(url).content.decode()


def test_owner_deletes_by_typing_the_name(as_role, deployment):
    client = as_role(Role.OWNER)
    url = reverse("deployment_delete", kwargs={"deployment_id": deployment.pk})
    client.post(url, {"confirm_name": "nope"})
    assert Deployment.objects.exists()
    response = client.post(url, {"confirm_name": "shop"})
    assert response.status_code == 302 and not Deployment.objects.exists()
