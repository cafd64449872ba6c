"""Fixtures for the web views: users with each role on `shop`, and htmx requests."""

import pytest

from environments import services
from environments.actors import Actor
from environments.models import Role

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def as_role(client, deployment, owner, member, make_user):
    """as_role(role) logs the test client in as a user with that role on `shop`.

    "outsider" is a user who is not a member; "anonymous" logs nobody in.
    """

    def login(role: str):
        if role == "anonymous":
            return client
        if role == "outsider":
            user = make_user("outsider")
        elif role == Role.OWNER:
            user = owner
        else:
            user = member(role)
        client.force_login(user)
        return client

    return login


@pytest.fixture
def versions(deployment, actor):
    """v1 ran in staging then production; v2 runs in staging. Returns {number: version}."""
    return make_versions(deployment, actor)


def make_versions(deployment, actor):
    """What the `versions` fixture makes (for fixtures that make it once per module)."""
    made = {
        n: services.create_version(deployment=deployment, label=f"b{n}", actor=actor)
        for n in (1, 2)
    }
    staging = deployment.environments.get(name="staging")
    services.deploy_version(environment=staging, version=made[1], actor=actor)
    services.promote(source=staging, version_number=1, expected_target_version=None, actor=actor)
    services.deploy_version(environment=staging, version=made[2], actor=actor)
    return made


def expected_status(role: str, need: str) -> int:
    """What a GET or POST answers for `role` when the action needs `need`."""
    if role == "outsider":
        return 404
    rank = {"viewer": 1, "developer": 2, "admin": 3, "owner": 4}
    return 403 if rank[role] < rank[need] else 200


@pytest.fixture
def system_actor():
    return Actor.system("tests")
