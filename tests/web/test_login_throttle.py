"""Login throttling (SPEC §12): 5 failures for one username from one address, or 30 from
one address, within 15 minutes lock that pair (or address) for 15 minutes; the lock page says so
(429) with the time left; the right password does not get in meanwhile; failed and locked logins
are audited, outcome `denied`; the web login and the Django admin's share the count."""

from __future__ import annotations

import http.cookiejar
import io
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments.models import AuditEvent
from project import settings as project_settings

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"  # make_user's
WRONG = "canary-pw-9d41e7a2-never-stored"  # a password typed that must be stored nowhere
LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
ROOT = Path(__file__).resolve().parents[2]


def attempt(client, username: str, password: str, *, path: str = LOGIN, **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def fail(client, username: str, times: int, **kwargs):
    return [attempt(client, username, WRONG, **kwargs) for _ in range(times)]


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def age_attempts(by: timedelta) -> None:
    for row in AccessAttempt.objects.all():
        row.attempt_time -= by
        row.save(update_fields=["attempt_time"])


def test_five_failures_lock_the_username_from_that_address(client, make_user):
    make_user("alice")

    responses = fail(client, "alice", 5)

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert "Please enter a correct username and password" in responses[3].text
    locked = responses[4]
    assert "Too many failed logins" in locked.text
    assert "Try again in 15 minutes." in locked.text
    assert 15 * 60 - 5 <= int(locked["Retry-After"]) <= 15 * 60  # seconds; slack for a slow run
    assert WRONG not in locked.text


def test_the_right_password_does_not_get_in_while_locked(client, make_user):
    make_user("alice")
    fail(client, "alice", 5)

    response = attempt(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert "Try again in 15 minutes." in response.text
    assert not logged_in(client)
    assert client.get(reverse("deployment_list")).status_code == 302  # to the login page


def test_four_failures_do_not_lock(client, make_user):
    make_user("alice")
    fail(client, "alice", 4)

    response = attempt(client, "alice", PASSWORD)

    assert response.status_code == 302 and logged_in(client)


def test_the_pair_lock_holds_only_for_that_username_and_that_address(client, make_user):
    make_user("alice")
    make_user("bob")
    fail(client, "alice", 5)

    assert attempt(client, "bob", PASSWORD).status_code == 302  # same address, other username
    client.logout()
    elsewhere = attempt(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.9")
    assert elsewhere.status_code == 302  # same username, other address


def test_thirty_failures_from_one_address_lock_it_for_every_username(client, make_user):
    make_user("bob")
    address = {"REMOTE_ADDR": "203.0.113.7"}
    statuses = [attempt(client, f"guess-{i}", WRONG, **address).status_code for i in range(30)]

    assert statuses == [200] * 29 + [429]
    response = attempt(client, "bob", PASSWORD, **address)
    assert response.status_code == 429 and not logged_in(client)
    assert "Try again in 15 minutes." in response.text
    # Another address is not locked.
    assert attempt(client, "bob", PASSWORD, REMOTE_ADDR="203.0.113.8").status_code == 302


def test_the_lock_counts_down_and_lifts_after_fifteen_minutes(client, make_user):
    make_user("alice")
    fail(client, "alice", 5)

    age_attempts(timedelta(minutes=1, seconds=30))
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Try again in 14 minutes." in response.text

    age_attempts(timedelta(minutes=13))  # 14 min 30 s since the lock
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Try again in 1 minute." in response.text

    age_attempts(timedelta(seconds=31))  # 15 min 1 s
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_attempts_during_a_lock_do_not_extend_it(client, make_user):
    make_user("alice")
    fail(client, "alice", 5)
    age_attempts(timedelta(minutes=10))

    assert fail(client, "alice", 3)[-1].status_code == 429

    age_attempts(timedelta(minutes=5, seconds=1))
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_the_django_admin_login_is_locked_too(client, make_user):
    make_user("root", superuser=True)
    admin_fields = {"path": ADMIN_LOGIN}

    statuses = [r.status_code for r in fail(client, "root", 5, **admin_fields)]
    assert statuses == [200, 200, 200, 200, 429]

    response = attempt(client, "root", PASSWORD, **admin_fields)
    assert response.status_code == 429 and not logged_in(client)
    assert "Try again in 15 minutes." in response.text
    assert 'href="/admin/login/"' in response.text
    # The site's login shares the lock.
    assert attempt(client, "root", PASSWORD).status_code == 429


def test_failures_on_both_login_pages_add_up(client, make_user):
    make_user("root", superuser=True)
    fail(client, "root", 3)
    fail(client, "root", 2, path=ADMIN_LOGIN)

    assert attempt(client, "root", PASSWORD, path=ADMIN_LOGIN).status_code == 429


def test_failed_and_locked_logins_are_audited_as_denied(client, make_user):
    make_user("alice")
    headers = {"HTTP_USER_AGENT": "curl/8.5", "REMOTE_ADDR": "192.0.2.44"}
    fail(client, "alice", 5, **headers)
    attempt(client, "alice", PASSWORD, path=ADMIN_LOGIN, **headers)

    # Coalesced (issue 18): one event per address, username and login page a lock window.
    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.count) for e in events] == [
        ("auth.login_failed", 4),
        ("auth.login_locked", 1),
        ("auth.login_locked", 1),
    ]
    for event in events:
        assert event.outcome == AuditEvent.Outcome.DENIED
        assert event.deployment is None and event.actor is None
        assert event.actor_label == "anonymous"
        assert event.target == "alice"
        assert event.ip == "192.0.2.44"
        assert event.user_agent == "curl/8.5"
    assert events[0].detail == {"path": LOGIN}
    assert events[1].detail == {"path": LOGIN, "lock": "username"}
    assert events[-1].detail == {"path": ADMIN_LOGIN, "lock": "username"}


def test_no_password_typed_is_stored_anywhere(client, make_user):
    make_user("alice")
    fail(client, "alice", 6)
    attempt(client, "alice", PASSWORD)
    # Coalesced (issue 18): 4 failed, then 3 locked.
    assert sorted(AuditEvent.objects.values_list("action", "count")) == [
        ("auth.login_failed", 4),
        ("auth.login_locked", 3),
    ]

    for event in AuditEvent.objects.all():
        stored = repr([getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields])
        assert WRONG not in stored and PASSWORD not in stored
    for row in AccessAttempt.objects.values():
        assert WRONG not in repr(row) and PASSWORD not in repr(row)


def test_the_username_is_counted_and_audited_printable_and_bounded(client):
    """The login forms do not bound the username's length; axes' column holds 255 characters
    (PostgreSQL refuses more)."""
    typed = "mallory\x1b[31m\u202e" + "x" * 300
    expected = ("mallory[31m" + "x" * 300)[:150]

    responses = fail(client, typed, 5)

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert AccessAttempt.objects.get().username == expected
    assert set(AuditEvent.objects.values_list("target", flat=True)) == {expected}


def test_the_address_behind_trusted_proxies_is_the_one_counted(client, make_user, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    make_user("alice")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    fail(client, "alice", 5, HTTP_X_FORWARDED_FOR="203.0.113.50", **proxy)

    locked = attempt(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.50", **proxy)
    other = attempt(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.51", **proxy)

    assert locked.status_code == 429
    assert other.status_code == 302  # another client behind the same load balancer
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.50"}
    assert set(AuditEvent.objects.values_list("ip", flat=True)) == {"203.0.113.50"}


def test_a_locked_attempt_costs_the_same_queries_however_many_failures_are_stored(
    client, make_user
):
    def queries_for_a_locked_attempt(address: str, other_usernames: int) -> int:
        for i in range(other_usernames):
            attempt(client, f"other-{i}", WRONG, REMOTE_ADDR=address)
        fail(client, "alice", 5, REMOTE_ADDR=address)
        with CaptureQueriesContext(connection) as ctx:
            assert attempt(client, "alice", PASSWORD, REMOTE_ADDR=address).status_code == 429
        return len(ctx)

    make_user("alice")
    assert queries_for_a_locked_attempt("192.0.2.1", 0) == queries_for_a_locked_attempt(
        "192.0.2.2", 20
    )


# Two app servers share the lock --------------------------------------------------------------


class AppServer:
    """`gunicorn project.wsgi` in a process of its own, on the test database. It serves a socket
    bound here first, so a request made before it has booted waits in the socket's backlog."""

    def __init__(self, database_url: str):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        env = {
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DEBUG": "true",
            "SECRET_KEY": settings.SECRET_KEY,
            "ENCRYPTION_KEYS": settings.ENCRYPTION_KEYS,
            "DATABASE_URL": database_url,
        }
        fd = self.sock.fileno()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"fd://{fd}",
                "--workers",
                "1",
                "--log-level",
                "warning",
                "project.wsgi",
            ],
            cwd=ROOT,
            env=env,
            pass_fds=[fd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.sock.close()  # the server holds it now
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.url + path, data=data, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def log_in(self, username: str, password: str) -> tuple[int, str]:
        status, _ = self.request(LOGIN)  # sets the CSRF cookie
        assert status == 200
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        return self.request(LOGIN, form)

    def stop(self) -> str:
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=30)
        return stderr.decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is the answer, not a page to follow


def database_url() -> str:
    db = connection.settings_dict
    credentials = urllib.parse.quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + urllib.parse.quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def two_app_servers(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("two app servers share one database: needs PostgreSQL (DATABASE_URL=…)")
    servers = [AppServer(database_url()) for _ in range(2)]
    yield servers
    for server in servers:
        stderr = server.stop()
        assert "Traceback" not in stderr, stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_failures_on_one_app_server_lock_the_login_on_another(two_app_servers, make_user, settings):
    a, b = two_app_servers
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS  # what the servers verify
    make_user("alice")
    make_user("bob")

    statuses = [a.log_in("alice", WRONG)[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]

    status, page = b.log_in("alice", PASSWORD)
    assert status == 429
    assert "Try again in 15 minutes." in page
    assert b.log_in("bob", PASSWORD)[0] == 302  # server B logs people in; alice is locked
    assert a.process.pid != b.process.pid


def test_an_admin_lifts_a_lock_with_axes_reset_username(client, make_user):
    make_user("alice")
    fail(client, "alice", 5)

    call_command("axes_reset_username", "alice", stdout=io.StringIO())

    assert attempt(client, "alice", PASSWORD).status_code == 302
