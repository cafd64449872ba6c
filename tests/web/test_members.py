"""The members page for owners: add by username, change role, remove."""

import pytest
from django.urls import reverse

from environments.models import Membership, Role


@pytest.fixture
def owner_client(as_role):
    return as_role(Role.OWNER)


def test_lists_members(owner_client, deployment):
    html = owner_client.get(
        reverse("members", kwargs={"deployment_id": deployment.pk})
    ).content.decode()
    assert "olivia" in html and "(you)" in html


def test_add_by_username(owner_client, deployment, make_user):
    make_user("newbie")
    url = reverse("members", kwargs={"deployment_id": deployment.pk})
    response = owner_client.post(url, {"username": "newbie", "role": "developer"})
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newbie").role == "developer"


def test_add_unknown_user_is_a_field_error(owner_client, deployment):
    url = reverse("members", kwargs={"deployment_id": deployment.pk})
    response = owner_client.post(url, {"username": "ghost", "role": "viewer"})
    assert response.status_code == 400
    assert "There is no user with this username." in response.content.decode()


def test_change_role_and_remove(owner_client, deployment, member):
    user = member(Role.VIEWER)
    kw = {"deployment_id": deployment.pk, "user_id": user.pk}
    owner_client.post(reverse("member_role", kwargs=kw), {"role": "admin"})
    assert Membership.objects.get(user=user).role == "admin"
    asked = owner_client.post(reverse("member_remove", kwargs=kw))
    assert f"Remove {user.username} from shop?" in asked.content.decode()
    assert Membership.objects.filter(user=user).exists()
    owner_client.post(reverse("member_remove", kwargs=kw), {"confirmed": "yes"})
    assert not Membership.objects.filter(user=user).exists()


def test_the_last_owner_cannot_leave(owner_client, deployment, owner):
    kw = {"deployment_id": deployment.pk, "user_id": owner.pk}
    response = owner_client.post(reverse("member_role", kwargs=kw), {"role": "viewer"})
    assert response.status_code == 409
    assert "at least one owner" in response.content.decode()
