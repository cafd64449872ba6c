"""Issue 18, the audit chain: the audit page and its export select a deployment's events by
chain (which the hashes fix), not by the `deployment` foreign key (which they do not cover);
and anonymous and viewer actions append a bounded number of events: failed and locked logins
one per lock window with a count, compare views one per user and pair of environments a
minute."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from environments import audit, selectors, services
from environments.actors import Actor
from environments.models import AuditEvent, Role
from tests.concurrently import run_concurrently, skip_unless_postgres
from tests.refuse_audit import refuse_audit_writes

pytestmark = pytest.mark.django_db

WRONG = "canary-pw-5b0c-never-stored"


def sql(statement: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# Select by chain ------------------------------------------------------------------------------


def test_an_event_whose_deployment_id_was_moved_stays_in_its_own_log(
    as_role, deployment, staging, actor
):
    blog = services.create_deployment(name="blog", actor=actor)
    services.set_variable(
        environment=staging, key="MOVED_KEY", value="v", is_secret=False, actor=actor
    )
    event = AuditEvent.objects.get(action="variable.create", target="MOVED_KEY")
    sql(
        "UPDATE environments_auditevent SET deployment_id = %s WHERE id = %s",
        [blog.pk, event.pk],
    )
    client = as_role(Role.OWNER)  # owner of both
    shop_page = client.get(reverse("audit_log", kwargs={"deployment_id": deployment.pk}))
    blog_page = client.get(reverse("audit_log", kwargs={"deployment_id": blog.pk}))
    assert "MOVED_KEY" in shop_page.text
    assert "MOVED_KEY" not in blog_page.text
    assert "variable.create" not in blog_page.text  # not even in the action filter

    def exported(d) -> str:
        response = client.get(reverse("audit_export_csv", kwargs={"deployment_id": d.pk}))
        return b"".join(response.streaming_content).decode()

    assert "MOVED_KEY" in exported(deployment)
    assert "MOVED_KEY" not in exported(blog)


# Bounded appends: logins ----------------------------------------------------------------------


def attempt(client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_failed_logins_in_one_window_are_one_event_with_a_count(client, make_user):
    make_user("alice")
    for _ in range(4):
        assert attempt(client, "alice", WRONG).status_code == 200
    events = list(AuditEvent.objects.filter(action="auth.login_failed"))
    assert len(events) == 1
    assert events[0].count == 4 and events[0].target == "alice"


def test_attempts_while_locked_are_one_event_with_a_count(client, make_user):
    make_user("alice")
    statuses = [attempt(client, "alice", WRONG).status_code for _ in range(25)]
    assert statuses == [200] * 4 + [429] * 21
    locked = list(AuditEvent.objects.filter(action="auth.login_locked"))
    assert len(locked) == 1 and locked[0].count == 21
    assert AuditEvent.objects.filter(chain=audit.GLOBAL_CHAIN).count() == 2


def test_an_address_locked_for_every_username_is_one_event_however_many_usernames(client):
    address = {"REMOTE_ADDR": "203.0.113.77"}
    for i in range(30):
        attempt(client, f"guess-{i}", WRONG, **address)
    before = AuditEvent.objects.count()
    for i in range(40):
        assert attempt(client, f"spray-{i}", WRONG, **address).status_code == 429
    assert AuditEvent.objects.count() == before
    locked = AuditEvent.objects.filter(action="auth.login_locked").order_by("id")
    assert sum(e.count for e in locked) == 41 and len(locked) <= 2


def test_a_new_window_starts_a_new_event(client, make_user, monkeypatch):
    make_user("alice")
    attempt(client, "alice", WRONG)
    later = audit.now() + timedelta(minutes=16)
    monkeypatch.setattr(audit, "now", lambda: later)
    attempt(client, "alice", WRONG)
    events = AuditEvent.objects.filter(action="auth.login_failed").order_by("id")
    assert [e.count for e in events] == [1, 1]


# Bounded appends: compare ---------------------------------------------------------------------


def test_compare_views_in_a_minute_are_one_event_per_user_and_pair(
    as_role, deployment, monkeypatch
):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    client = as_role(Role.VIEWER)
    for _ in range(7):
        assert client.get(url, {"left": "staging", "right": "production"}).status_code == 200
    client.get(url, {"left": "production", "right": "staging"})
    events = AuditEvent.objects.filter(action="environment.compare").order_by("id")
    assert [(e.target, e.count) for e in events] == [
        ("staging..production", 7),
        ("production..staging", 1),
    ]
    later = audit.now() + timedelta(seconds=61)
    monkeypatch.setattr(audit, "now", lambda: later)
    client.get(url, {"left": "staging", "right": "production"})
    assert AuditEvent.objects.filter(action="environment.compare").count() == 3


def test_a_coalesced_compare_does_not_move_the_chain_s_head(as_role, deployment):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    client = as_role(Role.VIEWER)
    client.get(url, {"left": "staging", "right": "production"})
    head = selectors.audit_chain_heads(deployment.pk)[deployment.pk]
    client.get(url, {"left": "staging", "right": "production"})
    assert selectors.audit_chain_heads(deployment.pk)[deployment.pk].seq == head.seq


def test_the_count_is_on_the_page_and_in_the_export(as_role, deployment):
    for _ in range(3):
        audit.record(
            "environment.compare",
            actor=Actor.system("viewer-x"),
            deployment=deployment,
            target="staging..production",
            detail={"left": "staging", "right": "production", "secrets_hidden": True},
        )
    client = as_role(Role.OWNER)
    # A compare view is a read: shown under "Everything" (issue 21, item 12).
    page = client.get(
        reverse("audit_log", kwargs={"deployment_id": deployment.pk}), {"show": "all"}
    )
    assert "×3" in page.text
    response = client.get(reverse("audit_export_csv", kwargs={"deployment_id": deployment.pk}))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    compare = [r for r in rows if r["action"] == "environment.compare"]
    assert [r["count"] for r in compare] == ["3"]


# Still fail-closed, and race-safe -------------------------------------------------------------


def refuse(*args, **kwargs):
    raise RuntimeError("audit store unavailable")


def test_a_compare_that_cannot_be_counted_is_not_shown(as_role, deployment, monkeypatch):
    url = reverse("compare", kwargs={"deployment_id": deployment.pk})
    client = as_role(Role.VIEWER)
    client.get(url, {"left": "staging", "right": "production"})
    refuse_audit_writes(monkeypatch, refuse)
    with pytest.raises(RuntimeError):
        client.get(url, {"left": "staging", "right": "production"})
    monkeypatch.undo()
    assert AuditEvent.objects.get(action="environment.compare").count == 1


def test_a_failed_login_that_cannot_be_counted_fails_the_request(client, make_user, monkeypatch):
    make_user("alice")
    attempt(client, "alice", WRONG)
    refuse_audit_writes(monkeypatch, refuse)
    with pytest.raises(RuntimeError):
        attempt(client, "alice", WRONG)
    monkeypatch.undo()
    assert AuditEvent.objects.get(action="auth.login_failed").count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_compares_are_all_counted(deployment):
    """Threads comparing at once: none is lost. From cold, the first ones may each append an
    event (how many depends on timing: all of them on a loaded machine); once an event is
    open, every later one queues on that event's row and adds one to it."""
    skip_unless_postgres()
    threads = 16
    staging = deployment.environments.get(name="staging")
    production = deployment.environments.get(name="production")

    def view(i: int):
        return lambda: services.record_compare(
            left=staging, right=production, secrets_hidden=True, actor=Actor.system("viewer")
        )

    results = run_concurrently([view(i) for i in range(threads)])
    assert not [r for r in results if isinstance(r, Exception)], results
    events = AuditEvent.objects.filter(action="environment.compare")
    assert sum(e.count for e in events) == threads
    assert 1 <= len(events) <= threads
    opened = len(events)

    results = run_concurrently([view(i) for i in range(threads)])
    assert not [r for r in results if isinstance(r, Exception)], results
    events = AuditEvent.objects.filter(action="environment.compare")
    assert sum(e.count for e in events) == 2 * threads
    assert len(events) == opened  # all counted into an open event, none appended
