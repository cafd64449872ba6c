"""The audit log for people (issue 21, item 12): labels, and "Changes" (the default) hiding
reads (runtime fetches, reveals, compare views, previews, exports, failed logins) so that
changes stand out, with "Everything" showing them all."""

import re

import pytest
from django.urls import reverse

from environments import audit, services
from environments.models import Role


@pytest.fixture
def url(deployment):
    return reverse("audit_log", kwargs={"deployment_id": deployment.pk})


@pytest.fixture
def log(staging, actor):
    services.set_variable(environment=staging, key="A", value="v1", is_secret=False, actor=actor)
    services.reveal_variable(environment=staging, key="A", actor=actor)
    audit.record("runtime.fetch", actor=actor, environment=staging, target="web-1")
    services.set_variable(environment=staging, key="A", value="v2", is_secret=False, actor=actor)


def _actions(html: str) -> list[str]:
    return re.findall(r"<code>([a-z_]+\.[a-z_]+)</code>", html)


def test_actions_read_as_labels_with_the_raw_name_kept(as_role, url, log):
    html = as_role(Role.ADMIN).get(url).content.decode()
    assert "Variable created" in html and "Variable updated" in html
    assert "<code>variable.create</code>" in html  # for those who grep
    assert "v1" not in re.sub(r"<[^>]+>", " ", html).split()


def test_changes_is_the_default_and_hides_reads(as_role, url, log):
    html = as_role(Role.ADMIN).get(url).content.decode()
    actions = _actions(html)
    assert "variable.update" in actions and "variable.create" in actions
    assert "runtime.fetch" not in actions and "variable.reveal" not in actions
    assert 'value="changes" selected' in html


def test_everything_shows_reads_too(as_role, url, log):
    html = as_role(Role.ADMIN).get(url, {"show": "all"}).content.decode()
    actions = _actions(html)
    assert {"runtime.fetch", "variable.reveal", "variable.update", "variable.create"} <= set(
        actions
    )
    assert "Runtime fetched config" in html and "Variable revealed" in html
    assert 'value="all" selected' in html


def test_picking_a_read_action_shows_it_under_changes(as_role, url, log):
    html = as_role(Role.ADMIN).get(url, {"action": "runtime.fetch"}).content.decode()
    assert _actions(html) == ["runtime.fetch"]


def test_older_pages_keep_the_view(as_role, url, staging, actor):
    for i in range(105):
        audit.record("runtime.fetch", actor=actor, environment=staging, target=f"w{i}")
    client = as_role(Role.ADMIN)
    html = client.get(url, {"show": "all"}).content.decode()
    older = re.search(r'href="([^"]*before=\d+[^"]*)"', html)
    assert older and "show=all" in older.group(1)


def test_the_export_keeps_every_event(as_role, url, deployment, log):
    client = as_role(Role.ADMIN)
    export = reverse("audit_export_jsonl", kwargs={"deployment_id": deployment.pk})
    body = b"".join(client.get(export, {"show": "changes"}).streaming_content).decode()
    assert '"runtime.fetch"' in body and '"variable.reveal"' in body


@pytest.mark.parametrize("show", ["changes", "all"])
def test_query_count_is_fixed(as_role, url, staging, actor, django_assert_num_queries, show):
    for i in range(30):
        services.set_variable(
            environment=staging, key=f"K{i}", value="v", is_secret=False, actor=actor
        )
        audit.record("runtime.fetch", actor=actor, environment=staging, target=f"w{i}")
    client = as_role(Role.ADMIN)
    # session, user, membership, actions, environments, events
    with django_assert_num_queries(6):
        client.get(url, {"show": show})
