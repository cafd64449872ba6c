"""Every web route with an id answers 404 for an id no row can have: never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, reverse

from environments import services
from environments.actors import Actor
from environments.models import Deployment, Role
from environments.web import urls
from tests.conftest import create_user

HUGE = 99999999999999999999999  # beyond a 64-bit integer: an OverflowError if it reaches SQL
SENTINEL = 987654321
ID_NAMES = ("deployment_id", "pk", "user_id", "rotation_id", "delivery_id")


def _routes(patterns, prefix_converters=()) -> list[tuple[str, tuple[str, ...]]]:
    """(url name, id parameters) of every route that takes an id."""
    found = []
    for entry in patterns:
        converters = prefix_converters + tuple(entry.pattern.converters)
        if isinstance(entry, URLResolver):
            found += _routes(entry.url_patterns, converters)
        elif isinstance(entry, URLPattern) and entry.name:
            ids = tuple(name for name in converters if name in ID_NAMES)
            if ids:
                found.append((entry.name, ids))
    return found


ROUTES = _routes(urls.urlpatterns)
CASES = [
    (name, bad_id, value)
    for name, ids in ROUTES
    for bad_id in ids
    for value in (str(HUGE), "-1", "0")
]


def test_the_routes_with_ids_are_found():
    names = {name for name, _ in ROUTES}
    assert {"deployment", "binding_edit", "member_role", "api_token_revoke"} <= names


def _reverse(name: str, kwargs: dict) -> str:
    for extra in (
        {},
        {"name": "production"},
        {"name": "production", "key": "K"},
        {"group": "common"},
        {"group": "common", "key": "K"},
    ):
        try:
            return reverse(name, kwargs=kwargs | extra)
        except Exception:
            continue
    raise AssertionError(f"cannot reverse {name}")


@pytest.fixture(scope="module")
def _shop_rows(module_rows):
    """The conftest's owner and `shop`, made once for the module's 660 tests
    (tests.conftest.module_rows: each test sees them as made). (owner pk, deployment pk)."""
    with module_rows():
        owner = create_user("olivia")
        deployment = services.create_deployment(
            name="shop", actor=Actor(user=owner, label=owner.get_username())
        )
    return owner.pk, deployment.pk


@pytest.fixture
def owner(db, _shop_rows):
    return get_user_model().objects.get(pk=_shop_rows[0])


@pytest.fixture
def deployment(db, _shop_rows):
    return Deployment.objects.get(pk=_shop_rows[1])


@pytest.mark.parametrize("superuser", [False, True], ids=["owner", "superuser"])
@pytest.mark.parametrize("name, bad_id, value", CASES)
def test_an_id_out_of_range_is_a_404(
    client, deployment, owner, make_user, superuser, name, bad_id, value
):
    client.raise_request_exception = False
    client.force_login(make_user("root", superuser=True) if superuser else owner)
    ids = dict(ROUTES)[name]
    kwargs = {i: (SENTINEL if i == bad_id else deployment.pk) for i in ids}
    url = _reverse(name, kwargs).replace(str(SENTINEL), value)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {"confirmed": "yes"})
    assert response.status_code == 404, url


def test_a_huge_deployment_id_is_a_404_for_a_member(as_role):
    client = as_role(Role.VIEWER)
    client.raise_request_exception = False
    assert client.get(f"/deployments/{HUGE}/").status_code == 404
