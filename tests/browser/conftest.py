"""Browser tests: Chromium through pytest-playwright against pytest-django's live server.

Data is made through the services (or seed_demo, which calls them); users log in through the
real login form.
"""

import os

import pytest
from django.core.management import call_command

from environments.models import Deployment, Role

PASSWORD = "pw-for-tests-only"


@pytest.hookimpl(trylast=True)  # after pytest-django's, which orders by database use
def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's event loop lives until the session ends, and the
    variable below must not reach earlier tests (nor subprocesses they start, such as
    `manage.py check --deploy`, which refuses it). Among them the longest (test_every_page, half
    a minute per width) run first, so that under xdist they do not end the run on one worker
    while the other waits."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is not None,
            item.path.name != "test_every_page.py",
        )
    )


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; the ORM calls made by these
    fixtures and tests are synchronous and safe. Set from the first browser test on."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session", autouse=True)
def _close_connections_before_playwright_stops(playwright):
    """While Playwright's event loop runs in this thread, Django keeps its connections in a
    context variable (asgiref's Local with an event loop running), not in the thread's storage;
    once the loop stops, at the end of the session, they can no longer be seen, so the test
    database's teardown cannot close them, and dropping it failed with "being accessed by other
    users" (a connection opened by tests run after the first browser test on the same xdist
    worker). Torn down before `playwright`, this closes them while they are still visible."""
    yield
    from django.db import connections

    connections.close_all()


@pytest.fixture
def shop(transactional_db) -> Deployment:
    """The demo: production v17, staging v18, preview/pr-42 v19, variables, bindings, domains."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    return Deployment.objects.get(name="shop")


@pytest.fixture
def shop_member(shop, make_user):
    """shop_member(role) -> a user with that role on the demo deployment."""
    from environments import services
    from environments.actors import Actor

    def make(role: str = Role.OWNER, username: str | None = None):
        user = make_user(username or f"{role}-user")
        services.set_member(deployment=shop, user=user, role=role, actor=Actor.system("tests"))
        return user

    return make


@pytest.fixture
def login(page, live_server):
    """login(user) logs in through the login form and lands on the deployments list."""

    def go(user, password: str = PASSWORD):
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return go


def pytest_terminal_summary(terminalreporter):
    """The axe-core violations that do not fail a test (impact moderate or minor), by rule, with
    the states they were seen in: to read, and fix when they are worth it."""
    from .checks import seen_minor

    if not seen_minor:
        return
    terminalreporter.section("axe-core: moderate and minor violations (not failing)")
    for rule, states in sorted(seen_minor.items()):
        terminalreporter.write_line(f"{rule}: {', '.join(sorted(states))}")
