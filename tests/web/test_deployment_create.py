"""Create a deployment from the deployments list: any logged-in user, who becomes its owner."""

import pytest
from django.urls import reverse

from environments import services
from environments.actors import Actor
from environments.models import AuditEvent, Deployment, Membership, Role

URL = "/deployments/new/"


def test_the_url():
    assert reverse("deployment_create") == URL


def test_any_logged_in_user_creates_one_and_owns_it(client, make_user):
    user = make_user("newcomer")
    client.force_login(user)
    assert "Create deployment" in client.get(reverse("deployment_list")).content.decode()
    response = client.post(URL, {"name": "blog"})
    deployment = Deployment.objects.get(name="blog")
    assert response.status_code == 302
    assert response["Location"] == reverse("deployment", args=[deployment.pk])
    assert Membership.objects.get(deployment=deployment).user == user
    assert Membership.objects.get(deployment=deployment).role == Role.OWNER
    assert {e.name for e in deployment.environments.all()} == {"production", "staging"}
    assert AuditEvent.objects.filter(action="deployment.create", target="blog").exists()
    page = client.get(response["Location"]).content.decode()
    assert "Created blog" in page


@pytest.mark.parametrize("name", ["Blog", "my_blog", "a" * 64, ""])
def test_a_bad_name_is_shown_next_to_the_field(client, make_user, name):
    client.force_login(make_user("newcomer"))
    response = client.post(URL, {"name": name})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="deployment-name-error"' in html
    assert not Deployment.objects.exists()


def test_a_taken_name_is_a_409_next_to_the_field(client, make_user, deployment):
    client.force_login(make_user("newcomer"))
    response = client.post(URL, {"name": "shop"})
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="deployment-name-error"' in html and "already taken" in html
    assert 'value="shop"' in html
    assert Deployment.objects.count() == 1


def test_anonymous_users_are_sent_to_log_in(client, db):
    response = client.post(URL, {"name": "blog"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not Deployment.objects.exists()


def test_get_is_refused(client, make_user):
    client.force_login(make_user("newcomer"))
    assert client.get(URL).status_code == 405


@pytest.mark.parametrize("n", [1, 15])
def test_the_list_query_count_is_fixed(client, make_user, django_assert_num_queries, n):
    user = make_user("many")
    for i in range(n):
        services.create_deployment(
            name=f"app-{i}", actor=Actor(user=user, label=user.get_username())
        )
    client.force_login(user)
    # session, user, deployments, environments (with versions and targets)
    with django_assert_num_queries(4):
        response = client.get(reverse("deployment_list"))
    assert response.content.decode().count('class="card deployment-row"') == n
