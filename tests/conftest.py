from __future__ import annotations

import os
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from environments import services
from environments.actors import Actor
from environments.models import Role

CHROMIUM = "/usr/bin/chromium"

# The OIDC issuer's fixtures (issuer, trust) for every test that asks for them: named here, in
# the first conftest, so the module is registered (and its asserts rewritten) before the test
# modules that import its constants do.
pytest_plugins = ["tests.oidc_issuer"]

# A value that must never leave the server except through the runtime endpoint.
CANARY = "canary-7f3b9c1e-do-not-leak-5a2d"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (in memory: tests/settings.py), so rate-limit
    counts do not carry over to a token of the next test that reuses the same id."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="module")
def module_rows(django_db_setup, django_db_blocker):
    """Rows a module's tests share, made once, as django.test.TestCase.setUpTestData makes
    them: inside a transaction opened for the module and rolled back after its last test.
    Each test's own transaction (the `db` fixture) is then a savepoint in it, rolled back after
    the test, so every test starts from these rows exactly as made, whatever the one before
    changed. Not for transactional tests (they commit and flush).

    Yields `unblock`: make the rows in `with unblock():`; fixtures built on this one return
    primary keys (or fetch fresh instances per test), never model instances to share."""
    with django_db_blocker.unblock():
        assert not connection.in_atomic_block, "module_rows inside another transaction"
        outer = transaction.atomic()
        outer._from_testcase = True  # as TestCase's class-wide atomic: durable blocks may nest
        outer.__enter__()
    try:
        yield django_db_blocker.unblock
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            assert not connection.in_atomic_block


def create_user(username: str, *, superuser: bool = False, password: str = "pw-for-tests-only"):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username=username, password=password)
    return User.objects.create_user(username=username, password=password)


@pytest.fixture
def make_user(db):
    return create_user


@pytest.fixture
def owner(make_user):
    return make_user("olivia")


@pytest.fixture
def deployment(owner):
    return services.create_deployment(
        name="shop", actor=Actor(user=owner, label=owner.get_username())
    )


@pytest.fixture
def member(deployment, owner, make_user):
    """member(role) -> a new user with that role on `deployment`."""

    def make(role: str, username: str | None = None):
        user = make_user(username or f"{role}-user")
        services.set_member(
            deployment=deployment,
            user=user,
            role=role,
            actor=Actor(user=owner, label=owner.get_username()),
        )
        return user

    return make


@pytest.fixture
def production(deployment):
    return deployment.environments.get(name="production")


@pytest.fixture
def staging(deployment):
    return deployment.environments.get(name="staging")


@pytest.fixture
def actor(owner):
    return Actor(user=owner, label=owner.get_username())


ROLES = [Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER]


# Browser tests -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required under CI=true but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }
