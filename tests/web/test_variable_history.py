"""A key's history page and Restore (SPEC §9): revisions, set/deleted, secret or not, who, when,
"same value as revision N" — never a value; Restore copies an earlier value server-side."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import selectors, services
from environments.models import AuditEvent, ConfigEntry, Role

from .conftest import HX

FIRST, SECOND = "sk_first_history_canary_1", "sk_second_history_canary_2"


def _url(deployment, name: str, key: str, view: str = "variable_history") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name, "key": key})


@pytest.fixture
def secret_history(staging, actor, versions):
    """STRIPE_KEY in staging (immediate, runs v2): FIRST, SECOND, FIRST again, then deleted
    and set to SECOND again. Returns the revisions of each step."""
    revisions = []
    for value in (FIRST, SECOND, FIRST):
        services.set_variable(
            environment=staging, key="STRIPE_KEY", value=value, is_secret=True, actor=actor
        )
        staging.refresh_from_db()
        revisions.append(staging.config_revision)
    return revisions


def _body(response) -> str:
    body = response.content.decode()
    assert FIRST not in body and SECOND not in body
    for entry in ConfigEntry.objects.exclude(ciphertext=b""):
        assert bytes(entry.ciphertext).hex()[:24] not in body
    return body


def test_the_history_lists_revisions_and_same_values_never_the_value(
    as_role, deployment, staging, secret_history
):
    first, _second, third = secret_history
    body = _body(as_role(Role.VIEWER).get(_url(deployment, "staging", "STRIPE_KEY")))
    assert 'History of <span class="key">STRIPE_KEY</span> in staging' in body
    assert f"same value as revision {first}" in body  # the third write repeats the first
    assert body.count("a new value") == 2
    assert "secret" in body and "current" in body
    # Newest first.
    assert body.index(f'<th scope="row">{third}') < body.index(f'<th scope="row">{first}<')


def test_a_viewer_sees_no_restore_button(as_role, deployment, staging, secret_history):
    body = as_role(Role.VIEWER).get(_url(deployment, "staging", "STRIPE_KEY")).content.decode()
    assert "Restore revision" not in body


def test_a_developer_may_restore_in_staging_but_not_in_production(
    as_role, deployment, production, staging, secret_history, actor
):
    services.set_variable(environment=production, key="A", value="1", is_secret=False, actor=actor)
    services.set_variable(environment=production, key="A", value="2", is_secret=False, actor=actor)
    client = as_role(Role.DEVELOPER)
    assert (
        "Restore revision" in client.get(_url(deployment, "staging", "STRIPE_KEY")).content.decode()
    )
    assert (
        "Restore revision" not in client.get(_url(deployment, "production", "A")).content.decode()
    )
    assert (
        client.post(
            _url(deployment, "production", "A", "variable_restore"), {"revision": 1}
        ).status_code
        == 403
    )


def test_the_current_value_is_not_restorable_until_the_key_is_deleted(
    as_role, deployment, staging, actor, secret_history
):
    first, second, third = secret_history
    client = as_role(Role.ADMIN)
    body = _body(client.get(_url(deployment, "staging", "STRIPE_KEY")))
    assert f'name="revision" value="{third}"' not in body
    assert f'name="revision" value="{second}"' in body
    assert '<span class="badge">current</span>' in body
    services.delete_variable(environment=staging, key="STRIPE_KEY", actor=actor)
    body = _body(client.get(_url(deployment, "staging", "STRIPE_KEY")))
    assert '<span class="badge danger">deleted</span>' in body
    assert '<span class="badge">current</span>' not in body
    # After the deletion every earlier value can be restored, the last one included.
    for revision in (first, second, third):
        assert f'name="revision" value="{revision}"' in body
    staging.refresh_from_db()
    assert f'name="revision" value="{staging.config_revision}"' not in body  # the deletion


def test_restoring_a_secret_with_htmx_copies_it_without_showing_it(
    as_role, deployment, staging, secret_history
):
    _first, second, _third = secret_history
    client = as_role(Role.DEVELOPER)
    page = client.get(_url(deployment, "staging", "STRIPE_KEY")).content.decode()
    # The Restore button asks in place (issue 21: no browser confirm()), then posts confirmed.
    assert "hx-confirm" not in page and 'hx-params="revision"' in page
    asked = client.get(_url(deployment, "staging", "STRIPE_KEY"), {"revision": second}, **HX)
    asked = _body(asked)
    assert f"Restore STRIPE_KEY in staging to its value at revision {second}?" in asked
    assert 'name="confirmed" value="yes"' in asked
    response = client.post(
        _url(deployment, "staging", "STRIPE_KEY", "variable_restore"), {"revision": second}, **HX
    )
    assert response.status_code == 200
    body = _body(response)
    assert body.lstrip().startswith('<section id="key-history"')
    assert f"STRIPE_KEY is back to its value at revision {second}" in body
    assert "Live in release" in body  # staging is immediate: the restore went live
    staging.refresh_from_db()
    assert selectors.runtime_config(staging).env["STRIPE_KEY"] == SECOND
    event = AuditEvent.objects.filter(action="variable.restore").get()
    assert event.target == "STRIPE_KEY" and event.detail["from_revision"] == second
    assert SECOND not in str(event.detail)
    assert staging.variables.get(key="STRIPE_KEY").is_secret


def test_restoring_without_javascript_asks_first(as_role, deployment, staging, secret_history):
    _first, second, third = secret_history
    client = as_role(Role.DEVELOPER)
    url = _url(deployment, "staging", "STRIPE_KEY", "variable_restore")
    asked = client.post(url, {"revision": second})
    assert asked.status_code == 200
    body = _body(asked)
    assert f"Restore STRIPE_KEY in staging to its value at revision {second}?" in body
    assert 'name="confirmed" value="yes"' in body
    staging.refresh_from_db()
    assert staging.config_revision == third  # nothing written yet
    done = client.post(url, {"revision": second, "confirmed": "yes"})
    assert done.status_code == 302 and done["Location"] == _url(deployment, "staging", "STRIPE_KEY")
    page = _body(client.get(done["Location"]))
    assert f"STRIPE_KEY is back to its value at revision {second}" in page
    staging.refresh_from_db()
    assert staging.config_revision == third + 1


def test_in_a_staged_environment_the_restore_is_pending(
    as_role, deployment, production, actor, versions
):
    for value in ("one", "two"):
        services.set_variable(
            environment=production, key="A", value=value, is_secret=False, actor=actor
        )
    production.refresh_from_db()
    revision = production.config_revision - 1
    response = as_role(Role.ADMIN).post(
        _url(deployment, "production", "A", "variable_restore"), {"revision": revision}, **HX
    )
    assert "production is staged: the restore is pending until the changes are applied" in (
        response.content.decode()
    )
    production.refresh_from_db()
    assert "A" not in selectors.runtime_config(production).env  # not applied yet
    assert selectors.pending_changes(production).added == ["A"]


@pytest.mark.parametrize("revision", ["", "0", "-1", "abc", str(2**31), "99999999999999999999999"])
def test_a_bad_revision_is_refused_and_writes_nothing(
    as_role, deployment, staging, secret_history, revision
):
    response = as_role(Role.ADMIN).post(
        _url(deployment, "staging", "STRIPE_KEY", "variable_restore"), {"revision": revision}, **HX
    )
    assert response.status_code == 400
    assert "Pick a revision to restore." in response.content.decode()
    staging.refresh_from_db()
    assert staging.config_revision == secret_history[-1]


def test_a_revision_without_a_value_is_refused(as_role, deployment, staging, secret_history, actor):
    services.set_variable(environment=staging, key="OTHER", value="x", is_secret=False, actor=actor)
    response = as_role(Role.ADMIN).post(
        _url(deployment, "staging", "OTHER", "variable_restore"),
        {"revision": 1, "confirmed": "yes"},
    )
    assert response.status_code == 400
    assert "OTHER had no value in staging at revision 1" in response.content.decode()


def test_a_key_without_history_is_404(as_role, deployment, staging):
    assert as_role(Role.VIEWER).get(_url(deployment, "staging", "NOPE")).status_code == 404


def test_a_binding_has_a_history_but_no_restore(as_role, deployment, production, actor):
    services.create_binding(
        environment=production,
        kind="postgres",
        name="db",
        url="postgres://a:pw-canary@h/d",
        actor=actor,
    )
    body = as_role(Role.OWNER).get(_url(deployment, "production", "DATABASE_URL")).content.decode()
    assert "binding" in body and "pw-canary" not in body
    assert "Restore revision" not in body


def test_the_environment_page_links_each_variable_and_binding_to_its_history(
    as_role, deployment, production, actor
):
    services.set_variable(environment=production, key="A", value="1", is_secret=False, actor=actor)
    services.create_binding(
        environment=production, kind="redis", name="cache", url="redis://h:6379/0", actor=actor
    )
    url = reverse("environment", kwargs={"deployment_id": deployment.pk, "name": "production"})
    body = as_role(Role.VIEWER).get(url).content.decode()
    assert f'href="{_url(deployment, "production", "A")}"' in body
    assert f'href="{_url(deployment, "production", "REDIS_URL")}"' in body


def test_the_page_is_not_stored(as_role, deployment, staging, secret_history):
    response = as_role(Role.VIEWER).get(_url(deployment, "staging", "STRIPE_KEY"))
    assert "no-store" in response["Cache-Control"]
    restore = as_role(Role.ADMIN).post(
        _url(deployment, "staging", "STRIPE_KEY", "variable_restore"), {"revision": 1}
    )
    assert "no-store" in restore["Cache-Control"]


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_query_count_is_the_same_for_1_and_200_revisions(as_role, deployment, staging, actor):
    services.set_variable(environment=staging, key="K", value="v0", is_secret=True, actor=actor)
    client = as_role(Role.OWNER)
    url = _url(deployment, "staging", "K")
    few = _count(client, url)
    for i in range(1, 200):
        services.set_variable(
            environment=staging, key="K", value=f"v{i % 7}", is_secret=True, actor=actor
        )
    assert len(selectors.key_history(staging, "K")) == 200
    assert _count(client, url) == few
    assert _count(client, url) <= 6


def test_a_staged_value_is_pending_and_the_live_one_is_marked(
    as_role, deployment, production, actor, versions
):
    services.set_variable(environment=production, key="A", value="1", is_secret=False, actor=actor)
    services.apply_changes(environment=production, actor=actor)
    services.set_variable(environment=production, key="A", value="2", is_secret=False, actor=actor)
    production.refresh_from_db()
    client = as_role(Role.VIEWER)
    body = client.get(_url(deployment, "production", "A")).content.decode()
    newest = body.split(f'<th scope="row">{production.config_revision}')[1].split("</th>")[0]
    older = body.split(f'<th scope="row">{production.config_revision - 1}')[1].split("</th>")[0]
    assert "current" in newest and "pending" in newest and ">live<" not in newest
    assert ">live<" in older and "pending" not in older
    services.apply_changes(environment=production, actor=actor)
    body = client.get(_url(deployment, "production", "A")).content.decode()
    newest = body.split(f'<th scope="row">{production.config_revision}')[1].split("</th>")[0]
    assert ">live<" in newest and "pending" not in newest
