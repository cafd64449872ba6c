"""Domains on the environment page."""

import pytest
from django.urls import reverse

from environments import services
from environments.models import Domain, Role

from .conftest import HX


def _url(deployment, view, name="staging", **kw):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, **kw})


@pytest.fixture
def admin(as_role):
    return as_role(Role.ADMIN)


def test_add_normalises_the_hostname(admin, deployment, staging):
    response = admin.post(_url(deployment, "domains"), {"hostname": "Bücher.Example"}, **HX)
    assert response.status_code == 200
    assert "xn--bcher-kva.example" in response.content.decode()
    assert Domain.objects.get().environment == staging


def test_a_pasted_url_gets_a_clear_error(admin, deployment):
    response = admin.post(
        _url(deployment, "domains"), {"hostname": "https://app.example.com/x"}, **HX
    )
    assert response.status_code == 400
    assert "Did you mean app.example.com?" in response.content.decode()


def test_a_taken_hostname_names_where_it_is(admin, deployment, production, actor):
    services.add_domain(environment=production, hostname="app.example.com", actor=actor)
    response = admin.post(_url(deployment, "domains"), {"hostname": "app.example.com"}, **HX)
    assert response.status_code == 409
    assert "already attached to shop/production" in response.content.decode()


def test_a_hostname_of_an_invisible_deployment_is_not_named(admin, deployment, make_user):
    other_owner = make_user("other")
    other = services.create_deployment(
        name="other", actor=services.Actor(user=other_owner, label=other_owner.get_username())
    )
    services.add_domain(
        environment=other.environments.get(name="production"),
        hostname="o.example.com",
        actor=services.Actor(user=other_owner, label=other_owner.get_username()),
    )
    html = admin.post(
        _url(deployment, "domains"), {"hostname": "o.example.com"}, **HX
    ).content.decode()
    assert "another deployment" in html and "other/production" not in html


def test_the_suggested_hostname_is_prefilled(admin, deployment, actor):
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    services.set_apex_domain(deployment=deployment, apex="shop.test", actor=actor)
    html = admin.get(_url(deployment, "environment", name="preview/pr-42")).content.decode()
    assert 'value="preview-pr-42.shop.test"' in html


def test_remove_asks_then_removes(admin, deployment, staging, actor):
    domain = services.add_domain(environment=staging, hostname="s.example.com", actor=actor)
    confirm = admin.get(_url(deployment, "domain_delete", pk=domain.pk), **HX).content.decode()
    assert "Stop routing" in confirm
    response = admin.post(_url(deployment, "domain_delete", pk=domain.pk))
    assert response.status_code == 302 and not Domain.objects.exists()
