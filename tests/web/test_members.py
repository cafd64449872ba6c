"""The members page for owners: add by username, change role, remove."""

import pytest
from django.contrib.messages import constants
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


def test_adding_answers_the_same_whether_or_not_the_username_exists(
    owner_client, deployment, make_user
):
    make_user("newbie")
    url = reverse("members", kwargs={"deployment_id": deployment.pk})
    answers = []
    for username in ["newbie", "ghost"]:
        response = owner_client.post(url, {"username": username, "role": "viewer"})
        followed = owner_client.get(response["Location"])
        message = [str(m) for m in followed.context["messages"]]
        answers.append((response.status_code, response["Location"], response.content, message))
    assert answers[0] == answers[1]
    assert answers[0][3] == ["If that user exists, they have been added."]
    assert Membership.objects.filter(user__username="newbie").exists()
    assert not Membership.objects.filter(user__username="ghost").exists()


def test_an_unknown_username_is_information_not_success(owner_client, deployment):
    response = owner_client.post(
        reverse("members", kwargs={"deployment_id": deployment.pk}),
        {"username": "ghost", "role": "viewer"},
    )
    followed = owner_client.get(response["Location"])
    (message,) = followed.context["messages"]
    assert message.level == constants.INFO
    html = followed.content.decode()
    assert 'class="message info"' in html and "Invite by email" in html


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


def test_remove_is_asked_in_place(owner_client, deployment, member):
    user = member(Role.VIEWER, "vic")
    url = reverse("members", kwargs={"deployment_id": deployment.pk})
    page = owner_client.get(url).content.decode()
    assert "hx-confirm" not in page and f"?remove={user.pk}" in page
    html = owner_client.get(url, {"remove": user.pk}).content.decode()
    assert "Remove vic from shop?" in html and html.count("data-escape") == 1
    assert 'name="confirmed" value="yes"' in html
    assert Membership.objects.filter(user=user).exists()
