"""Releases newest first (SPEC §9), with rollback buttons for every release but the live one:
its version and its configuration, or its version only."""

from django.urls import reverse

from environments.models import Release, Role

from .conftest import HX


def _url(deployment, view, name="production"):
    return reverse(view, kwargs={"deployment_id": deployment.pk, "name": name})


def test_history_is_newest_first_with_rollback_buttons(as_role, deployment, staging, versions):
    html = (
        as_role(Role.ADMIN).get(_url(deployment, "environment_history", "staging")).content.decode()
    )
    assert html.index("→ <strong>v2</strong>") < html.index("→ <strong>v1</strong>")
    # A rollback picks a release now (SPEC §9), not a version.
    assert "Roll back to release 1 · v1" in html and "Roll back to release 2" not in html
    assert "Version and its configuration" in html and "Version only" in html


def test_developer_sees_no_rollback_on_production(as_role, deployment, versions):
    html = as_role(Role.DEVELOPER).get(_url(deployment, "environment_history")).content.decode()
    assert "Roll back" not in html


def test_rollback_with_htmx(as_role, deployment, staging, versions):
    response = as_role(Role.DEVELOPER).post(
        _url(deployment, "rollback", "staging"), {"release": 1}, **HX
    )
    assert response.status_code == 200
    assert "staging rolled back to release 1 (v1)" in response.content.decode()
    staging.refresh_from_db()
    assert staging.active_version == versions[1]
    assert Release.objects.filter(environment=staging).first().kind == "rollback"


def test_the_rollback_question_is_asked_in_place_and_changes_nothing(
    as_role, deployment, staging, versions
):
    """The row's Roll back button (htmx) gets the history section back with the question in
    the row's place; the confirmation posts `confirmed=yes`."""
    url = _url(deployment, "environment_history", "staging")
    client = as_role(Role.DEVELOPER)
    html = client.get(url, {"release": 1, "config": "keep"}, **HX).content.decode()
    assert "Roll staging back to release 1 (v1)?" in html
    assert "with the current configuration" in html
    assert 'name="config" value="keep"' in html and 'name="confirmed" value="yes"' in html
    assert html.count("data-escape") == 1
    staging.refresh_from_db()
    assert staging.active_version == versions[2]  # nothing happened
    # A viewer may not roll back: no question; a release that is not there: plain history.
    assert "Roll staging back" not in as_role(Role.VIEWER).get(url, {"release": 1}).content.decode()
    assert "Roll staging back" not in client.get(url, {"release": "x"}).content.decode()


def test_rollback_without_javascript_asks_first_then_redirects(
    as_role, deployment, staging, versions
):
    client = as_role(Role.DEVELOPER)
    url = _url(deployment, "rollback", "staging")
    asked = client.post(url, {"release": 1})
    assert asked.status_code == 200
    assert "Roll staging back to release 1 (v1)?" in asked.content.decode()
    assert 'name="confirmed" value="yes"' in asked.content.decode()
    staging.refresh_from_db()
    assert staging.active_version == versions[2]  # nothing happened yet
    response = client.post(url, {"release": 1, "confirmed": "yes"})
    assert response.status_code == 302
    staging.refresh_from_db()
    assert staging.active_version == versions[1]


def test_rollback_to_the_live_release_is_refused(as_role, deployment, versions):
    # Production ran only v1 (release 1, live): there is nothing earlier to go back to.
    response = as_role(Role.ADMIN).post(_url(deployment, "rollback"), {"release": 1}, **HX)
    assert response.status_code == 409
    assert "already runs release 1" in response.content.decode()


def test_rollback_to_an_unknown_release_is_404_and_a_bad_one_400(as_role, deployment, versions):
    client = as_role(Role.ADMIN)
    assert client.post(_url(deployment, "rollback"), {"release": 99}, **HX).status_code == 404
    assert client.post(_url(deployment, "rollback"), {"release": "x"}, **HX).status_code == 400


def test_rollback_with_configuration_restores_old_values(
    as_role, deployment, staging, versions, actor
):
    from environments import selectors, services

    services.set_variable(
        environment=staging, key="API_URL", value="new", is_secret=None, actor=actor
    )
    client = as_role(Role.DEVELOPER)
    client.post(_url(deployment, "rollback", "staging"), {"release": 1, "config": "restore"}, **HX)
    staging.refresh_from_db()
    env = selectors.runtime_config(staging).env
    assert env["MIOSA_VERSION"] == "1" and "API_URL" not in env
    client.post(_url(deployment, "rollback", "staging"), {"release": 3, "config": "keep"}, **HX)
    staging.refresh_from_db()
    env = selectors.runtime_config(staging).env
    assert env["MIOSA_VERSION"] == "2" and env["API_URL"] == "new"


def test_empty_history(as_role, deployment):
    html = as_role(Role.VIEWER).get(_url(deployment, "environment_history")).content.decode()
    assert "Nothing has been deployed to production" in html
