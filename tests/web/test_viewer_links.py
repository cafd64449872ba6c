"""A viewer is offered only what a viewer may use: every link, htmx request and form on the
pages a viewer reaches answers them with something other than 403."""

import os
import re
from html import unescape

import pytest
from django.core.management import call_command

from environments import services
from environments.actors import Actor
from environments.models import Deployment, Role

LINK = re.compile(r'\b(?:href|hx-get)="(/[^"#]*)"')
FORM = re.compile(r'<form[^>]*method="post"[^>]*action="(/[^"#]*)"')


@pytest.fixture
def viewer_client(client, db, make_user):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    shop = Deployment.objects.get(name="shop")
    viewer = make_user("vic")
    services.set_member(deployment=shop, user=viewer, role=Role.VIEWER, actor=Actor.system())
    client.force_login(viewer)
    return client, shop


def test_a_viewer_is_not_offered_what_answers_403(viewer_client):
    client, shop = viewer_client
    start = f"/deployments/{shop.pk}/"
    queue, seen, refused = [start], set(), []
    while queue and len(seen) < 150:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code == 403:
            refused.append(f"GET {url}")
            continue
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        for found in LINK.findall(html):
            link = unescape(found)
            if link.startswith(start) and link not in seen and "export" not in link:
                queue.append(link)
        for action in FORM.findall(html):
            action = unescape(action)
            if action == "/logout/":
                continue
            answer = client.post(action, {})
            if answer.status_code == 403:
                refused.append(f"POST {action} (on {url})")
    assert len(seen) > 20
    assert refused == []


def test_a_viewer_is_not_sent_to_add_a_domain(viewer_client):
    client, shop = viewer_client
    html = client.get(f"/deployments/{shop.pk}/settings/").content.decode()
    assert "Add it on the environment page" not in html
    assert "not attached" in html


def test_the_403_page_names_who_can_grant_access(viewer_client):
    client, shop = viewer_client
    response = client.get(f"/deployments/{shop.pk}/audit/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "This needs the admin role or higher; you are viewer." in html
    owners = sorted(m.user.username for m in shop.memberships.filter(role=Role.OWNER))
    assert owners and f"Ask an owner of shop ({', '.join(owners)})" in html
